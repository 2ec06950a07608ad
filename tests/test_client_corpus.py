"""Client grades that blame only what the client did (issue 13): a corpus of clients, one defect each.

Each client of tests/clients/variants.py is the reference client with one method changed. Certified with
--strict (an inferred rule broken is a Fail), each must fail exactly the rules its defect breaks: a client
whose requests the gateway refuses is graded on that, and not on faults it never received; a client that
renews its UserSig at once passes; nothing is an Error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from timconform.clientcert.runner import certify
from timconform.report.model import Verdict

VARIANTS = Path(__file__).resolve().parent / "clients" / "variants.py"
RECOVERY = {"CL-RETRY-TRANSIENT", "CL-RECOVER-30008", "CL-RECOVER-RATE-LIMIT", "CL-RENEW-USERSIG-70001",
            "CL-SURVIVE-502-TIMEOUT"}

EXPECTED = {  # variant -> (rules that Fail, rules that Skip with "not delivered" or "not reached")
    "reference": (set(), set()),
    "no-timeout": (set(), set()),
    "no-random": ({"CL-QUERY-PARAMS"}, RECOVERY | {"CL-IMPORT-COMPLETE", "CL-TOLERATE-OLD-SHAPE"}),
    "malformed-usersig": ({"CL-USERSIG-VALID"}, RECOVERY | {"CL-IMPORT-COMPLETE", "CL-TOLERATE-OLD-SHAPE"}),
    "short-timeout": ({"CL-SURVIVE-502-TIMEOUT"}, set()),
    "immediate-retries": ({"CL-RETRY-BACKOFF"}, set()),
    "retries-permanent": ({"CL-NO-RETRY-PERMANENT"}, set()),
    "swallows-partial-failures": ({"CL-REPORT-PARTIAL-FAILURE"}, set()),
    "resends-refused-usersig": ({"CL-RENEW-USERSIG-70001"}, set()),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def graded(request):
    certification = certify([sys.executable, str(VARIANTS), request.param], strict=True, time_limit=30)
    return request.param, certification.result


def test_each_client_fails_exactly_what_its_defect_breaks(graded):
    name, result = graded
    fails, _ = EXPECTED[name]
    assert {r.rule_id for r in result.rules if r.verdict == Verdict.FAIL} == fails, \
        {r.rule_id: [e.message for e in r.evidence][:1] for r in result.rules if r.verdict == Verdict.FAIL}
    assert not [r for r in result.rules if r.verdict in (Verdict.ERROR, Verdict.WARN)]


def test_a_fault_the_client_never_received_is_not_graded(graded):
    name, result = graded
    _, unreached = EXPECTED[name]
    skipped = {r.rule_id: r.reason for r in result.rules if r.verdict == Verdict.SKIP}
    named = {r for r, why in skipped.items() if why.startswith(("not delivered", "not reached"))}
    assert named == unreached, skipped
    for rule in unreached:
        assert "refused first with" in skipped[rule] and ("CL-QUERY-PARAMS" in skipped[rule]
                                                          or "CL-USERSIG-VALID" in skipped[rule]), skipped[rule]


def test_a_cascade_is_named_once_as_the_root_cause_and_every_failure_is_kept(graded):
    name, result = graded
    cause = result.meta.get("root_cause")
    if name in ("no-random", "malformed-usersig"):
        assert cause and "fix this first" in cause and EXPECTED[name][0] <= set(cause.replace(",", " ").split())
    else:
        assert cause is None, cause
    for rule in result.rules:
        assert len(rule.evidence) == rule.failures, rule.rule_id  # a client's grade keeps every piece of evidence
        assert rule.failed_in == list(dict.fromkeys(rule.failed_in)) and (not rule.failures) == (not rule.failed_in)


def test_the_duration_is_the_wall_time_of_every_scenario_and_the_grading(graded):
    _, result = graded
    scenarios = sum(s["duration_s"] for s in result.coverage["scenarios"])
    assert result.meta["duration_s"] >= scenarios


# -- what a killed run leaves behind ----------------------------------------------------------------------

# An adapter that reaches the hard-coded host through the CONNECT proxy (so a leaf key is made), then hangs.
ADAPTER = """
import os, sys, time, urllib.request
try:
    urllib.request.urlopen("https://console.tim.qq.com/v4/sns/friend_check", data=b"{}", timeout=10)
except Exception:
    pass
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "?"
    return state != "Z"


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    scratch, pid_file = tmp_path / "tmp", tmp_path / "adapter.pid"
    scratch.mkdir()
    (tmp_path / "adapter.py").write_text(ADAPTER)
    process = subprocess.Popen([sys.executable, "-m", "timconform.cli", "certify-client", "--scenarios", "happy",
                                "--quiet", "--", sys.executable, str(tmp_path / "adapter.py"), str(pid_file)],
                               env={**os.environ, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_file.exists(), "the adapter never started"
    return process, scratch, pid_file


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_sigterm_mid_run_leaves_no_temporary_files_and_no_adapter(tmp_path):
    process, scratch, pid_file = _start(tmp_path)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert process.returncode == 130
    assert _gone(int(pid_file.read_text()))
    assert list(scratch.iterdir()) == []


def test_sigkill_mid_run_takes_the_adapter_along_and_leaves_no_private_key(tmp_path):
    process, scratch, pid_file = _start(tmp_path)
    process.kill()
    process.wait(timeout=30)
    assert _gone(int(pid_file.read_text()))
    # Nothing can clean up after SIGKILL; but no private key was ever left on disk to find.
    assert list(scratch.rglob("timconform-ca.pem")), "the run had made its CA (the adapter went through the proxy)"
    assert [p for p in scratch.rglob("*") if p.suffix == ".key"] == []
