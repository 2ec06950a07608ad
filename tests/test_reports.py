"""Reports from one results tree: results.json (+ schema), junit.xml, report.html, console, baseline, report dir.

The run below leaks the secret key and a real UserSig everywhere evidence can carry them (URL query,
headers, bodies, error text, config); no report may contain either.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from timconform import spec as spec_module
from timconform import usersig
from timconform.report import baseline, console
from timconform.report.html import to_html
from timconform.report.json_report import to_json
from timconform.report.junit import to_junit_xml
from timconform.report.model import EXIT_ERROR, EXIT_FAIL, EXIT_OK, Evidence, Exchange, RuleResult, RunResult, Verdict
from timconform.report.redact import Redactor
from timconform.report.write import write_reports

SECRET = "CANARY-KEY-123"
SDKAPPID = 1400000000
USERSIG = usersig.generate(SDKAPPID, "administrator", SECRET, now=1764000000)
HOST = "https://adminapisgp.im.qcloud.com"
URL = (f"{HOST}/v4/sns/friend_import?sdkappid={SDKAPPID}&identifier=administrator&usersig={USERSIG}"
       f"&random=42&contenttype=json")
EVIL = "</pre><script>alert(1)</script> & \x00\x07\x1b[31m \ud800"

VERDICTS = {
    "FI-HTTP-200": Verdict.FAIL,
    "FI-RESULTITEM-PER-ACCOUNT": Verdict.FAIL,
    "FI-RATE-LIMIT-200": Verdict.ERROR,
    "FI-WRITE-CONFLICT": Verdict.ERROR,
    "FI-RESULTITEM-ORDER": Verdict.WARN,
    "FI-ERRORINFO-ON-FAIL": Verdict.WARN,
    "FI-HTTPS-ONLY": Verdict.SKIP,
    "FI-NO-WEBHOOK": Verdict.SKIP,
    "FI-FRIEND-LIMIT-3000": Verdict.DISABLED,
    "FI-LIMIT-BATCH-1000": Verdict.DISABLED,
    "FI-ENVELOPE-SHAPE": Verdict.PASS,
    "FI-ENVELOPE-CONSISTENT": Verdict.PASS,
    "OPEN-EXISTING-FRIEND": Verdict.PASS,
}
REASONS = {Verdict.ERROR: "connection refused", Verdict.SKIP: "the target is the emulator on loopback",
           Verdict.DISABLED: "disabled by --skip-rules"}


@pytest.fixture(scope="module")
def spec():
    return spec_module.load()


def leaky_exchange(**changes) -> Exchange:
    body = json.dumps({"From_Account": "tc-run1-a", "AddFriendItem": [
        {"To_Account": "tc-run1-b", "AddSource": "AddSource_Type_Test", "Remark": f"{SECRET} {USERSIG}"}]})
    fields = dict(
        operation="friend_import", method="POST", url=URL,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {USERSIG}",
                 "X-Debug": f"key={SECRET}"},
        body=body, status=200, response_headers={"Server": "tim", "X-Echo": USERSIG},
        response_body=json.dumps({"ActionStatus": "FAIL", "ErrorCode": 70001,
                                  "ErrorInfo": f"usersig {USERSIG} expired (key {SECRET})"}),
        elapsed_ms=12.5,
    )
    fields.update(changes)
    return Exchange(**fields)


def make_run(spec, verdicts: dict[str, Verdict] = VERDICTS) -> RunResult:
    rules = []
    for rule_id, verdict in verdicts.items():
        rule = spec.rules[rule_id]
        result = RuleResult(rule_id=rule.id, title=rule.title, strength=rule.strength, category=rule.category,
                            source=dict(rule.source), verdict=verdict, reason=REASONS.get(verdict, ""), checks=3)
        if verdict == Verdict.FAIL:
            result.evidence = [
                Evidence("status_is_200", f"Expected HTTP 200\nReceived HTTP 500 for usersig={USERSIG} {EVIL}",
                         leaky_exchange(status=500)),
                Evidence("status_is_200", "Expected HTTP 200, received 502 again", leaky_exchange(status=502))]
        elif verdict == Verdict.ERROR:
            result.evidence = [Evidence("transport", f"harness could not reach the target ({SECRET})",
                                        leaky_exchange(status=None, response_body="", response_headers={},
                                                       error=f"ConnectError for url '{quote(URL, safe=':/?&=')}'"))]
        elif verdict == Verdict.WARN:
            result.evidence = [Evidence("order", "Expected ResultItem in request order\nReceived [b, a]",
                                        leaky_exchange())]
        if rule.outcomes:
            result.outcomes = {"overwrite": 3}
        rules.append(result)
    meta = {"suite_version": "0.1.0", "spec_sha256": spec.sha256, "target": HOST, "profile": "standard",
            "strict": False, "seed": 1234, "started_at": "2025-11-24T16:00:00Z", "duration_s": 12.5,
            "config": {"sdkappid": SDKAPPID, "identifier": "administrator", "secret_key": SECRET,
                       "rate_limit": 50, "debug_url": URL, "tags": ["Tag_SNS_Custom_A"]}}
    return RunResult(meta=meta, rules=rules, coverage={"elicited": {30001: 4, 0: 10}, "unknown": {99999: 1}},
                     behaviour_profile={"OPEN-EXISTING-FRIEND": "overwrite"})


def assert_no_secret(text: str) -> None:
    assert SECRET not in text
    assert USERSIG not in text
    for start in range(0, len(USERSIG) - 24, 8):  # not even a fragment of the UserSig
        assert USERSIG[start:start + 24] not in text, f"UserSig fragment at {start}"


@pytest.fixture(params=["key-only", "key-and-usersig"])
def redactor(request):
    """The run's redactor: knowing only the secret key (UserSigs caught by shape and structure) or both."""
    return Redactor(SECRET) if request.param == "key-only" else Redactor(SECRET, USERSIG)


