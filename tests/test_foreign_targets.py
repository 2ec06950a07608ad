"""The suite judges targets nobody here wrote, and blames only what each one got wrong (issue 11).

Each foreign target (tests/foreign/targets.py) is certified with the quick profile and a fixed seed, and
its exact outcome is written down here: which rules Fail, which Warn, that nothing is an Error, the exit
code, and that every report file is written. Each expected Fail was read against the target's code; a
change in these sets is a change in what the suite blames, to be read the same way before it is accepted.
The rate-limit rules are Disabled in these runs: whether an in-process burst outruns 200 calls/s depends
on the machine (tests/test_suite_run.py and the mutant gallery judge them with the emulator's clock).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.foreign import targets
from tests.suite_support import CREDENTIALS, TAGS, free_port
from tests.test_suite_cli import timconform
from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.serve import start_in_thread
from timconform.report.model import Verdict
from timconform.suite.runner import RunConfig, run, write_outputs

SEED = 20261125
RATE = ("FI-RATE-LIMIT-200", "SUPPORT-RATE-LIMIT-100", "OPEN-RATE-LIMIT-CODE")
AUTH = {"FI-AUTH-ADMIN-REQUIRED", "FI-AUTH-SDKAPPID-UNKNOWN", "FI-AUTH-USERSIG-EMPTY", "FI-AUTH-USERSIG-EXPIRED",
        "FI-AUTH-USERSIG-IDENTIFIER-MISMATCH", "FI-AUTH-USERSIG-MALFORMED", "FI-AUTH-USERSIG-SDKAPPID-MISMATCH",
        "FI-AUTH-USERSIG-WRONG-KEY"}  # a mock that checks no signature accepts every broken one
# Requests that any target must refuse and a mock that refuses nothing accepts.
REFUSES_NOTHING = {"FI-EMPTY-BODY", "FI-FIELD-TYPES", "FI-JSON-PARSE-60003", "FI-LIMIT-BATCH-1000",
                   "FI-LIMIT-USERID-BYTES", "FI-METHOD-POST", "FI-QUERY-CASE-SENSITIVE", "FI-REQUIRED-FIELDS",
                   "FI-SDKAPPID-MISSING-60012", "SUPPORT-ACCOUNT-DELETE-MISSING", "SUPPORT-BATCH-LIMITS"}
INFERRED_REFUSALS = {"FI-CONTENTTYPE-PARAM", "FI-DEEP-NESTING", "FI-NON-UTF8-BODY", "FI-QUERY-MISSING"}

EXPECTED = {
    # Prism-like: each operation answers its example (friend_import: the seed's "basic" sample for "id1").
    "schema-examples": dict(
        factory=targets.SchemaExamples,
        fail=AUTH | REFUSES_NOTHING | {
            "FI-HTTP-200",  # an unknown command gets HTTP 404
            "FI-RESULTITEM-PER-ACCOUNT",  # ResultItem names "id1", never the requested To_Account
            "SUPPORT-FRIEND-CHECK-RELATION",  # friend_check answers for "string", not for the accounts asked
        },
        warn=INFERRED_REFUSALS,
        exit=1),
    # The naive hand-written mock: OK to everything, in each operation's shape, and nothing stored.
    "says-ok": dict(
        factory=targets.SaysOk,
        fail=AUTH | REFUSES_NOTHING | {
            "FI-ACCOUNT-FROM-EXISTS", "FI-ACCOUNT-TO-EXISTS", "FI-ACCOUNT-TYPE-60015",
            "FI-ACCOUNT-NAME-EXACT",  # " name", "name\n" and "name\u0000" are accepted, though no account has them
            "FI-ENVELOPE-SHAPE",  # echoes a number sent as To_Account into ResultItem, where a string belongs
            "FI-LIMIT-ADDSOURCE-FORM", "FI-LIMIT-ADDWORDING-BYTES", "FI-LIMIT-CUSTOM-VALUE-BYTES",
            "FI-LIMIT-GROUPNAME-BYTES", "FI-LIMIT-GROUPNAME-NONEMPTY", "FI-LIMIT-REMARK-BYTES",
            "FI-ROUND-TRIP",  # friend_get_list says "a friend" with none of the imported values
            "FI-VALID-ITEM-IMPORTED",  # friend_check finds nothing it said it imported
        },
        warn=INFERRED_REFUSALS | {"FI-UNKNOWN-COMMAND"},
        exit=1),
    # The faithful emulator behind the live gateway's bodies (real-evidence.md): three fields, real texts,
    # 70032 with an empty ErrorInfo. The live service must not be blamed for its own answers.
    "real-gateway": dict(factory=targets.real_gateway, fail=set(), warn=set(), exit=0),
    # A front end that cannot create a documented-valid 32-byte UserID.
    "short-user-ids": dict(factory=targets.short_user_ids, fail={"FI-LIMIT-USERID-BYTES"}, warn=set(), exit=1),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def certified(request, tmp_path_factory):
    expected = EXPECTED[request.param]
    result, redactor = run(RunConfig(app=expected["factory"](), profile="quick", seed=SEED, skip_rules=RATE,
                                     env={**CREDENTIALS, **TAGS}))
    directory = tmp_path_factory.mktemp(request.param)
    written = write_outputs(result, redactor, directory)
    return request.param, expected, result, written


def _with(result, verdict: Verdict) -> set[str]:
    return {r.rule_id for r in result.rules if r.verdict == verdict}


def test_each_foreign_target_fails_exactly_the_rules_it_breaks(certified):
    name, expected, result, _ = certified
    assert _with(result, Verdict.FAIL) == expected["fail"], name
    assert _with(result, Verdict.WARN) == expected["warn"], name


def test_no_foreign_target_gets_an_error_and_the_exit_code_says_so(certified):
    name, expected, result, _ = certified
    assert _with(result, Verdict.ERROR) == set(), {r.rule_id: r.reason for r in result.rules if r.reason}
    assert result.exit_code() == expected["exit"], name
    assert result.headline() == ("PASS" if expected["exit"] == 0 else "FAIL")


def test_every_report_is_written_and_agrees_with_the_run(certified):
    name, expected, result, written = certified
    assert {p.name for p in written} >= {"results.json", "junit.xml", "report.html", "behaviour-profile.yaml"}
    document = json.loads(next(p for p in written if p.name == "results.json").read_text(encoding="utf-8"))
    assert document["summary"]["exit_code"] == expected["exit"]
    html = next(p for p in written if p.name == "report.html").read_text(encoding="utf-8")
    assert f"timconform: {result.headline()} " in html


def test_rules_left_unreached_name_the_rule_that_failed_first(certified):
    _, _, result, _ = certified
    for rule in result.rules:
        if rule.verdict == Verdict.SKIP and rule.reason.startswith("not reached: "):
            named = [r for r in result.rules if r.rule_id in rule.reason and r.rule_id != rule.rule_id]
            assert named, f"{rule.rule_id}: {rule.reason}"


def test_an_open_rule_records_no_outcome_the_target_did_not_show():
    """A mock that stores nothing deduplicates nothing and keeps no AddTime: no outcome of those is recorded."""
    result, _ = run(RunConfig(app=targets.SaysOk(), profile="quick", seed=SEED, skip_rules=RATE,
                              env={**CREDENTIALS, **TAGS}))
    recorded = {r.rule_id: r.outcomes for r in result.rules if r.outcomes}
    assert "OPEN-RANDOM-REUSE" not in recorded and "OPEN-ADDTIME-READBACK" not in recorded, recorded


# -- HTTPS --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("factory", "verdict"), [(targets.RedirectsPlainHttp, Verdict.PASS),
                                                  (targets.serves_plain_http_too, Verdict.FAIL)])
def test_an_https_target_must_not_answer_the_api_over_plain_http(factory, verdict):
    result, _ = run(RunConfig(app=factory(), app_url="https://adminapi.example", profile="quick", seed=SEED,
                              rules=("FI-HTTPS-ONLY",), env={**CREDENTIALS, **TAGS}))
    rule = next(r for r in result.rules if r.rule_id == "FI-HTTPS-ONLY")
    assert rule.verdict == verdict, (rule.reason, [e.message for e in rule.evidence])


# -- from the command line: nothing listening, another key, a report directory that is a file -----------


def test_a_closed_port_is_one_line_exit_3_and_every_rule_an_error(tmp_path):
    reports = tmp_path / "reports"
    started = time.monotonic()
    done = timconform("run", "--target", f"http://127.0.0.1:{free_port()}", "--report-dir", str(reports),
                      env=CREDENTIALS)
    assert time.monotonic() - started < 5
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "unreachable" in done.stderr, done.stderr
    assert done.stdout == ""
    rules = json.loads((reports / "results.json").read_text(encoding="utf-8"))["rules"]
    causes = {r["reason"] for r in rules if r["verdict"] == "Error"}
    assert len(causes) == 1 and all(r["verdict"] == "Error" for r in rules), causes


def test_another_secret_key_is_one_line_naming_the_variable_and_exit_2():
    with start_in_thread(Emulator(EmulatorConfig(secret_key="not-the-key-the-suite-was-given"))) as server:
        started = time.monotonic()
        done = timconform("run", "--target", server.base_url, env=CREDENTIALS)
    assert time.monotonic() - started < 5
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "TIMCONFORM_SECRET_KEY" in line and "70009" in line, line


def test_a_report_dir_that_is_a_file_is_refused_before_any_call(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a directory")
    with start_in_thread(Emulator(EmulatorConfig(record=True))) as server:
        done = timconform("run", "--target", server.base_url, "--report-dir", str(blocker), env=CREDENTIALS)
        assert list(server.emulator.recorded) == []  # not even the preflight call was sent
    assert done.returncode == 2
    assert done.stderr.startswith("timconform: error: --report-dir:") and len(done.stderr.splitlines()) == 1
