"""certify-client end to end (issue 6): the reference client passes every scenario; timsdk, unmodified and
reached through the loopback CONNECT proxy, gets the grades clients.md predicts; the CLI keeps its contract."""

import errno
import importlib.util
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from timconform import cli
from timconform.clientcert import isolation as isolation_module
from timconform.clientcert.output import write_reports
from timconform.clientcert.runner import CommandCannotStart, certify
from timconform.clientcert.scenarios import names
from timconform.report.model import Verdict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SAMPLE = ROOT / "reports" / "sample-timsdk"
REFERENCE = [sys.executable, str(EXAMPLES / "reference_client.py")]
TIMSDK = [sys.executable, str(EXAMPLES / "timsdk_adapter.py")]
HAS_TIMSDK = importlib.util.find_spec("timsdk") is not None

# What clients.md §2 predicts for timsdk 1.1.12, by rule.
TIMSDK_FAILS = {"CL-BATCH-1000", "CL-RETRY-TRANSIENT"}
TIMSDK_WARNS = {"CL-RANDOM-FRESH", "CL-RECOVER-30008", "CL-REPORT-PARTIAL-FAILURE", "CL-JSON-CONTENT-TYPE"}


@pytest.fixture(scope="module")
def certifications():
    """Both clients over every scenario, run side by side (each has its own emulators, proxy and CA)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        reference = pool.submit(certify, REFERENCE)
        timsdk = pool.submit(certify, TIMSDK) if HAS_TIMSDK else None
        return {"reference": reference.result(), "timsdk": timsdk.result() if timsdk else None}


def verdicts(result):
    return {r.rule_id: r.verdict for r in result.rules}


def timsdk_run(certifications):
    pytest.importorskip("timsdk")
    return certifications["timsdk"]


# -- the reference client ---------------------------------------------------------------------------------


def test_the_reference_client_passes_every_scenario(certifications, spec):
    result = certifications["reference"].result
    assert {r.rule_id for r in result.rules} == {r for r in spec.rules if r.startswith("CL-")}
    bad = {r.rule_id: (r.verdict.label, r.reason, [e.message for e in r.evidence])
           for r in result.rules if r.verdict != Verdict.PASS}
    assert bad == {}
    assert result.exit_code() == 0
    assert [s["scenario"] for s in result.coverage["scenarios"]] == names()


def test_the_reference_client_batches_retries_and_reports(certifications):
    runs = {run.scenario.name: run for run in certifications["reference"].runs}
    assert [len(r.items()) for r in runs["batch-2500"].imports()] == [1000, 1000, 500]
    for name in ("transient-30006", "transient-30007", "conflict-30008", "usersig-70001", "http-502", "rate-limit"):
        first, retry = runs[name].imports()
        assert retry.started - first.ended >= 0.05 or name == "usersig-70001", name
        assert runs[name].exit_code == 0 and runs[name].counts()[0] == 5, name
    assert runs["usersig-70001"].imports()[1].usersig_hash != runs["usersig-70001"].imports()[0].usersig_hash
    assert runs["partial-failure"].exit_code == 1 and runs["old-shape-invalid"].exit_code == 1
    assert runs["happy"].connects == {"allowed": [], "refused": [], "plain_refused": []}  # TIMCONFORM_TARGET


def test_strict_changes_nothing_for_the_reference_client(certifications):
    strict = certifications["reference"].regrade(strict=True)
    assert all(r.verdict == Verdict.PASS for r in strict.rules) and strict.meta["strict"] is True


# -- timsdk, unmodified -------------------------------------------------------------------------------------


def test_timsdk_fails_the_batch_limit_and_the_retry_after_30006(certifications):
    result = timsdk_run(certifications).result
    got = verdicts(result)
    assert {r for r, v in got.items() if v == Verdict.FAIL} >= TIMSDK_FAILS
    batch = next(r for r in result.rules if r.rule_id == "CL-BATCH-1000")
    assert "Received 2500 in request #1" in batch.evidence[0].message
    transient = next(r for r in result.rules if r.rule_id == "CL-RETRY-TRANSIENT")
    assert "[transient-30006] Expected the refused items to be sent again after ErrorCode 30006. Received no retry" \
        in transient.evidence[0].message
    assert result.exit_code() == 1


def test_timsdk_gets_warnings_for_its_inferred_defects_and_fails_them_when_strict(certifications):
    certification = timsdk_run(certifications)
    got = verdicts(certification.result)
    assert {rule: got[rule] for rule in TIMSDK_WARNS} == {rule: Verdict.WARN for rule in TIMSDK_WARNS}
    strict = verdicts(certification.regrade(strict=True))
    assert {rule: strict[rule] for rule in TIMSDK_WARNS | TIMSDK_FAILS} == {
        rule: Verdict.FAIL for rule in TIMSDK_WARNS | TIMSDK_FAILS}
    messages = {r.rule_id: r.evidence[0].message for r in certification.result.rules if r.evidence}
    assert "Received no Content-Type header" in messages["CL-JSON-CONTENT-TYPE"]
    assert "[two-imports]" in messages["CL-RANDOM-FRESH"]


def test_timsdk_reports_success_for_a_partial_failure(certifications):
    result = timsdk_run(certifications).result
    report = next(r for r in result.rules if r.rule_id == "CL-REPORT-PARTIAL-FAILURE")
    assert any(e.message.startswith("[partial-failure] Expected a failure report (non-zero exit): 1 of 5 items")
               for e in report.evidence)


def test_timsdk_ran_unmodified_through_the_connect_proxy(certifications):
    certification = timsdk_run(certifications)
    for run in certification.runs:
        assert run.connects["allowed"] == ["console.tim.qq.com:443"], run.scenario.name
        assert run.connects["refused"] == [] and run.records, run.scenario.name
        assert all(r.headers.get("host") == "console.tim.qq.com" for r in run.records)
    assert verdicts(certification.result)["CL-TOLERATE-OLD-SHAPE"] == Verdict.PASS  # it never looks at the shape


# -- reports --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results_validator():
    return Draft202012Validator(json.loads((ROOT / "schemas" / "results.schema.json").read_text(encoding="utf-8")))


SECRETS = re.compile(r"eJ[0-9A-Za-z*\-_]{40,}|usersig=(?!<redacted>|%3Credacted%3E)[^&\s\"'<]+")


def test_reports_are_written_like_the_suite_s_and_hold_no_secret(certifications, tmp_path, results_validator):
    for name, certification in certifications.items():
        if certification is None:
            continue
        written = write_reports(certification.result, tmp_path / name, certification.redactor)
        assert [p.name for p in written] == ["results.json", "junit.xml", "report.html"]
        key = certification.redactor._secrets and next(iter(certification.redactor._secrets))
        for path in written:
            text = path.read_text(encoding="utf-8")
            assert key not in text and not SECRETS.search(text), path
        document = json.loads(written[0].read_text(encoding="utf-8"))
        assert list(results_validator.iter_errors(document)) == []
        assert document["meta"]["profile"] == "certify-client"


def test_the_committed_timsdk_sample_report_matches_a_run_and_holds_no_secret(results_validator):
    files = {p.name for p in SAMPLE.iterdir()}
    assert {"results.json", "junit.xml", "report.html"} <= files
    document = json.loads((SAMPLE / "results.json").read_text(encoding="utf-8"))
    assert list(results_validator.iter_errors(document)) == []
    got = {r["id"]: r["verdict"] for r in document["rules"]}
    assert {r for r, v in got.items() if v == "Fail"} >= TIMSDK_FAILS
    assert all(got[r] == "Warn" for r in TIMSDK_WARNS)
    assert document["summary"]["exit_code"] == 1
    for path in SAMPLE.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not SECRETS.search(text), path
        # 64 hex digits: only the spec hash may look like a secret key.
        assert set(re.findall(r"\b[0-9a-f]{64}\b", text)) <= {document["meta"]["spec_sha256"]}, path


# -- the command line ------------------------------------------------------------------------------------------


def test_the_cli_certifies_a_client_and_writes_the_report(tmp_path, capfd):
    """capfd: on Linux the command runs itself again inside a network namespace, in a child process."""
    code = cli.main(["certify-client", "--scenarios", "happy,partial-failure", "--report-dir", str(tmp_path), "--quiet",
                     "--", *REFERENCE])
    out = capfd.readouterr().out
    assert code == 0 and "0 Fail, 0 Error, 0 Warn" in out.splitlines()[0] and "exit 0" in out
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert document["meta"]["config"]["scenarios"] == ["happy", "partial-failure"]
    skipped = {r["id"] for r in document["rules"] if r["verdict"] == "Skip"}
    assert "CL-RETRY-TRANSIENT" in skipped and "CL-IMPORT-COMPLETE" not in skipped
    isolation = isolation_module.unavailable()
    assert document["meta"]["isolation"].startswith("isolated" if isolation is None else "not isolated")


def test_an_isolated_run_lets_the_client_reach_nothing_but_the_emulator(tmp_path, capfd):
    if isolation_module.unavailable():
        pytest.skip(f"this machine cannot isolate a run: {isolation_module.unavailable()}")
    probe = tmp_path / "probe.py"
    probe.write_text("import socket, sys\n"
                     "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=5)\n"
                     "except OSError as e:\n    print('errno', e.errno)\n")
    cli.main(["certify-client", "--scenarios", "happy", "--verbose", "--", sys.executable, str(probe)])
    out = capfd.readouterr().out
    assert f"errno {errno.ENETUNREACH}" in out and "network: isolated" in out, out


def test_strict_on_the_cli_turns_warnings_into_an_exit_code_1(capfd):
    pytest.importorskip("timsdk")
    assert cli.main(["certify-client", "--scenarios", "happy", "--quiet", "--", *TIMSDK]) == 0
    assert cli.main(["certify-client", "--scenarios", "happy", "--strict", "--quiet", "--", *TIMSDK]) == 1
    assert "CL-JSON-CONTENT-TYPE" in capfd.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["certify-client", "--", "/nonexistent/adapter"], "cannot start /nonexistent/adapter: no such file"),
    (["certify-client", "--", "no-such-program-timconform"], "not found on PATH"),
    (["certify-client", "--", str(ROOT / "README.md")], "not executable"),
    (["certify-client", "--scenarios", "happy,nope", "--", sys.executable], "unknown scenario 'nope'"),
    (["certify-client"], "no command given"),
    (["certify-client", "--time-limit", "0", "--", sys.executable], "--time-limit"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_command_that_cannot_be_executed_is_a_usage_error(tmp_path):
    script = tmp_path / "adapter"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    with pytest.raises(CommandCannotStart, match="cannot start"):
        certify([str(script)], scenarios=["happy"])


def test_an_adapter_that_hangs_is_stopped_and_one_that_sends_nothing_is_an_error():
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    certification = certify(hang, scenarios=["happy"], time_limit=1.0)
    run = certification.runs[0]
    assert run.exit_code is None and run.duration_s < 10
    assert certification.result.exit_code() == 3  # sent nothing: the adapter convention is not followed
    assert all(r.verdict == Verdict.ERROR for r in certification.result.rules)
    assert "no request to the emulator" in certification.result.rules[0].reason


def test_an_adapter_that_hangs_after_importing_is_reported_as_not_finishing(tmp_path):
    adapter = tmp_path / "slowpoke.py"
    adapter.write_text(
        "import runpy, sys, time\n"
        f"sys.argv = [{str(EXAMPLES / 'reference_client.py')!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(EXAMPLES / 'reference_client.py')!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    time.sleep(60)\n")
    certification = certify([sys.executable, str(adapter)], scenarios=["happy"], time_limit=3.0)
    report = next(r for r in certification.result.rules if r.rule_id == "CL-REPORT-PARTIAL-FAILURE")
    assert report.verdict == Verdict.WARN and "was stopped" in report.evidence[0].message
    assert verdicts(certification.result)["CL-IMPORT-COMPLETE"] == Verdict.PASS


# An adapter written the way axios 0.16 talks to a proxy: TLS to the proxy itself (SNI: the API host), the
# https:// URL in absolute form, no CONNECT.
TLS_TO_PROXY = """
import http.client, json, os, secrets, ssl, urllib.parse
from timconform import usersig
env = os.environ
proxy = urllib.parse.urlsplit(env["HTTPS_PROXY"])
context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
connection = http.client.HTTPSConnection(proxy.hostname, proxy.port, context=context)
connection._tunnel_host = None
sock_wrap = context.wrap_socket
context.wrap_socket = lambda sock, server_hostname=None, **kw: sock_wrap(sock, server_hostname="console.tim.qq.com", **kw)
sig = usersig.generate(int(env["TIMCONFORM_SDKAPPID"]), env["TIMCONFORM_IDENTIFIER"], env["TIMCONFORM_SECRET_KEY"])
query = urllib.parse.urlencode({"sdkappid": env["TIMCONFORM_SDKAPPID"], "identifier": env["TIMCONFORM_IDENTIFIER"],
                                "usersig": sig, "random": secrets.randbelow(2**32), "contenttype": "json"})
body = open(env["TIMCONFORM_SCENARIO_INPUT"], encoding="utf-8").read().encode("utf-8")
connection.request("POST", "https://console.tim.qq.com/v4/sns/friend_import?" + query, body=body,
                   headers={"Content-Type": "application/json", "Host": "console.tim.qq.com"})
answer = json.loads(connection.getresponse().read())
raise SystemExit(0 if answer["ActionStatus"] == "OK" else 1)
"""


def test_a_client_that_speaks_tls_to_the_proxy_itself_reaches_the_emulator(tmp_path):
    adapter = tmp_path / "tls_to_proxy.py"
    adapter.write_text(TLS_TO_PROXY)
    certification = certify([sys.executable, str(adapter)], scenarios=["happy"])
    run = certification.runs[0]
    assert len(run.imports()) == 1 and run.everything_imported(), run.summary()
    assert any("absolute form" in entry for entry in run.connects.get("allowed", []))
    assert run.imports()[0].base_url == "https://console.tim.qq.com"