# ---------------------------------------------------------------- results.json

def test_results_json_validates_against_its_schema(spec, redactor):
    document = json.loads(to_json(make_run(spec), redactor))
    errors = [e.message for e in spec.validator("results.schema.json").iter_errors(document)]
    assert errors == []
    assert document["summary"] == {"headline": "FAIL", "verdict": "Fail", "exit_code": 1, "baselined": 0,
                                   "rules": len(VERDICTS),
                                   "counts": {"Fail": 2, "Error": 2, "Warn": 2, "Skip": 2, "Disabled": 2, "Pass": 3}}


def test_results_json_contains_no_secret(spec, redactor):
    text = to_json(make_run(spec), redactor)
    assert_no_secret(text)
    assert json.loads(text)["meta"]["config"]["secret_key"] == "<redacted>"


def test_results_json_carries_metadata_evidence_and_curl(spec, redactor):
    document = json.loads(to_json(make_run(spec), redactor))
    assert document["meta"]["spec_sha256"] == spec.sha256 and document["meta"]["seed"] == 1234
    rule = next(r for r in document["rules"] if r["id"] == "FI-HTTP-200")
    assert rule["verdict"] == "Fail" and rule["source"]["url"].startswith("https://")
    evidence = rule["evidence"][0]
    assert evidence["response"]["status"] == 500
    assert "usersig=%3Credacted%3E" in evidence["request"]["url"] or "usersig=<redacted>" in evidence["request"]["url"]
    assert evidence["curl"].startswith("curl -sS -X POST '") and "--data-binary" in evidence["curl"]
    assert "\x00" in evidence["message"]  # control characters survive as JSON escapes, not stripped
    assert document["coverage"]["elicited"] == {"0": 10, "30001": 4}
    assert document["behaviour_profile"] == {"OPEN-EXISTING-FRIEND": "overwrite"}
    assert next(r for r in document["rules"] if r["id"] == "OPEN-EXISTING-FRIEND")["outcomes"] == {"overwrite": 3}


def test_results_json_is_deterministic_whatever_the_insertion_order(spec, redactor):
    first, second = make_run(spec), make_run(spec)
    second.meta = dict(reversed(list(second.meta.items())))
    second.meta["config"] = dict(reversed(list(second.meta["config"].items())))
    second.coverage = {"unknown": {99999: 1}, "elicited": {0: 10, 30001: 4}}
    assert to_json(first, redactor) == to_json(second, redactor)
    assert to_json(first, redactor).startswith('{\n  "format": "timconform.results",\n')


