"""Every rule a target is judged by can be failed by some target (issue 11).

A rule no target can fail is a rule that always passes, which certifies nothing. For every documented and
inferred target rule this names a target that fails it: a mutant of the gallery (tests/mutants, each
killed for its declared rules by tests/test_mutants.py) or a foreign target (tests/foreign, whose exact
Fail and Warn sets tests/test_foreign_targets.py checks). An inferred rule broken is a Warn, and a Fail
under --strict. Rules that no answer can break are declared `unobservable` in schemas/rules.yaml, with
the reason the report gives.
"""

from __future__ import annotations

from tests.mutants.gallery import GALLERY
from tests.test_foreign_targets import EXPECTED
from timconform import spec as spec_module
from timconform.oracle.recorder import target_rules

# The one rule judged on a target standing at an https:// address (test_an_https_target_must_not_answer_...).
HTTPS_FIXTURE = {"FI-HTTPS-ONLY": "serves_plain_http_too"}


def failing_targets() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for mutant in GALLERY:
        for rule in mutant.rules:
            found.setdefault(rule, []).append(f"mutant {mutant.name}")
    for name, expected in EXPECTED.items():
        for rule in expected["fail"] | expected["warn"]:
            found.setdefault(rule, []).append(f"foreign target {name}")
    for rule, fixture in HTTPS_FIXTURE.items():
        found.setdefault(rule, []).append(f"foreign target {fixture}")
    return found


def test_every_documented_and_inferred_target_rule_has_a_target_that_fails_it():
    spec = spec_module.load()
    judged = [r for r in target_rules(spec) if spec.rules[r].strength in ("documented", "inferred")
              and not spec.rules[r].unobservable]
    found = failing_targets()
    assert [r for r in judged if r not in found] == []


def test_unobservable_rules_say_why_and_no_target_claims_to_fail_them():
    spec = spec_module.load()
    unobservable = {r for r, rule in spec.rules.items() if rule.unobservable}
    assert unobservable, "the catalogue declares its unobservable rules"
    assert all(len(spec.rules[r].unobservable.split()) >= 10 for r in unobservable)
    assert unobservable.isdisjoint(failing_targets())


def test_every_claimed_rule_is_a_target_rule_of_the_catalogue():
    spec = spec_module.load()
    assert set(failing_targets()) <= set(target_rules(spec))
