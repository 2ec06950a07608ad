"""Who is blamed, and that a report survives anything (issue 11): the pieces, without a network.

An answer that is not the envelope is never an acceptance; a refused setup call is its own rule's Fail and
leaves the rest not reached; the preflight call turns a wrong key into one configuration error; a check
or a report writer that crashes is an Error of its rule alone; the headline follows the exit code.
"""

from __future__ import annotations

import json

import pytest

from tests.suite_support import CREDENTIALS
from timconform import cli
from timconform import spec as spec_module
from timconform.oracle import response as response_checks
from timconform.oracle.answers import seen
from timconform.oracle.recorder import Recorder
from timconform.oracle.registry import CHECKS, Check, Observation, judge
from timconform.report import write as write_module
from timconform.report.html import to_html
from timconform.report.model import Evidence, Exchange, RuleResult, RunResult, Verdict
from timconform.report.redact import Redactor
from timconform.report.write import output_dir_problem, output_file_problem, write_reports
from timconform.suite.preflight import CredentialsRefused, preflight
from timconform.suite.profiles import PROFILES
from timconform.suite.registry import Scenario
from timconform.suite.runner import _run_scenario
from timconform.suite.session import Session, SetupFailed
from timconform.target import Client, Reply, Target, credentials_from_env, in_process


@pytest.fixture(scope="module")
def spec():
    return spec_module.load()


def reply(status: int, body, operation: str = "friend_import") -> Reply:
    text = json.dumps(body) if body is not None else "not json"
    exchange = Exchange(operation, "POST", "http://t/v4/x", {}, "{}", status=status, response_body=text)
    return Reply(exchange, status, body)


def expect(spec, recorder: Recorder, rule_id: str, answer: Reply, *, item: int | None = None,
           kind: str = "refused") -> None:
    """What a scenario does with the answer to a request built to break ``rule_id``."""
    judge(spec, recorder, rule_id, Observation(kind, reply=answer, item=item))


def verdict_of(recorder: Recorder, rule_id: str) -> RuleResult:
    return next(r for r in recorder.results() if r.rule_id == rule_id)


# -- reading answers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "body"), [(422, {"title": "Unprocessable"}), (422, {"ActionStatus": "OK",
                                                                                         "ErrorCode": 0}),
                                               (200, {"ErrorCode": "0"}), (200, None), (200, ["OK"])])
def test_only_an_envelope_in_http_200_is_an_acceptance_or_a_refusal(status, body):
    answer = reply(status, body)
    assert seen(answer) is None and not answer.ok and answer.error_code is None


def test_a_non_envelope_friend_import_answer_leaves_the_rule_unreached_and_records_no_outcome(spec):
    recorder = Recorder(spec)
    expect(spec, recorder, "OPEN-EMPTY-ADDFRIENDITEM", reply(422, {"title": "Unprocessable"}), kind="empty")
    expect(spec, recorder, "FI-REQUIRED-FIELDS", reply(422, {"title": "Unprocessable"}))
    for rule_id in ("OPEN-EMPTY-ADDFRIENDITEM", "FI-REQUIRED-FIELDS"):
        result = verdict_of(recorder, rule_id)
        assert result.verdict == Verdict.SKIP and result.reason.startswith("not reached: "), result
        assert "FI-HTTP-200" in result.reason
    assert recorder.observed_profile() == {}


def test_a_non_envelope_answer_of_a_companion_operation_breaks_the_rule_under_test(spec):
    """No response rule judges account_delete's answers, so the rule expecting its refusal is the one broken."""
    recorder = Recorder(spec)
    expect(spec, recorder, "SUPPORT-ACCOUNT-DELETE-MISSING", reply(404, None, "account_delete"), item=0)
    result = verdict_of(recorder, "SUPPORT-ACCOUNT-DELETE-MISSING")
    assert result.verdict == Verdict.FAIL and "HTTP 404" in result.evidence[0].message


def test_an_envelope_refusal_is_still_judged_by_its_code(spec):
    recorder = Recorder(spec)
    expect(spec, recorder, "FI-REQUIRED-FIELDS",
           reply(200, {"ActionStatus": "FAIL", "ErrorCode": 30001, "ErrorInfo": "x"}))
    expect(spec, recorder, "FI-JSON-PARSE-60003",
           reply(200, {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "ResultItem": []}))
    assert verdict_of(recorder, "FI-REQUIRED-FIELDS").verdict == Verdict.PASS
    assert verdict_of(recorder, "FI-JSON-PARSE-60003").verdict == Verdict.FAIL


def test_unobservable_rules_are_skip_with_their_reason(spec):
    results = {r.rule_id: r for r in Recorder(spec).results()}
    for rule_id, rule in spec.rules.items():
        if rule.unobservable:
            assert results[rule_id].verdict == Verdict.SKIP
            assert results[rule_id].reason == f"unobservable: {rule.unobservable}"


