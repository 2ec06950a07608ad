"""The rule, error and limit catalogues: complete, sourced, and consistent with each other."""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from timconform import spec as spec_module
from tests import seed

FRIEND_IMPORT_CODES = {30001, 30002, 30003, 30004, 30006, 30007, 30008, 30010, 30011}


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def sources(shared_dir):
    return {"seed": collapse((shared_dir / seed.SEED_NAME).read_text(encoding="utf-8")),
            "api-facts": collapse((shared_dir / "reference" / "api-facts.md").read_text(encoding="utf-8")),
            "real-evidence": collapse((shared_dir / "reference" / "real-evidence.md").read_text(encoding="utf-8"))}


def test_every_rule_has_a_source_and_a_strength(spec):
    assert len(spec.rules) >= 60
    for rule in spec.rules.values():
        assert rule.strength in spec_module.STRENGTHS, rule.id
        assert rule.source["ref"] and rule.source["url"].startswith("https://"), rule.id
        assert rule.source["quote"].strip(), rule.id


def test_every_open_rule_lists_at_least_two_outcomes_and_a_default(spec):
    open_rules = [r for r in spec.rules.values() if r.strength == "open"]
    assert len(open_rules) >= 10
    for rule in open_rules:
        ids = [o.id for o in rule.outcomes]
        assert len(ids) >= 2 and len(set(ids)) == len(ids), rule.id
        assert rule.default in ids, rule.id


def test_every_code_a_rule_names_is_in_the_error_catalogue(spec):
    named = {c for r in spec.rules.values() for c in (*r.codes, *(c for o in r.outcomes for c in o.codes))}
    assert named and named <= set(spec.codes)


def test_every_quoted_rule_source_appears_word_for_word(spec, sources):
    missing = []
    for rule in spec.rules.values():
        text = sources["api-facts"] if rule.source["ref"].startswith("api-facts") else sources[rule.source["ref"]]
        if collapse(rule.source["quote"]) not in text:
            missing.append(rule.id)
    assert missing == []


def test_every_quoted_error_code_source_appears_word_for_word(spec, sources):
    missing = [c.code for c in spec.codes.values()
               if c.source.get("quote") and collapse(c.source["quote"]) not in "\n".join(sources.values())]
    assert missing == []


def test_an_error_info_taken_from_evidence_is_in_its_quote_and_the_quote_in_the_evidence(spec, sources):
    """Each ErrorInfo text the live service (or official material, or a developer's test) showed cites where:
    the quote is real-evidence.md's word for word, and it holds the very text the emulator sends."""
    cited = [c for c in spec.codes.values() if c.error_info_source]
    assert {c.code for c in cited} >= {60002, 60008, 60015, 70003, 31704}
    for entry in cited:
        quote = collapse(entry.error_info_source["quote"])
        assert quote in sources[entry.error_info_source["ref"]], entry.code
        assert collapse(entry.error_info) in quote, entry.code
        assert entry.error_info_documented, entry.code


def test_the_error_catalogue_holds_every_code_of_the_seed_table(spec, shared_dir):
    text = (shared_dir / seed.SEED_NAME).read_text(encoding="utf-8")
    table = text[text.index("The following table describes the error codes specific to this API"):]
    seed_codes = {int(line) for line in table.splitlines() if re.fullmatch(r"\d{5}", line.strip())}
    assert seed_codes == FRIEND_IMPORT_CODES
    for code in seed_codes:
        assert spec.codes[code].applies_to("friend_import"), code


def test_the_error_catalogue_covers_the_ranges_the_issue_names(spec):
    wanted = set(range(60002, 60022)) | set(range(30001, 30015)) | {31704, 31707, 71000, 70001, 70107, 70398}
    assert wanted <= set(spec.codes)
    assert all(c.level in ("request", "item", "both") for c in spec.codes.values())
    assert all(c.retry in ("no", "yes", "backoff", "renew-usersig") for c in spec.codes.values())


