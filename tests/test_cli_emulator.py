"""`timconform emulator` as a user runs it: starts, serves on loopback, stops cleanly on SIGTERM and
Ctrl-C, refuses bad options with exit 2 and one line, and never prints the secret key.

Every subprocess gets a timeout and is killed (by its own pid) if a test fails half-way.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from timconform import usersig

SDKAPPID = 1400000000
ADMIN = "administrator"
CANARY = "canary-secret-6f1d2a9c3b7e4f58a0c1d2e3f4a5b6c7"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 8.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TIMCONFORM_SECRET_KEY"}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class _Served:
    """A running `timconform emulator` process whose stdout is read in the background."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "timconform.cli", "emulator", "--port", str(self.port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._started.set()
        self._started.set()

    def wait_started(self) -> str:
        assert self._started.wait(STARTUP_TIMEOUT), "no startup line within the timeout"
        assert self.lines, f"exited before printing a startup line: {self.proc.poll()}, {self._stderr_now()}"
        return self.lines[0]

    def _stderr_now(self) -> str:
        if self.proc.poll() is None:
            return "<still running>"
        return self.proc.stderr.read() if self.proc.stderr else ""

    def stop(self, sig: int) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        try:
            _, stderr = self.proc.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the emulator did not stop within {STOP_TIMEOUT}s of signal {sig}")
        self._reader.join(timeout=2)
        return self.proc.returncode, "".join(self.lines), stderr

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=5)


def _post(port: int, path: str, body: dict, secret: str) -> dict:
    sig = usersig.generate(SDKAPPID, ADMIN, secret)
    url = (f"http://127.0.0.1:{port}{path}?sdkappid={SDKAPPID}&identifier={ADMIN}&usersig={sig}"
           f"&random=99999999&contenttype=json")
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def _serve_one_import(port: int, secret: str) -> None:
    created = _post(port, "/v4/im_open_login_svc/multiaccount_import", {"Accounts": ["cli_a", "cli_b"]}, secret)
    assert created["ActionStatus"] == "OK", created
    imported = _post(port, "/v4/sns/friend_import",
                     {"From_Account": "cli_a", "AddFriendItem": [{"To_Account": "cli_b", "AddSource": "AddSource_Type_Cli"}]},
                     secret)
    assert imported["ActionStatus"] == "OK" and imported["ErrorCode"] == 0, imported
    assert imported["ResultItem"] == [{"To_Account": "cli_b", "ResultCode": 0, "ResultInfo": ""}]
    checked = _post(port, "/v4/sns/friend_check",
                    {"From_Account": "cli_a", "To_Account": ["cli_b"], "CheckType": "CheckResult_Type_Single"}, secret)
    assert checked["InfoItem"][0]["Relation"] == "CheckResult_Type_AWithB", checked


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_emulator_command_serves_on_loopback_and_stops_cleanly(sig: int) -> None:
    """FI-HTTP-200 over a real socket: the CLI serves a valid import, then exits 0 on SIGTERM or Ctrl-C
    without a traceback; the startup line and the logs never show the secret key."""
    served = _Served(env=_env(TIMCONFORM_SECRET_KEY=CANARY))
    try:
        line = served.wait_started()
        assert f"http://127.0.0.1:{served.port}" in line
        assert CANARY not in line
        _serve_one_import(served.port, CANARY)
        code, stdout, stderr = served.stop(sig)
    finally:
        served.kill()
    assert code == 0, f"exit code {code} after {signal.Signals(sig).name}; stderr: {stderr!r}"
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr
    assert CANARY not in stdout and CANARY not in stderr