def test_a_crashing_check_is_an_error_of_its_rule_alone(spec, monkeypatch):
    def crash(spec, rule, observation):
        raise KeyError("boom")

    monkeypatch.setitem(CHECKS, "FI-CODE-LEVEL", Check("FI-CODE-LEVEL", {"answer": crash}))
    recorder = Recorder(spec)
    answer = reply(200, {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "ErrorDisplay": "",
                         "ResultItem": [{"To_Account": "b", "ResultCode": 0, "ResultInfo": ""}]})
    response_checks.run_all(spec, recorder, {"From_Account": "a", "AddFriendItem": [{"To_Account": "b"}]}, answer)
    errors = {r.rule_id: r.reason for r in recorder.results() if r.verdict == Verdict.ERROR}
    assert list(errors) == ["FI-CODE-LEVEL"] and "KeyError" in errors["FI-CODE-LEVEL"]
    assert verdict_of(recorder, "FI-ENVELOPE-SHAPE").verdict == Verdict.PASS


# -- attribution of a refused setup call ---------------------------------------------------------------------


def test_a_refused_setup_call_fails_its_rule_and_leaves_the_scenario_s_other_rules_unreached(spec):
    def refuses(session):
        session.recorder.passed("FI-HTTP-200")
        raise SetupFailed("SUPPORT-MULTIACCOUNT-IMPORT", "Expected OK. Received FAIL.",
                          reply(200, {"ActionStatus": "FAIL", "ErrorCode": 70402, "ErrorInfo": "x"}))

    recorder = Recorder(spec)
    target = Target("url", "t", "http://t")
    session = Session(spec, Client(target, credentials_from_env(CREDENTIALS), spec, Redactor()), recorder,
                      PROFILES["quick"], 1)
    scenario = Scenario("setup", ("FI-HTTP-200", "FI-ROUND-TRIP", "SUPPORT-MULTIACCOUNT-IMPORT"), refuses,
                        frozenset({"quick"}), frozenset(), "")
    _run_scenario(scenario, session, target, PROFILES["quick"], None)
    assert verdict_of(recorder, "SUPPORT-MULTIACCOUNT-IMPORT").verdict == Verdict.FAIL
    assert verdict_of(recorder, "FI-HTTP-200").verdict == Verdict.PASS  # judged before the refusal: kept
    unreached = verdict_of(recorder, "FI-ROUND-TRIP")
    assert unreached.verdict == Verdict.SKIP
    assert unreached.reason == "not reached: SUPPORT-MULTIACCOUNT-IMPORT failed first (in scenario setup)"
    assert not [r for r in recorder.results() if r.verdict == Verdict.ERROR]


# -- preflight ----------------------------------------------------------------------------------------------------


