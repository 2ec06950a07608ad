"""Cassettes and parity (issue 14): recording, replaying, the public-evidence cassette, and a mock that answers
gateway failures exactly like the live service's bodies."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from timconform import spec as spec_module
from timconform.cli import main
from timconform.emulator import Emulator, EmulatorConfig
from timconform.parity import cassette as cassette_module
from timconform.parity.diff import Divergence, diff, parse
from timconform.parity.replay import (DeclaredError, load_declared, open_rules_changed, replay)
from timconform.parity.transformers import Window, server_time
from timconform.report.model import Verdict
from timconform.report.redact import Redactor
from timconform.suite.runner import RunConfig, run
from timconform.target import Client, in_process

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = ROOT / "schemas" / "evidence" / "public-evidence.cassette.jsonl"
CANARY = "canary-secret-0b7c4d2e9f1a3c5e7d9b1f3a5c7e9d1b"
TAGS = ("Tag_SNS_Custom_Demo", "Tag_SNS_Custom_Level")
# Outcomes other than the catalogue's defaults for open rules the quick profile probes.
OTHER_BEHAVIOUR = {"OPEN-EXISTING-FRIEND": "overwrite", "OPEN-SELF-IMPORT": "request-30001",
                   "OPEN-EMPTY-ADDFRIENDITEM": "ok-empty", "OPEN-UNKNOWN-QUERY-PARAM": "reject-60002",
                   "OPEN-DUPLICATE-TO-ACCOUNT": "first-wins", "OPEN-CONTENT-TYPE-HEADER": "reject",
                   "OPEN-RANDOM-REUSE": "rejected", "OPEN-TIME-FIELD-RANGE": "accepted",
                   "OPEN-UNKNOWN-TO-ACCOUNT-LEVEL": "request-30003", "FI-LIMIT-CUSTOM-TAG-CONFIGURED": "ignored",
                   "FI-QUERY-REPEATED": "last-wins"}


def _emulator(behaviour: dict[str, str] | None = None, key: str = CANARY) -> Emulator:
    return Emulator(EmulatorConfig(rate_limit=None, custom_tags=TAGS, behaviour=behaviour, secret_key=key))


def _env(key: str = CANARY) -> dict[str, str]:
    return {"TIMCONFORM_SDKAPPID": "1400000000", "TIMCONFORM_IDENTIFIER": "administrator",
            "TIMCONFORM_SECRET_KEY": key}


def _replay(app: Any, path: Path, **kwargs: Any):
    spec = spec_module.load()
    target, creds = in_process(app, _env())
    client = Client(target, creds, spec, Redactor(creds.secret_key))
    try:
        return replay(spec, client, path, **kwargs)
    finally:
        client.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, Any, Redactor]:
    """A quick-profile run against the emulator with its default behaviour, recorded."""
    path = tmp_path_factory.mktemp("cassette") / "run.jsonl"
    result, redactor = run(RunConfig(profile="quick", seed=3, app=_emulator(), cassette=path, env=_env()))
    return path, result, redactor


def test_replaying_against_a_like_target_finds_no_divergence_and_changes_no_finding(recorded) -> None:
    path, _, _ = recorded
    result = _replay(_emulator(), path)
    assert result.replayed > 200 and result.rejudged > 2000
    assert result.divergences == [], [f.as_dict() for f in result.divergences[:3]]
    assert result.changed == [], result.changed[:3]


def test_parity_lists_exactly_the_open_rules_whose_outcomes_differ(recorded) -> None:
    """Acceptance: recorded with the default behaviour, replayed against another: the open rules listed are the
    ones a run of the suite against each shows different outcomes for, no more and no fewer."""
    path, default_run, _ = recorded
    other_run, _ = run(RunConfig(profile="quick", seed=3, app=_emulator(OTHER_BEHAVIOUR), env=_env()))
    before = {r.rule_id: set(r.outcomes) for r in default_run.rules}
    after = {r.rule_id: set(r.outcomes) for r in other_run.rules}
    expected = {rule for rule in before if (before[rule] or after[rule]) and before[rule] != after[rule]}
    assert len(expected) >= 8  # the behaviour above moves most of them

    result = _replay(_emulator(OTHER_BEHAVIOUR), path)
    assert set(open_rules_changed(spec_module.load(), result)) == expected
    assert result.undeclared  # and their answers diverge where the outcomes show
    touched = {rule for found in result.divergences for rule in found.rules}
    assert expected <= touched | {c["rule"] for c in result.changed if c["exchange"] not in
                                  {f.n for f in result.divergences}}


def test_a_cassette_never_holds_the_secret_key_or_a_usersig(recorded) -> None:
    """The canary: the run's key, every UserSig it made (whole or any 40-character part), none is in the file."""
    path, _, redactor = recorded
    text = path.read_text(encoding="utf-8")
    assert CANARY not in text
    # Every UserSig the run made was registered with the redactor; so was the not-zlib probe, which is no UserSig
    # and no secret (the cassette keeps it as a literal, so a replay sends the same bytes).
    not_zlib = base64.b64encode(b"this is not a zlib stream").decode().translate(str.maketrans("+/=", "*-_"))
    made = [s for s in redactor._secrets if s not in (CANARY, not_zlib)]
    assert len(made) > 5
    for sig in made:
        assert sig[:40] not in text and sig[-40:] not in text
    assert not re.search(r"eJ[0-9A-Za-z*\-_]{40,}", text)  # nothing shaped like a UserSig either