def test_emulator_command_stops_cleanly_on_a_signal_right_after_startup() -> None:
    """A SIGTERM sent as soon as the startup line appears (before any request) still exits 0."""
    served = _Served(env=_env())
    try:
        served.wait_started()
        code, _, stderr = served.stop(signal.SIGTERM)
    finally:
        served.kill()
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_startup_line_announces_a_port_that_already_accepts_connections() -> None:
    """The startup line promises http://host:port: a client that connects at once must not be refused."""
    served = _Served(env=_env())
    try:
        served.wait_started()
        with socket.create_connection(("127.0.0.1", served.port), timeout=5):
            pass
        _serve_one_import(served.port, _demo_key())
    finally:
        served.kill()


def _demo_key() -> str:
    from timconform.emulator.config import DEMO_SECRET_KEY

    return DEMO_SECRET_KEY


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timconform.cli", *args], capture_output=True, text=True,
                          timeout=30, env=env or _env())


def _assert_usage_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {lines!r}"
    assert lines[0].startswith("timconform: error:"), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    unknown_outcome = root / "unknown-outcome.yaml"
    unknown_outcome.write_text("OPEN-EXISTING-FRIEND: no-such-outcome\n", encoding="utf-8")
    unknown_rule = root / "unknown-rule.yaml"
    unknown_rule.write_text("NO-SUCH-RULE: overwrite\n", encoding="utf-8")
    unhashable_fault = root / "unhashable-fault.yaml"
    unhashable_fault.write_text("faults:\n  - {action: delay, operation: [friend_import], seconds: 1}\n",
                                encoding="utf-8")
    not_utf8 = root / "not-utf8.yaml"
    not_utf8.write_bytes(b"\xff\xfe: x\n")
    not_a_mapping = root / "list.yaml"
    not_a_mapping.write_text("- a\n- b\n", encoding="utf-8")
    return {"unknown-outcome": unknown_outcome, "unknown-rule": unknown_rule, "list": not_a_mapping,
            "missing": root / "missing.yaml", "unhashable-fault": unhashable_fault, "not-utf8": not_utf8}


@pytest.mark.parametrize("case", [
    ("--port", "99999"),
    ("--port", "-1"),
    ("--port", "eighty"),
    ("--custom-tags", "bad"),
    ("--custom-tags", "Tag_SNS_Custom_Ok,Tag_SNS_Custom_TooLongKeyword"),
    ("--behaviour", "missing.yaml"),
    ("--behaviour", "@unknown-outcome"),
    ("--behaviour", "@unknown-rule"),
    ("--behaviour", "@list"),
    ("--behaviour", "@not-utf8"),
    ("--faults", "@unhashable-fault"),
    ("--faults", "@list"),
    ("--accounts", "@list"),
    ("--accounts", "@not-utf8"),
    ("--rate-limit", "fast"),
    ("--edition", "gold"),
], ids=lambda c: " ".join(c))
def test_bad_emulator_options_exit_2_with_one_line(case: tuple[str, str], bad_files: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """Usage errors (DESIGN: exit 2): one line on stderr naming the problem, nothing served, no traceback."""
    option, value = case
    if value.startswith("@"):
        value = str(bad_files[value[1:]])
    elif value == "missing.yaml":
        value = str(tmp_path / "missing.yaml")
    result = _run_cli("emulator", "--port", str(_free_port()), option, value)
    _assert_usage_error(result)


def test_behaviour_file_pinning_an_unknown_outcome_names_rule_and_outcome(bad_files: dict[str, Path]) -> None:
    result = _run_cli("emulator", "--port", str(_free_port()), "--behaviour", str(bad_files["unknown-outcome"]))
    _assert_usage_error(result, "OPEN-EXISTING-FRIEND", "no-such-outcome")


def test_port_already_in_use_is_a_usage_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = _run_cli("emulator", "--port", str(port))
    _assert_usage_error(result, f"127.0.0.1:{port}")


def test_usage_errors_never_print_the_secret_key(bad_files: dict[str, Path]) -> None:
    result = _run_cli("emulator", "--port", "99999", env=_env(TIMCONFORM_SECRET_KEY=CANARY))
    assert result.returncode == 2
    assert CANARY not in result.stderr and CANARY not in result.stdout
