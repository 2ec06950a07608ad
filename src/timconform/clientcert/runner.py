"""``timconform certify-client``: run a client's adapter once per scenario against a fresh emulator.

For each scenario: a new emulator with the scenario's accounts and fault plan on a loopback port,
wrapped by the recorder; the CONNECT proxy pointed at it; the adapter started with the connection in
its environment; then the adapter's exit code and the emulator's friend tables are kept for grading.
Nothing leaves the machine: the emulator and both proxies listen on 127.0.0.1, and the CONNECT proxy
forwards only to the emulator.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timconform import __version__
from timconform import spec as spec_module
from timconform.clientcert import scenarios as scenarios_module
from timconform.clientcert.checks import Expected
from timconform.clientcert.grade import ScenarioRun, grade
from timconform.clientcert.recording import Journal, RecordingApp, SigJudge
from timconform.clientcert.scenarios import Scenario
from timconform.clientcert.tlsproxy import CertificateAuthority, ConnectProxy, api_hosts
from timconform.report.model import RunResult
from timconform.report.redact import Redactor

ENV_INPUT, ENV_SCENARIO = "TIMCONFORM_SCENARIO_INPUT", "TIMCONFORM_SCENARIO"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY", "WS_PROXY", "WSS_PROXY")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
DEFAULT_TIME_LIMIT = 60.0
LOOPBACK_NAMES = "127.0.0.1,localhost,::1"
OUTPUT_TAIL_LINES = 5
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class CommandCannotStart(Exception):
    """The adapter could not be started at all (not found, not executable): exit code 2."""


class UnknownScenario(ValueError):
    """A --scenarios name that does not exist: exit code 2."""


@dataclass
class Certification:
    result: RunResult
    redactor: Redactor
    runs: list[ScenarioRun]

    def regrade(self, *, strict: bool) -> RunResult:
        """The same recordings graded again (e.g. --strict), without running anything."""
        meta = dict(self.result.meta, strict=strict)
        config = self.result.meta.get("config", {})
        return grade(spec_module.load(), self.runs, strict=strict, meta=meta,
                     expected=Expected(config.get("sdkappid"), config.get("identifier")))


def select(names: Sequence[str] | None, spec: spec_module.Spec) -> list[Scenario]:
    every = scenarios_module.all_scenarios(rate_limit_code(spec))
    if not names:
        return list(every)
    known = {s.name: s for s in every}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownScenario(f"unknown scenario {unknown[0]!r}; the scenarios are: {', '.join(known)}")
    wanted = set(names)
    return [s for s in every if s.name in wanted]


def rate_limit_code(spec: spec_module.Spec) -> int:
    """The code the emulator answers a call over the rate with (OPEN-RATE-LIMIT-CODE's default)."""
    rule = spec.rules["OPEN-RATE-LIMIT-CODE"]
    return rule.outcome(rule.default).codes[0]


def check_command(command: Sequence[str], env: Mapping[str, str]) -> None:
    if not command:
        raise CommandCannotStart("no command given: timconform certify-client [options] -- COMMAND...")
    program = command[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        if not Path(program).is_file():
            raise CommandCannotStart(f"cannot start {program}: no such file")
        if not os.access(program, os.X_OK):
            raise CommandCannotStart(f"cannot start {program}: not executable")
    elif shutil.which(program, path=env.get("PATH")) is None:
        raise CommandCannotStart(f"cannot start {program}: not found on PATH")


def certify(command: Sequence[str], *, scenarios: Sequence[str] | None = None, strict: bool = False,
            time_limit: float = DEFAULT_TIME_LIMIT, env: Mapping[str, str] | None = None, cwd: str | None = None,
            progress: Callable[[str, str, float], Any] | None = None, started: float | None = None,
            isolation: str = "not isolated (certified in-process)") -> Certification:
    """Run ``command`` once per scenario and grade it. Raises CommandCannotStart, UnknownScenario.

    ``started``: when the user's command began (time.time()), so the duration is the wall time waited."""
    from timconform.emulator.config import DEMO_ADMIN, DEMO_SDKAPPID

    spec = spec_module.load()
    chosen = select(scenarios, spec)
    base_env = dict(os.environ if env is None else env)
    check_command(command, base_env)
    secret = secrets.token_hex(32)  # a key made for this run: nothing real can leak
    redactor = Redactor(secret)
    started = started if started is not None else time.time()
    runs: list[ScenarioRun] = []
    with tempfile.TemporaryDirectory(prefix="timconform-certify-") as tmp:
        ca = CertificateAuthority(Path(tmp) / "ca")
        with ConnectProxy(ca, api_hosts(spec)) as proxy:
            for scenario in chosen:
                run = run_scenario(scenario, command, secret=secret, proxy=proxy, ca_file=ca.cert_file,
                                   workdir=Path(tmp), base_env=base_env, cwd=cwd, time_limit=time_limit, spec=spec)
                runs.append(run)
                if progress is not None:
                    done, importable = run.counts()
                    status = run.error or (f"{run.exit_text()}, {len(run.imports())} friend_import request(s), "
                                           f"{done}/{importable} imported")
                    progress(scenario.name, status, run.duration_s)
    meta = {"suite_version": __version__, "spec_sha256": spec.sha256,
            "target": f"client: {shlex.join(command)}", "profile": "certify-client", "strict": strict, "seed": None,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "python": sys.version.split()[0], "isolation": isolation,
            "config": {"command": list(command), "scenarios": [s.name for s in chosen],
                       "scenario_time_limit_s": time_limit, "sdkappid": DEMO_SDKAPPID, "identifier": DEMO_ADMIN,
                       "secret_key": "<made for this run>", "emulator_rate_limit": "documented (200/s)"}}
    result = grade(spec, runs, strict=strict, meta=meta, expected=Expected(DEMO_SDKAPPID, DEMO_ADMIN))
    result.meta["duration_s"] = round(time.time() - started, 3)  # grading included
    return Certification(result, redactor, runs)


def child_env(base: Mapping[str, str], *, target: str, sdkappid: int, identifier: str, secret: str,
              input_path: Path, scenario: str, proxy_url: str, ca_file: Path) -> dict[str, str]:
    """The adapter's environment: the connection, the scenario input, and the proxy for hard-coded hosts."""
    env = {k: v for k, v in base.items()
           if k.upper() not in PROXY_VARIABLES and k.upper() not in CA_VARIABLES and not k.startswith("TIMCONFORM_")}
    env.update({"TIMCONFORM_TARGET": target, "TIMCONFORM_SDKAPPID": str(sdkappid),
                "TIMCONFORM_IDENTIFIER": identifier, "TIMCONFORM_SECRET_KEY": secret,
                ENV_INPUT: str(input_path), ENV_SCENARIO: scenario})
    # Every proxy variable points at the CONNECT proxy (it refuses anything but the API domains), and only
    # loopback bypasses it: a client cannot reach a real host through an inherited proxy setting.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        env[name] = proxy_url
    env["NO_PROXY"] = env["no_proxy"] = LOOPBACK_NAMES
    for name in CA_VARIABLES:
        env[name] = str(ca_file)
    return env


def run_scenario(scenario: Scenario, command: Sequence[str], *, secret: str, proxy: ConnectProxy, ca_file: Path,
                 workdir: Path, base_env: Mapping[str, str], cwd: str | None, time_limit: float,
                 spec: spec_module.Spec) -> ScenarioRun:
    from timconform.emulator.app import Emulator
    from timconform.emulator.config import EmulatorConfig
    from timconform.emulator.serve import start_in_thread

    began = time.monotonic()
    try:
        emulator = Emulator(EmulatorConfig(secret_key=secret), spec=spec)
        for account in scenario.accounts():
            emulator.model.account_import(emulator.app_state, account)
        emulator.install_faults([dict(f) for f in scenario.faults])
        config = emulator.config
        journal = Journal()
        app = RecordingApp(emulator, SigJudge(secret, sdkappid=config.sdkappid, clock=config.clock), journal)
        running = start_in_thread(app)  # type: ignore[arg-type] - any ASGI app serves
    except Exception as exc:  # noqa: BLE001 - a harness failure is an Error, never the client's Fail
        return ScenarioRun(scenario, [], None, time.monotonic() - began, {}, error=f"the emulator did not start: {exc}",
                           time_limit_s=time_limit)
    try:
        app.base_url = running.base_url
        proxy.upstream = running.base_url
        proxy.log.clear()
        input_path = workdir / f"input-{scenario.name}.json"
        input_path.write_text(json.dumps(scenario.input_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        env = child_env(base_env, target=running.base_url, sdkappid=config.sdkappid, identifier=config.admins[0],
                        secret=secret, input_path=input_path, scenario=scenario.name, proxy_url=proxy.url,
                        ca_file=ca_file)
        exit_code, tail = _run_command(command, env, cwd, time_limit, workdir / f"output-{scenario.name}.txt")
        _drain(journal, timeout=scenarios_module.SLOW_SECONDS + 2)
        friends = {sender: set(emulator.model.store.friends_of(emulator.app_state, sender))
                   for sender in scenario.wanted()}
        return ScenarioRun(scenario, journal.records(), exit_code, time.monotonic() - began, friends,
                           output_tail=tail, time_limit_s=time_limit, connects=proxy.log.snapshot())
    finally:
        running.stop()


def _run_command(command: Sequence[str], env: dict[str, str], cwd: str | None, time_limit: float,
                 output: Path) -> tuple[int | None, list[str]]:
    with output.open("wb") as sink:
        try:
            process = subprocess.Popen(list(command), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       preexec_fn=die_with_parent)
        except OSError as exc:
            raise CommandCannotStart(f"cannot start {command[0]}: {exc.strerror or exc}") from None
        try:
            exit_code: int | None = process.wait(timeout=time_limit)
        except BaseException as exc:
            # Over the time limit (or Ctrl-C): stop the adapter's own process group. The leader is not reaped
            # yet, so the group id is still the adapter's and no other process can hold it.
            exit_code = None
            _stop_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                _stop_group(process, signal.SIGKILL)
                process.wait()
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
    lines = output.read_bytes().decode("utf-8", "replace").splitlines()
    return exit_code, [line[:300] for line in lines[-OUTPUT_TAIL_LINES:]]


def die_with_parent() -> None:
    """In the adapter, before it runs: on Linux, have the kernel stop it if certify-client dies (even by
    SIGKILL, when no cleanup of ours can run). Elsewhere nothing: the time limit and signals still stop it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # no prctl (not Linux): the adapter is still stopped by its process group at the scenario's end


def _stop_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the adapter's own process group (it was started in a new session, so the group is ours)."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group has already ended: nothing is left to stop


def _drain(journal: Journal, *, timeout: float) -> None:
    """Wait until the emulator has answered every request that arrived (a killed client's included)."""
    deadline = time.monotonic() + timeout
    while journal.in_flight() and time.monotonic() < deadline:
        time.sleep(0.02)