def test_the_public_evidence_cassette_replays_against_the_emulator_without_divergence() -> None:
    """Acceptance: each real body of real-evidence.md is answered in the same shape, field order and code."""
    assert main(["parity", str(EVIDENCE)]) == 0
    result = _replay(_emulator(), EVIDENCE)
    assert result.replayed == result.exchanges == 5
    assert result.divergences == [] and result.changed == []


def test_the_public_evidence_cassette_is_what_its_script_builds() -> None:
    spec = importlib.util.spec_from_file_location("build", ROOT / "scripts" / "build_evidence_cassette.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert EVIDENCE.read_text(encoding="utf-8") == module.build()


def test_the_evidence_cassette_cites_a_source_for_every_body() -> None:
    header, lines = cassette_module.read(EVIDENCE)
    text = (ROOT / "docs" / "reference" / "real-evidence.md").read_text(encoding="utf-8")
    for line in lines:
        assert line["evidence"]["tag"] and line["evidence"]["where"] and line["evidence"]["ours"]
        # the source of each body is named in real-evidence.md
        assert line["evidence"]["where"].split(" (")[0].split(";")[0] in text, line["evidence"]["where"]
    assert {o["evidence"][:5] for o in header["omitted"]} == {"60008", "70346"}


def test_a_divergence_from_the_evidence_fails_unless_declared(tmp_path: Path) -> None:
    """An emulator told to answer an unknown SDKAppID with 70020 diverges from the live 70032 at
    $.ErrorCode and $.ErrorInfo; a declared-divergences file with reasons makes parity pass again."""
    app = _emulator({"FI-AUTH-SDKAPPID-UNKNOWN": "sig-70020"})
    result = _replay(app, EVIDENCE)
    paths = {(f.scenario, f.divergence.path) for f in result.undeclared}
    assert ("evidence-70032-unknown-sdkappid", "$.ErrorCode") in paths

    declared = tmp_path / "declared.yaml"
    declared.write_text("divergences:\n"
                        "  - path: $.Error*\n    scenario: evidence-70032-unknown-sdkappid\n"
                        "    reason: this emulator is configured to answer 70020 for an unknown app\n", encoding="utf-8")
    result = _replay(app, EVIDENCE, declared=load_declared(declared))
    assert result.divergences and not result.undeclared
    assert all(f.declared.startswith("this emulator") for f in result.divergences)


@pytest.mark.parametrize("text", ["divergences: [{path: ErrorCode, reason: x}]", "divergences: [{path: $.a}]",
                                  "- just a list", ": not yaml"])
def test_a_declared_file_without_a_json_path_and_a_reason_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "declared.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DeclaredError):
        load_declared(path)


def test_bad_cassettes_are_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    for content in ("not json\n", '{"type": "exchange"}\n', '{"type": "header", "cassette": 99}\n'):
        path = tmp_path / "bad.jsonl"
        path.write_text(content, encoding="utf-8")
        assert main(["parity", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_diff_names_each_divergence_by_json_path_including_field_order() -> None:
    recorded = parse('{"ActionStatus":"FAIL","ErrorCode":70032,"ErrorInfo":"","Items":[1,2]}')
    replayed = parse('{"ErrorCode":70032,"ActionStatus":"FAIL","ErrorInfo":"x","ErrorDisplay":"","Items":[1,"2",3]}')
    found = {(d.path, d.kind) for d in diff(recorded, replayed)}
    assert found == {("$.ErrorInfo", "value"), ("$.ErrorDisplay", "added"), ("$.Items[1]", "type"),
                     ("$.Items[2]", "added"), ("$", "order")}
    assert diff(recorded, parse('{"ActionStatus":"FAIL","ErrorCode":70032,"ErrorInfo":"","Items":[1,2]}')) == []
    assert diff(parse('{"a":{"b c":1}}'), parse('{"a":{}}')) == [Divergence('$.a["b c"]', "missing", 1, None)]


def test_server_time_reads_only_integers_near_the_run_as_volatile() -> None:
    window = Window(1_700_000_000, 1_700_000_060)
    body = parse('{"AddTime":1700000030,"Sent":1600000000,"ErrorCode":70032}')
    assert [v for _, v in server_time(window)(body)] == ["<server time>", 1600000000, 70032]
    # A hand-made cassette's window (started 0) never reads a code or a count as a time.
    assert [v for _, v in server_time(Window(0, 0))(parse('{"ErrorCode":0,"N":300}'))] == [0, 300]


def test_run_records_a_cassette_on_request_and_profile_turns_it_into_a_behaviour(tmp_path: Path, capsys,
                                                                                 monkeypatch) -> None:
    monkeypatch.setenv("TIMCONFORM_SECRET_KEY", CANARY)
    cassette = tmp_path / "c.jsonl"
    assert main(["run", "--profile", "quick", "--quiet", "--rules", "OPEN-EXISTING-FRIEND,OPEN-SELF-IMPORT",
                 "--cassette", str(cassette)]) == 0
    assert f"cassette: {cassette}" in capsys.readouterr().out
    header, lines = cassette_module.read(cassette)
    assert header["profile"] == "quick" and header["ended"] >= header["started"] and lines
    out = tmp_path / "behaviour.yaml"
    assert main(["profile", str(cassette), "--out", str(out)]) == 0
    Emulator(EmulatorConfig(behaviour=out))  # it loads
    text = out.read_text(encoding="utf-8")
    assert "OPEN-EXISTING-FRIEND: per-item-30001" in text and "OPEN-SELF-IMPORT: per-item-30001" in text


def test_the_staging_profile_records_a_cassette_unless_told_not_to(monkeypatch, tmp_path: Path) -> None:
    from timconform.cli import _cassette_path, build_parser

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["run", "--profile", "staging"])
    path = _cassette_path(args)
    assert path is not None and path.parent == Path(".timconform") and path.suffix == ".jsonl"
    assert _cassette_path(build_parser().parse_args(["run", "--profile", "staging", "--no-cassette"])) is None
    assert _cassette_path(build_parser().parse_args(["run"])) is None


# -- a mock of the live gateway's failures -------------------------------------------------------------

# The live bodies (real-evidence.md): three fields in this order, these texts where one was seen.
LIVE_TEXTS = {60002: "HTTP parse Error", 60015: "body account invalid", 70032: ""}


class LiveGatewayMock:
    """The emulator behind a layer that answers every gateway-level failure (a code the catalogue lists for any
    operation) exactly as the live gateway's bodies look: ActionStatus, ErrorCode, ErrorInfo and nothing else,
    with the live text where one was seen (an empty ErrorInfo for 70032)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        spec = spec_module.load()
        self.gateway_codes = {c.code for c in spec.codes.values() if c.applies_to("*") and c.code != 0}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.emulator(scope, receive, send)
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.emulator(scope, receive, capture)
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("ActionStatus") == "FAIL" and parsed.get("ErrorCode") in self.gateway_codes:
            code = parsed["ErrorCode"]
            body = json.dumps({"ActionStatus": "FAIL", "ErrorCode": code,
                               "ErrorInfo": LIVE_TEXTS.get(code, parsed.get("ErrorInfo", ""))},
                              separators=(",", ":")).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})


TOUCHED = ("FI-HTTP-200", "FI-ENVELOPE-SHAPE", "FI-ERRORINFO-ON-FAIL", "FI-CODE-KNOWN", "FI-CODE-LEVEL",
           "FI-ENVELOPE-CONSISTENT", "FI-AUTH-SDKAPPID-UNKNOWN", "FI-AUTH-USERSIG-MALFORMED", "FI-UNKNOWN-COMMAND",
           "FI-ACCOUNT-TYPE-60015", "FI-METHOD-POST", "FI-AUTH-USERSIG-WRONG-KEY")


def test_a_mock_answering_gateway_failures_like_the_live_bodies_fails_no_rule_they_touch() -> None:
    """Acceptance: three fields, the live texts, an empty ErrorInfo on 70032: no Fail (nor Warn) in the
    standard profile on the rules those bodies touch."""
    mock = LiveGatewayMock(_emulator())
    result, _ = run(RunConfig(profile="standard", seed=5, app=mock, env=_env()))
    verdicts = {r.rule_id: r for r in result.rules}
    assert not [r for r in TOUCHED if verdicts[r].verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR)], \
        {r: verdicts[r].verdict.name for r in TOUCHED}
    assert all(verdicts[r].checks > 0 for r in TOUCHED), {r: verdicts[r].checks for r in TOUCHED}
    assert {"70032", "60002"} <= set(result.coverage["elicited"])  # the mock's rewritten bodies were judged


# -- what a review of the first version found (each was a wrong verdict or a crash) --------------------------

def test_a_replay_with_another_app_admin_and_key_finds_no_divergence(recorded) -> None:
    """The credentials transformer: the replay's SDKAppID, admin and key stand for the recording's everywhere
    (query, the preflight's body, the answers naming the admin, "the app's SDKAppID plus one")."""
    path, _, _ = recorded
    key = "f" * 64
    other = Emulator(EmulatorConfig(rate_limit=None, custom_tags=TAGS, sdkappid=1400000001, admins=("ops_admin",),
                                    secret_key=key))
    spec = spec_module.load()
    env = {"TIMCONFORM_SDKAPPID": "1400000001", "TIMCONFORM_IDENTIFIER": "ops_admin", "TIMCONFORM_SECRET_KEY": key}
    target, creds = in_process(other, env)
    client = Client(target, creds, spec, Redactor(key))
    try:
        result = replay(spec, client, path)
    finally:
        client.close()
    assert result.divergences == [] and result.changed == [], [f.as_dict() for f in result.divergences[:3]]


def test_an_attempt_the_client_retried_is_not_replayed(tmp_path: Path) -> None:
    """Recorded against a gateway that answered one friend_import 502 (retried by the client), replayed against
    the same target without the fault: only the retry is sent, and nothing diverges."""
    from timconform.emulator.faults import parse as parse_faults

    spec = spec_module.load()
    plan = parse_faults({"faults": [{"operation": "friend_import", "calls": [3], "action": "http", "status": 502}]},
                        known_codes=spec.codes, operations=spec.operations)
    faulty = Emulator(EmulatorConfig(rate_limit=None, custom_tags=TAGS, secret_key=CANARY, faults=plan))
    path = tmp_path / "retried.jsonl"
    run(RunConfig(profile="quick", seed=3, app=faulty, cassette=path, env=_env(), rules=("FI-VALID-ITEM-IMPORTED",)))
    _, lines = cassette_module.read(path)
    assert [line["status"] for line in lines if "retried" in (line.get("replay") or "")] == [502]
    result = _replay(_emulator(), path)
    assert result.divergences == [] and result.changed == []


def test_an_unreachable_target_is_exit_3_not_a_divergence(recorded, monkeypatch, capsys) -> None:
    path, _, _ = recorded
    for name, value in _env().items():
        monkeypatch.setenv(name, value)
    assert main(["parity", str(path), "--target", "http://127.0.0.1:9"]) == 3
    err = capsys.readouterr().err
    assert "unreachable" in err and err.count("\n") == 1


def test_an_unpaired_surrogate_in_an_observation_is_written_and_read_back(tmp_path: Path) -> None:
    from timconform.oracle.registry import Finding, Observation
    from timconform.parity.cassette import CassetteWriter
    from timconform.report.model import Exchange
    from timconform.target import Credentials, Reply, Sent, UserSigSource

    creds = Credentials(1400000000, "administrator", CANARY)
    redactor = Redactor(CANARY)
    writer = CassetteWriter(tmp_path / "s.jsonl", redactor=redactor, usersigs=UserSigSource(creds, redactor),
                            creds=creds, header={"account_prefix": "tcabcdef"})
    exchange = Exchange("friend_get_list", "POST", "http://x/v4/sns/friend_get_list", {}, "{}", status=200,
                        response_body='{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}')
    reply = Reply(exchange, 200, {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})
    writer(Sent("friend_get_list", "POST", "/v4/sns/friend_get_list", "", b"{}", {}, None, False), reply)
    writer.judged("OPEN-TEXT-LONE-SURROGATE", Observation("read", reply=reply, facts={"sent": "a\ud800b"}),
                  Finding("outcome", outcome="stored-replaced"))
    writer.close()
    _, lines = cassette_module.read(tmp_path / "s.jsonl")
    assert lines[0]["observations"][0]["facts"]["sent"] == "a\ud800b"


BAD_LINES = {
    "usersigs a list": {"usersigs": []},
    "an undescribed token": {"query": "usersig=<usersig:7>"},
    "a query that is a number": {"query": 5},
    "headers a list": {"headers": []},
    "a judged entry without its rule": {"judged": [{"status": "pass"}]},
    "an answer not in the cassette": {"judged": [{"rule": "FI-HTTP-200", "status": "pass", "observation": 0}],
                                      "observations": [{"kind": "answer", "reply": {"$exchange": 99}}]},
    "an unknown description field": {"usersigs": {"1": {"key": "app", "secret": "x"}}},
    "base64 that is not": {"body_base64": "!!!"},
    "a path without its slash": {"path": "v4/sns/friend_import"},
}


@pytest.mark.parametrize("change", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_malformed_cassette_line_is_one_line_and_exit_2(tmp_path: Path, capsys, change: dict) -> None:
    header = {"type": "header", "cassette": 1, "started": 0}
    line = {"type": "exchange", "n": 1, "method": "POST", "path": "/v4/sns/friend_import", "query": "",
            "judged": [], "observations": [], **change}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(line) + "\n", encoding="utf-8")
    for command in (["parity", str(path)], ["profile", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err, err


def test_a_parity_rate_limit_outside_the_documented_range_is_refused(capsys) -> None:
    for value in ("-5", "0", "201"):
        assert main(["parity", str(EVIDENCE), "--rate-limit", value]) == 2
        assert "--rate-limit" in capsys.readouterr().err


def test_status_divergences_can_be_declared(tmp_path: Path) -> None:
    path = tmp_path / "declared.yaml"
    path.write_text("divergences:\n  - {path: status, reason: a front end answers 413 here}\n", encoding="utf-8")
    (declared,) = load_declared(path)
    assert declared.covers({}, Divergence("status", "status", 200, 413))


def test_diff_tells_integers_from_floats_and_compares_repeated_keys_as_sent() -> None:
    assert [d.kind for d in diff(parse('{"ErrorCode":0}'), parse('{"ErrorCode":0.0}'))] == ["type"]
    assert [d.kind for d in diff(parse('{"a":1,"a":2}'), parse('{"a":1,"a":3}'))] == ["duplicate-keys"]
    assert diff(parse('{"a":1,"a":2}'), parse('{"a":1,"a":2}')) == []