@pytest.mark.parametrize("breakage", [
    lambda d: d["rules"][0].update(verdict="Maybe"),
    lambda d: d["summary"].update(exit_code=2),
    lambda d: d.pop("meta"),
    lambda d: d["rules"][0].update(id="not-a-rule"),
    lambda d: next(r for r in d["rules"] if r["verdict"] == "Skip").update(reason=""),
    lambda d: d["rules"][0]["evidence"][0]["request"].pop("url"),
    lambda d: d["coverage"]["elicited"].update(abc=1),
])
def test_the_schema_rejects_broken_documents(spec, breakage):
    document = json.loads(to_json(make_run(spec), Redactor(SECRET)))
    breakage(document)
    assert list(spec.validator("results.schema.json").iter_errors(document)) != []


# ---------------------------------------------------------------- junit.xml

def test_junit_has_one_testcase_per_rule_with_the_right_element(spec, redactor):
    text = to_junit_xml(make_run(spec), redactor)
    root = ET.fromstring(text.encode("utf-8"))  # well-formed despite NUL, BEL, ESC and a lone surrogate
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name") == "timconform"
    cases = {case.get("name").split(" ")[0]: case for case in suites[0].findall("testcase")}
    assert len(suites[0].findall("testcase")) == len(VERDICTS) and set(cases) == set(VERDICTS)
    expected = {Verdict.FAIL: "failure", Verdict.ERROR: "error", Verdict.SKIP: "skipped", Verdict.DISABLED: "skipped"}
    for rule_id, verdict in VERDICTS.items():
        case = cases[rule_id]
        children = {child.tag for child in case} - {"system-out"}
        assert children == ({expected[verdict]} if verdict in expected else set()), rule_id
        assert case.get("classname") == spec.rules[rule_id].category
        assert case.get("name") == f"{rule_id} {spec.rules[rule_id].title}"
    assert "WARNING" in cases["FI-RESULTITEM-ORDER"].find("system-out").text
    failure = cases["FI-HTTP-200"].find("failure")
    assert "Expected HTTP 200" in failure.get("message") and "curl -sS -X POST" in failure.text
    assert cases["FI-HTTPS-ONLY"].find("skipped").get("message") == "Skip: the target is the emulator on loopback"
    assert suites[0].get("failures") == "2" and suites[0].get("errors") == "2" and suites[0].get("skipped") == "4"
    assert_no_secret(text)


# ---------------------------------------------------------------- report.html

class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.links = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [value for name, value in attrs if name in ("href", "src")]


def test_html_names_every_rule_escapes_everything_and_has_no_secret(spec, redactor):
    text = to_html(make_run(spec), redactor)
    for rule_id in VERDICTS:
        assert rule_id in text
    assert_no_secret(text)
    parser = _Collector()
    parser.feed(text)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert "&lt;/pre&gt;&lt;script&gt;" in text  # the evidence's markup is shown, not obeyed
    assert all(link.startswith(("#", "https://")) for link in parser.links)
    assert 'href="https://www.tencentcloud.com/document/product/1047/34903"' in text  # FI-HTTP-200's source
    assert "curl -sS -X POST" in text and "99999" in text and "SNS_INVALID_PARAMETER" in text


def test_html_table_lists_the_worst_rules_first(spec, redactor):
    text = to_html(make_run(spec), redactor)
    table = text[text.index("<h2>Rules</h2>"):text.index("</tbody>")]
    order = [VERDICTS[m] for m in re.findall(r"<tr><td><code>(?:<a href=\"#[^\"]+\">)?([A-Z0-9-]+)", table)]
    assert len(order) == len(VERDICTS) and order == sorted(order, reverse=True)


def test_html_redacts_secrets_revealed_by_pretty_printing_json(spec):
    run = make_run(spec, {"FI-HTTP-200": Verdict.FAIL})
    escaped = SECRET.replace("-", "\\u002d")  # JSON-escaped: not the secret until decoded
    run.rules[0].evidence = [Evidence("x", "Expected y", leaky_exchange(body='{"Remark": "%s"}' % escaped))]
    text = to_html(run, Redactor(SECRET))
    assert SECRET not in text and "Remark" in text


# ---------------------------------------------------------------- console