class Gateway:
    """Answers account_check with the given envelopes in turn (the last one from then on)."""

    def __init__(self, *codes: int) -> None:
        self.codes, self.calls = list(codes), 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        code = self.codes[min(self.calls, len(self.codes) - 1)]
        self.calls += 1
        body = json.dumps({"ActionStatus": "OK" if code == 0 else "FAIL", "ErrorCode": code, "ErrorInfo": "",
                           "ResultItem": []}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def _client(spec, app) -> Client:
    target, creds = in_process(app, CREDENTIALS)
    return Client(target, creds, spec, Redactor())


@pytest.mark.parametrize(("code", "names"), [(70009, ["TIMCONFORM_SECRET_KEY"]), (70003, ["TIMCONFORM_SECRET_KEY"]),
                                             (60010, ["TIMCONFORM_IDENTIFIER"]),
                                             (70020, ["TIMCONFORM_SDKAPPID", "--target"]),
                                             (70001, ["clock"])])
def test_credentials_the_target_refuses_are_one_line_naming_what_to_check(spec, code, names):
    with pytest.raises(CredentialsRefused) as raised:
        preflight(_client(spec, Gateway(code)), spec)
    message = str(raised.value)
    assert "\n" not in message and str(code) in message
    assert all(name in message for name in names), message


def test_a_non_auth_refusal_of_the_preflight_call_is_left_to_the_scenarios(spec):
    assert preflight(_client(spec, Gateway(30001)), spec).error_code == 30001


def test_a_target_that_refuses_a_usersig_twice_gets_a_fresh_one_for_every_call(spec):
    client = _client(spec, Gateway(0, 70003, 0))
    preflight(client, spec)
    assert client.usersigs.fresh_per_call
    assert client.usersigs.current() != client.usersigs.current()


# -- reports ------------------------------------------------------------------------------------------------------


def _run(spec, verdicts: dict[str, Verdict], evidence: Evidence | None = None) -> RunResult:
    rules = []
    for rule_id, verdict in verdicts.items():
        rule = spec.rules[rule_id]
        rules.append(RuleResult(rule_id, rule.title, rule.strength, rule.category, dict(rule.source), verdict,
                                reason="why" if verdict in (Verdict.SKIP, Verdict.ERROR) else "",
                                evidence=[evidence] if evidence and verdict in (Verdict.FAIL, Verdict.WARN) else []))
    return RunResult({"target": "t"}, rules, {"elicited": {"30001": 2}, "unknown": {}, "not_elicited": [30010]})


def test_the_headline_follows_the_exit_code_not_the_worst_verdict(spec):
    run = _run(spec, {"FI-HTTP-200": Verdict.PASS, "FI-NO-WEBHOOK": Verdict.SKIP, "FI-RESULTITEM-ORDER": Verdict.WARN})
    assert run.headline() == "PASS" and run.exit_code() == 0
    page = to_html(run, Redactor())
    assert "<title>timconform: PASS" in page and ">Skip</span></h1>" not in page
    assert "not_elicited" not in page and "friend_import codes of the catalogue the run never drew" in page
    assert _run(spec, {"FI-HTTP-200": Verdict.ERROR}).headline() == "ERROR"


def test_a_writer_that_cannot_render_a_rule_makes_it_an_error_and_writes_everything_else(spec, monkeypatch, tmp_path):
    original = write_module.rule_section

    def fragile(rule, redactor):
        if rule.rule_id in ("FI-RESULTITEM-ORDER", "FI-HTTP-200"):
            raise RecursionError("maximum recursion depth exceeded")
        return original(rule, redactor)

    monkeypatch.setattr(write_module, "rule_section", fragile)
    exchange = Exchange("friend_import", "POST", "http://t/v4/sns/friend_import", {}, "{}", 200)
    run = _run(spec, {"FI-HTTP-200": Verdict.FAIL, "FI-RESULTITEM-ORDER": Verdict.WARN, "FI-ONE-WAY": Verdict.PASS},
               Evidence("x", "Expected a. Received b.", exchange))
    written = write_reports(run, tmp_path, Redactor())
    verdicts = {r.rule_id: r for r in run.rules}
    assert verdicts["FI-RESULTITEM-ORDER"].verdict == Verdict.ERROR
    assert "RecursionError" in verdicts["FI-RESULTITEM-ORDER"].reason
    assert verdicts["FI-HTTP-200"].verdict == Verdict.FAIL  # a Fail stays the target's
    assert {p.name for p in written} == {"results.json", "junit.xml", "report.html", "behaviour-profile.yaml"}
    assert json.loads((tmp_path / "results.json").read_text())["summary"]["exit_code"] == 1


def test_deep_binary_and_huge_evidence_is_written_and_a_long_curl_goes_beside_the_report(spec, tmp_path):
    deep = '{"Remark": ' + "[" * 100_000 + "]" * 100_000 + "}"
    body = "\udcff\x00" + "é" * 20_000
    exchange = Exchange("friend_import", "POST", "http://t/v4/sns/friend_import", {}, body, 200,
                        response_body=deep)
    run = _run(spec, {"FI-DEEP-NESTING": Verdict.WARN}, Evidence("FI-DEEP-NESTING", "m", exchange))
    written = write_reports(run, tmp_path, Redactor())
    assert run.rules[0].verdict == Verdict.WARN
    curl = tmp_path / "curl" / "FI-DEEP-NESTING-1.sh"
    assert curl in written and "é" * 20_000 in curl.read_text(encoding="utf-8")
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert document["rules"][0]["evidence"][0]["curl_file"] == "curl/FI-DEEP-NESTING-1.sh"
    spec.validator("results.schema.json").validate(document)
    assert 'href="curl/FI-DEEP-NESTING-1.sh"' in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_output_paths_that_cannot_be_written_are_named(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    dangling = tmp_path / "link"
    dangling.symlink_to(tmp_path / "nowhere")
    assert "not a directory" in output_dir_problem(afile)
    assert "symbolic link to nothing" in output_dir_problem(dangling)
    assert "not a directory" in output_dir_problem(afile / "below")
    assert output_dir_problem(tmp_path / "new" / "dir") is None
    assert "is a directory" in output_file_problem(tmp_path)
    assert output_file_problem(tmp_path / "baseline.yaml") is None


def test_an_internal_crash_is_one_line_and_exit_3_never_1(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_run", lambda args: (_ for _ in ()).throw(ZeroDivisionError("division by zero")))
    assert cli.main(["run"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "internal error (ZeroDivisionError" in err