def test_transient_codes_are_retryable_and_parameter_errors_are_not(spec):
    assert spec.codes[30006].retry != "no" and spec.codes[30007].retry != "no" and spec.codes[30008].retry != "no"
    assert spec.codes[30001].retry == "no" and spec.codes[60003].retry == "no"
    assert spec.codes[70001].retry == "renew-usersig"


def test_every_limit_names_an_existing_rule_and_rules_name_existing_limits(spec):
    assert all(limit.rule in spec.rules for limit in spec.limits.values())
    assert all(rule.limit in spec.limits for rule in spec.rules.values() if rule.limit)


def test_the_issue_s_required_rules_exist(spec):
    required = {"FI-HTTP-200", "FI-ENVELOPE-CONSISTENT", "FI-RESULTITEM-PER-ACCOUNT", "FI-RESULTITEM-ORDER",
                "FI-FAIL-ACCOUNT-PRESENCE", "FI-FAIL-ACCOUNT-CONTENT", "FI-LIMIT-BATCH-1000", "FI-LIMIT-REMARK-BYTES",
                "FI-LIMIT-GROUPNAME-BYTES", "FI-LIMIT-ADDWORDING-BYTES", "FI-LIMIT-ADDSOURCE-FORM",
                "FI-LIMIT-CUSTOM-VALUE-BYTES", "FI-LIMIT-USERID-BYTES", "FI-ACCOUNT-FROM-EXISTS", "FI-ACCOUNT-TO-EXISTS",
                "FI-AUTH-USERSIG-EXPIRED", "FI-AUTH-USERSIG-WRONG-KEY", "FI-AUTH-ADMIN-REQUIRED", "FI-RATE-LIMIT-200",
                "SUPPORT-RATE-LIMIT-100", "FI-FRIEND-LIMIT-3000", "FI-FRIEND-LIST-LIMIT-32", "FI-ONE-WAY",
                "FI-ROUND-TRIP", "OPEN-EXISTING-FRIEND", "OPEN-SELF-IMPORT", "OPEN-DUPLICATE-TO-ACCOUNT"}
    assert required <= set(spec.rules)
    assert spec.rules["FI-RESULTITEM-ORDER"].strength == "inferred"
    assert spec.rules["FI-FRIEND-LIMIT-3000"].codes == (30010,)
    assert spec.rules["FI-FRIEND-LIST-LIMIT-32"].codes == (30011,)


@pytest.fixture
def spec_copy(tmp_path) -> Path:
    root = spec_module.data_root()
    shutil.copy(root / "openapi.yaml", tmp_path / "openapi.yaml")
    shutil.copytree(root / "schemas", tmp_path / "schemas")
    return tmp_path


def _edit_rules(root: Path, edit) -> None:
    path = root / "schemas" / "rules.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit({r["id"]: r for r in doc["rules"]})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("edit, message", [
    (lambda rules: rules["FI-LIMIT-REMARK-BYTES"].update(codes=[39999]), "names code 39999"),
    (lambda rules: rules["OPEN-SELF-IMPORT"].update(default="nonsense"), "default"),
    (lambda rules: rules["FI-HTTP-200"].update(strength="probably"), "rules.schema.json"),
    (lambda rules: rules["FI-HTTP-200"]["source"].pop("quote"), "rules.schema.json"),
])
def test_a_broken_catalogue_fails_to_load_with_a_clear_message(spec_copy, edit, message):
    _edit_rules(spec_copy, edit)
    with pytest.raises(spec_module.SpecError, match=message):
        spec_module.load(spec_copy)


def test_the_spec_hash_changes_with_any_spec_file(spec_copy):
    before = spec_module.load(spec_copy).sha256
    (spec_copy / "schemas" / "limits.json").write_text(
        (spec_copy / "schemas" / "limits.json").read_text().replace('"value": 96', '"value": 95'))
    spec_module.load.cache_clear()
    assert spec_module.load(spec_copy).sha256 != before