@pytest.mark.parametrize("width", [60, 100])
def test_console_summary_fits_and_names_the_worst_first(spec, redactor, width):
    text = console.summary(make_run(spec), width=width, report_dir="out/report", redactor=redactor)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines)
    assert lines[0].startswith("FAIL: 2 Fail, 2 Error, 2 Warn, 2 Skip, 2 Disabled, 3 Pass")
    listed = [line.split()[:2] for line in lines[1:11]]
    assert [v for v, _ in listed] == ["Fail"] * 2 + ["Error"] * 2 + ["Warn"] * 2 + ["Skip"] * 2 + ["Disabled"] * 2
    assert {rule_id for _, rule_id in listed} == {r for r, v in VERDICTS.items() if v != Verdict.PASS}
    assert "out/report" in lines[-2] and lines[-1].startswith("exit 1")
    assert_no_secret(text)


def test_console_summary_of_a_clean_run_says_exit_0(spec):
    text = console.summary(make_run(spec, {"FI-ENVELOPE-SHAPE": Verdict.PASS, "FI-RESULTITEM-ORDER": Verdict.WARN}))
    assert text.splitlines()[0].startswith("PASS: 0 Fail, 0 Error, 1 Warn")  # exit 0: the headline says PASS
    assert text.splitlines()[-1].startswith("exit 0")


def test_progress_prints_one_compact_line_per_scenario():
    stream = io.StringIO()
    progress = console.Progress(17, stream=stream)
    progress.done = 2
    progress.step("auth-cases", "ok", 0.42)
    ticks = iter([10.0, 11.5])
    timed = console.Progress(2, stream=stream, clock=lambda: next(ticks))
    with pytest.raises(RuntimeError), timed.scenario("limits"):
        raise RuntimeError("boom")
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\[ 3/17\] auth-cases \.{2,} ok \(0\.4 s\)", lines[0])
    assert re.fullmatch(r"\[1/2\] limits \.{2,} error \(1\.5 s\)", lines[1])
    quiet = io.StringIO()
    console.Progress(1, stream=quiet, quiet=True).step("x")
    assert quiet.getvalue() == ""


# ---------------------------------------------------------------- exit codes and baseline

@pytest.mark.parametrize(("verdicts", "code"), [
    ({"FI-RESULTITEM-ORDER": Verdict.WARN, "FI-ENVELOPE-SHAPE": Verdict.PASS}, EXIT_OK),
    ({"FI-RATE-LIMIT-200": Verdict.ERROR, "FI-RESULTITEM-ORDER": Verdict.WARN}, EXIT_ERROR),
    ({"FI-RATE-LIMIT-200": Verdict.ERROR, "FI-HTTP-200": Verdict.FAIL}, EXIT_FAIL),
    ({"FI-HTTPS-ONLY": Verdict.SKIP, "FI-FRIEND-LIMIT-3000": Verdict.DISABLED}, EXIT_OK),
])
def test_exit_codes(spec, verdicts, code):
    run = make_run(spec, verdicts)
    assert run.exit_code() == code
    assert json.loads(to_json(run, Redactor(SECRET)))["summary"]["exit_code"] == code
    assert console.summary(run).splitlines()[-1].startswith(f"exit {code}")


@pytest.mark.parametrize("name", ["baseline.yaml", "baseline.json"])
def test_baseline_round_trip(spec, tmp_path, name):
    path = baseline.write(tmp_path / name, make_run(spec), redactor=Redactor(SECRET))
    assert_no_secret(path.read_text(encoding="utf-8"))
    known = baseline.load(path)
    assert set(known) == {r for r, v in VERDICTS.items() if v in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR)}
    assert known["FI-HTTP-200"].startswith("Expected HTTP 200")

    again = make_run(spec)
    assert baseline.apply(again, known) == []
    assert again.exit_code() == EXIT_OK and again.counts()["Fail"] == 2  # verdicts stay in the reports
    document = json.loads(to_json(again, Redactor(SECRET)))
    assert document["summary"]["baselined"] == 6
    assert not list(spec.validator("results.schema.json").iter_errors(document))
    assert 'skipped message="known divergence (Fail, baselined)' in to_junit_xml(again, Redactor(SECRET))

    new_failure = make_run(spec, VERDICTS | {"FI-ENVELOPE-SHAPE": Verdict.FAIL})
    baseline.apply(new_failure, known)
    assert new_failure.exit_code() == EXIT_FAIL


