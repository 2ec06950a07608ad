"""`timconform run` and `timconform cleanup` as a user runs them: secrets, staging, interruption (issue #4)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.suite_support import CREDENTIALS, free_port

CANARY = "CANARY-secret-key-7f3a9c"
USERSIG_SHAPE = re.compile(r"eJ[0-9A-Za-z*\-_]{40,}")


def timconform(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "timconform.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


def test_no_output_carries_the_secret_key_or_a_usersig(tmp_path):
    reports = tmp_path / "reports"
    done = timconform("run", "--profile", "quick", "--seed", "5", "--report-dir", str(reports),
                      "--write-baseline", str(tmp_path / "baseline.yaml"),
                      env={"TIMCONFORM_SECRET_KEY": CANARY, "TIMCONFORM_CUSTOM_TAGS": "Tag_SNS_Custom_XXXX"})
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(reports.iterdir()) + [tmp_path / "baseline.yaml"]
    assert {f.name for f in files} >= {"results.json", "junit.xml", "report.html", "behaviour-profile.yaml"}
    texts = {"stdout": done.stdout, "stderr": done.stderr, **{f.name: f.read_text(encoding="utf-8") for f in files}}
    for name, text in texts.items():
        assert CANARY not in text, name
        assert not USERSIG_SHAPE.search(text), name
    results = json.loads((reports / "results.json").read_text())
    assert results["meta"]["config"]["secret_key"] == "<redacted>"
    assert results["summary"]["exit_code"] == 0


def test_bad_options_and_missing_credentials_exit_2_with_one_line():
    for args, env in ((["run", "--profile", "nope"], {}), (["run", "--rules", "FI-NOPE"], {}),
                      (["run", "--rate-limit", "500"], {}),
                      (["run", "--target", "http://127.0.0.1:9"], {"TIMCONFORM_SECRET_KEY": ""})):
        done = timconform(*args, env=env)
        assert done.returncode == 2, args
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("timconform: error:"), done.stderr


CONTROL_TOKEN = "suite-cli-control-token"


def _state(port: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_timconform/state",
                                     headers={"Authorization": f"Bearer {CONTROL_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def emulator_process():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "timconform.cli", "emulator", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TIMCONFORM_CONTROL_TOKEN": CONTROL_TOKEN})
    assert "timconform emulator on" in process.stdout.readline()
    yield port
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def _pool_only(state: dict) -> bool:
    return all(a.startswith("timconform_pool_") or a == CREDENTIALS["TIMCONFORM_IDENTIFIER"] for a in state["accounts"])


def test_staging_leaves_no_friendships_and_no_accounts_outside_its_pool(emulator_process, tmp_path):
    done = timconform("run", "--target", f"http://127.0.0.1:{emulator_process}", "--profile", "staging",
                      "--seed", "2", "--rate-limit", "200", env=CREDENTIALS, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    state = _state(emulator_process)
    assert state["friendships"] == 0
    assert _pool_only(state) and len(state["accounts"]) > 1
    assert not (tmp_path / ".timconform" / "staging-ledger.jsonl").exists()


def test_a_killed_staging_run_is_finished_by_cleanup(emulator_process, tmp_path):
    target = f"http://127.0.0.1:{emulator_process}"
    process = subprocess.Popen([sys.executable, "-m", "timconform.cli", "run", "--target", target, "--profile",
                                "staging", "--seed", "3", "--rate-limit", "200"], cwd=tmp_path,
                               env={**os.environ, **CREDENTIALS}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    ledger = tmp_path / ".timconform" / "staging-ledger.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _state(emulator_process)["friendships"] < 5:
        time.sleep(0.05)
    process.kill()  # SIGKILL: no finally block runs, as when a CI job is cancelled
    process.wait(timeout=10)
    assert _state(emulator_process)["friendships"] >= 5, "the run was killed before it made friendships"
    assert ledger.exists()
    done = timconform("cleanup", "--ledger", str(ledger), env=CREDENTIALS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    state = _state(emulator_process)
    assert state["friendships"] == 0 and _pool_only(state)
    assert not ledger.exists()


def test_cleanup_with_wrong_credentials_keeps_the_ledger_and_the_friendship_until_it_can_delete_it(emulator_process,
                                                                                                    tmp_path):
    """A wrong secret key used to print "cleanup done", drop the ledger and leave the friendship: now the
    credentials are checked first (exit 2, one line naming the setting), and the ledger stays until a cleanup
    with the right key deletes what it names."""
    from timconform import usersig

    port = emulator_process
    sig = usersig.generate(1400000000, CREDENTIALS["TIMCONFORM_IDENTIFIER"], CREDENTIALS["TIMCONFORM_SECRET_KEY"])
    query = f"sdkappid=1400000000&identifier={CREDENTIALS['TIMCONFORM_IDENTIFIER']}&usersig={sig}&random=1&contenttype=json"
    for path, body in (("/v4/im_open_login_svc/multiaccount_import", {"Accounts": ["ledger_a", "ledger_b"]}),
                       ("/v4/sns/friend_import", {"From_Account": "ledger_a", "AddFriendItem": [
                           {"To_Account": "ledger_b", "AddSource": "AddSource_Type_Test"}]})):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}?{query}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["ActionStatus"] == "OK"
    ledger = tmp_path / "ledger.jsonl"
    target = f"http://127.0.0.1:{port}"
    ledger.write_text(json.dumps({"target": f"{target} ({target})", "sdkappid": 1400000000,
                                  "identifier": CREDENTIALS["TIMCONFORM_IDENTIFIER"]}) + "\n"
                      + json.dumps({"pairs": [["ledger_a", "ledger_b"]]}) + "\n")
    wrong = timconform("cleanup", "--ledger", str(ledger), env={**CREDENTIALS, "TIMCONFORM_SECRET_KEY": "w" * 64})
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    assert "TIMCONFORM_SECRET_KEY" in wrong.stderr and ledger.exists()
    assert _state(port)["friendships"] == 1
    right = timconform("cleanup", "--ledger", str(ledger), env=CREDENTIALS)
    assert right.returncode == 0, right.stderr
    assert not ledger.exists() and _state(port)["friendships"] == 0
