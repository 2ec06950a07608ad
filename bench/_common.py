"""What every benchmark shares: the machine's description, loopback servers in subprocesses, wrk.

Nothing here is imported by the package or the tests; the benchmarks run on demand (bench/README.md).
Every server is started by us, on 127.0.0.1, and stopped by its own process id (and its own session
group, for Node's children) when the benchmark ends, also after an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOOPBACK = "127.0.0.1"
# The public demo key of Tencent's tls-sig-api-v2 README: the emulator's default, never a real secret.
DEMO_SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
SDKAPPID = 1400000000
ADMIN = "administrator"
PRISM = BENCH / ".node" / "node_modules" / ".bin" / "prism"


def machine() -> dict[str, str]:
    """nproc, CPU model, Python, date: the header of every result."""
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release()}


def print_machine(extra: dict[str, str] | None = None) -> None:
    info = machine() | (extra or {})
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))


def usersig(identifier: str = ADMIN, expire: int = 86400) -> str:
    """A UserSig made the documented way: `timconform usersig` with TIMCONFORM_SECRET_KEY set."""
    env = os.environ | {"TIMCONFORM_SECRET_KEY": DEMO_SECRET_KEY}
    out = subprocess.run([_timconform(), "usersig", "--sdkappid", str(SDKAPPID), "--identifier", identifier,
                          "--expire", str(expire)], env=env, capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def query(sig: str, random: int = 12345) -> str:
    return f"sdkappid={SDKAPPID}&identifier={ADMIN}&usersig={sig}&random={random}&contenttype=json"


def _timconform() -> str:
    found = shutil.which("timconform") or str(Path(sys.executable).with_name("timconform"))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {LOOPBACK}:{port} within {timeout:.0f} s")


@contextlib.contextmanager
def server(argv: Sequence[str], port: int, *, env: dict[str, str] | None = None, log: Path | None = None,
           cwd: Path = ROOT, startup_timeout: float = 60.0) -> Iterator[subprocess.Popen]:
    """Run ``argv`` (which listens on ``port``) in its own session; stop it by its id afterwards."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(list(argv), cwd=cwd, env=(os.environ | (env or {})), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_for_port(port, proc, startup_timeout)
        yield proc
    finally:
        _stop(proc)
        if log:
            out.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    # Node may leave children in the session we created for it (its id is the server's pid).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_json(url: str, timeout: float = 30.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


# -- wrk ---------------------------------------------------------------------------------------------------

WRK_SCRIPT = BENCH / "wrk_post.lua"


def wrk_version() -> str:
    if not shutil.which("wrk"):
        return "absent"
    proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    return (proc.stdout + proc.stderr).split("\n")[0].split(" Copyright")[0].strip()


def run_wrk(url: str, body_file: Path, *, threads: int = 1, connections: int = 16, duration: int = 5,
            timeout_s: int = 10, senders: int = 0) -> dict:
    """``wrk -t1 -c16 -d5s`` POSTing ``body_file``: requests/s, p50/p99 latency (ms), errors. ``senders``: each
    request's From_Account drawn from that many users (wrk_post.lua)."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"--timeout={timeout_s}s",
            "-s", str(WRK_SCRIPT), url, "--", str(body_file), *([str(senders)] if senders else [])]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + timeout_s + 30)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    data = json.loads(line[len("WRK_JSON "):])
    seconds = data["duration_us"] / 1e6
    errors = sum(data[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_timeout"))
    return {"rps": data["requests"] / seconds, "p50_ms": data["p50_us"] / 1000, "p99_ms": data["p99_us"] / 1000,
            "requests": data["requests"], "non2xx": data["errors_status"], "socket_errors": errors,
            "command": " ".join(argv)}


def require(tool: str, hint: str) -> None:
    if not shutil.which(tool) and not Path(tool).exists():
        sys.exit(f"{tool} not found: {hint}")