def test_baseline_only_excuses_divergences_and_reports_stale_entries(spec):
    run = make_run(spec)
    stale = baseline.apply(run, {"FI-ENVELOPE-SHAPE": "was broken once", "FI-HTTPS-ONLY": "n/a",
                                 "FI-RATE-LIMIT-200": "staging rate limit is off"})
    assert stale == ["FI-ENVELOPE-SHAPE", "FI-HTTPS-ONLY"]
    excused = {r.rule_id: r.baselined for r in run.rules if r.baselined}
    assert excused == {"FI-RATE-LIMIT-200": "staging rate limit is off"}
    assert run.exit_code() == EXIT_FAIL


@pytest.mark.parametrize(("content", "fragment"), [
    ("[1, 2]", "expected a mapping"),
    ("known_divergences: {rule: FI-HTTP-200}", "must be a list"),
    ("known_divergences:\n  - rule: FI-HTTP-200\n", "non-empty 'reason'"),
    ("known_divergences:\n  - {rule: http-200, reason: x}\n", "rule='http-200'"),
    ("known_divergences:\n  - {rule: FI-HTTP-200, reason: x}\n  - {rule: FI-HTTP-200, reason: y}\n", "listed twice"),
    ("known_divergences:\n  - {rule: FI-HTTP-200, reasn: x}\n", "unknown key(s) reasn"),
    ("known_divergences: [\n", "not valid YAML"),
])
def test_baseline_load_rejects_bad_files_clearly(tmp_path, content, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(fragment)) as info:
        baseline.load(path)
    assert str(path) in str(info.value)


def test_baseline_load_of_a_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        baseline.load(tmp_path / "missing.yaml")


# ---------------------------------------------------------------- the report directory

def test_write_reports_writes_four_files_without_secrets(spec, tmp_path, redactor):
    from timconform.emulator import behaviour

    paths = write_reports(make_run(spec), tmp_path / "report", redactor)
    assert [p.name for p in paths] == ["results.json", "junit.xml", "report.html", "behaviour-profile.yaml"]
    for path in paths:
        assert_no_secret(path.read_bytes().decode("utf-8"))
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(p.name for p in paths)
    assert json.loads(paths[0].read_text(encoding="utf-8"))["summary"]["verdict"] == "Fail"
    ET.parse(paths[1])
    assert behaviour.read_profile(paths[3]) == {"OPEN-EXISTING-FRIEND": "overwrite"}
    assert behaviour.load(spec, paths[3]).outcomes["OPEN-EXISTING-FRIEND"] == "overwrite"


def test_write_reports_redacts_at_write_time_with_secrets_learnt_late(spec, tmp_path):
    """A secret the redactor learns after the evidence was recorded still never reaches a file."""
    redactor = Redactor()
    late = "LATE-SECRET-456"
    run = make_run(spec, {"FI-HTTP-200": Verdict.FAIL})
    run.rules[0].evidence[0].message += f" {late}"
    redactor.add(late)
    for path in write_reports(run, tmp_path, redactor):
        assert late not in path.read_text(encoding="utf-8")


def test_secret_named_config_keys_and_headers_are_redacted_even_when_the_redactor_does_not_know_them(spec):
    run = make_run(spec, {"FI-HTTP-200": Verdict.FAIL})
    run.meta["config"] |= {"proxy_password": "hunter2-unknown", "api_key": "k-unknown", "keep_alive": True}
    run.rules[0].evidence[0].exchange.headers["Authorization"] = "Basic dXNlcjpzM2NyZXQ="
    document = json.loads(to_json(run, Redactor()))
    assert document["meta"]["config"]["proxy_password"] == document["meta"]["config"]["api_key"] == "<redacted>"
    assert document["meta"]["config"]["keep_alive"] is True
    assert document["rules"][0]["evidence"][0]["request"]["headers"]["Authorization"] == "<redacted>"
    assert "hunter2-unknown" not in to_html(run, Redactor()) and "dXNlcjpzM2NyZXQ=" not in to_junit_xml(run, Redactor())
