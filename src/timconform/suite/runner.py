"""Runs the scenarios of a profile against a target and returns the results tree."""

from __future__ import annotations

import os
import platform
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from timconform import __version__
from timconform import spec as spec_module
from timconform.oracle.recorder import Recorder, target_rules
from timconform.report.model import RunResult
from timconform.report.redact import Redactor
from timconform.suite import staging
from timconform.suite.profiles import PROFILES
from timconform.suite.registry import Scenario, load_all
from timconform.suite.preflight import CredentialsRefused, preflight
from timconform.suite.session import NotReached, Session, SetupFailed
from timconform.target import (DEFAULT_QPS, ENV_TARGET, BudgetExhausted, Client, ConfigurationError, TargetUnavailable,
                               custom_tags_from_env, in_process, resolve)

MAX_QPS = 200.0  # the documented limit (FI-RATE-LIMIT-200): the suite never paces above it


@dataclass
class RunConfig:
    target: str | None = None
    profile: str = "standard"
    strict: bool = False
    seed: int | None = None
    max_examples: int | None = None
    rate_limit: float | None = None
    rules: tuple[str, ...] = ()
    skip_rules: tuple[str, ...] = ()
    budget: int | None = None
    ca_bundle: str | None = None
    ledger: Path | None = None  # staging: where the friendship ledger lives
    app: Any = None  # an ASGI app to certify in-process instead of a named target (tests, mutants)
    app_url: str = "http://emulator"  # where that app stands (https:// for a stand-in for a TLS endpoint)
    cassette: Path | None = None  # record every exchange here (parity/cassette.py)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def check_config(config: RunConfig, spec: spec_module.Spec) -> None:
    if config.profile not in PROFILES:
        raise ConfigurationError(f"unknown profile {config.profile!r}: use {', '.join(PROFILES)}")
    unknown = [r for r in (*config.rules, *config.skip_rules) if r not in spec.rules]
    if unknown:
        raise ConfigurationError(f"unknown rule id {unknown[0]!r} (see schemas/rules.yaml)")
    client_rules = [r for r in config.rules if r not in target_rules(spec)]
    if client_rules:
        raise ConfigurationError(f"{client_rules[0]} grades clients, not targets: use timconform certify-client")
    if config.rate_limit is not None and not 0 < config.rate_limit <= MAX_QPS:
        raise ConfigurationError(f"--rate-limit must be above 0 and at most {MAX_QPS:g} calls/s (the documented limit)")
    if config.max_examples is not None and config.max_examples < 1:
        raise ConfigurationError("--max-examples must be at least 1")


def run(config: RunConfig, *, progress_factory=None) -> tuple[RunResult, Redactor]:
    """Run the profile's scenarios; ``progress_factory(total)`` may return a console Progress."""
    spec = spec_module.load()
    check_config(config, spec)
    profile = PROFILES[config.profile]
    if config.max_examples is not None:
        profile = type(profile)(**{**profile.__dict__, "examples": config.max_examples})
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
    target_name = config.target or config.env.get(ENV_TARGET) or "emulator"
    target, creds = in_process(config.app, config.env, base_url=config.app_url) if config.app is not None else \
        resolve(target_name, spec, config.env)
    redactor = Redactor(creds.secret_key)
    scope = target_rules(spec)
    selected = set(config.rules) if config.rules else set(scope)
    selected -= set(config.skip_rules)
    if not selected:  # a run that checks nothing must not say PASS
        raise ConfigurationError("--rules and --skip-rules leave no rule to check")
    if profile.pool and not config.rules:
        selected -= _unshared_only_rules()  # need more accounts than the pool, or create accounts
    recorder = Recorder(spec, selected=selected, strict=config.strict, scope=scope)
    client = Client(target, creds, spec, redactor, qps=config.rate_limit or DEFAULT_QPS,
                    budget=config.budget or profile.budget, verify=config.ca_bundle or True)
    tags = target.custom_tags if target.custom_tags is not None else custom_tags_from_env(config.env)
    session = Session(spec, client, recorder, profile, seed, custom_tags=tags)
    cassette = _cassette(config, session, target, profile, seed) if config.cassette else None
    started = time.time()
    unreachable = None
    try:
        preflight(client, spec)
    except TargetUnavailable as exc:  # nothing answers: one cause for every rule, no scenario sent
        unreachable = f"{target.describe()} is unreachable: {redactor.text(str(exc))}"
        recorder.errored(selected, unreachable)
    except CredentialsRefused:
        client.close()
        if cassette is not None:
            cassette.close()
        raise
    try:
        if unreachable is None:
            _run_all(config, session, target, creds, profile, progress_factory, selected)
        else:
            client.close()
    finally:
        if cassette is not None:
            cassette.close()
    meta = {"suite_version": __version__, "spec_sha256": spec.sha256, "target": target.describe(),
            "target_kind": target.kind, "profile": profile.name, "seed": seed, "strict": config.strict,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_s": round(time.time() - started, 3), "calls": client.calls,
            "python": platform.python_version(),
            "config": {"sdkappid": creds.sdkappid, "identifier": creds.identifier, "secret_key": "<redacted>",
                       "custom_tags": list(session.custom_tags), "rate_limit": config.rate_limit or DEFAULT_QPS,
                       "max_examples": profile.examples, "rules": sorted(config.rules),
                       "skip_rules": sorted(config.skip_rules), "budget": config.budget or profile.budget}}
    if unreachable is not None:
        meta["unreachable"] = unreachable
    if getattr(session, "cleanup_left", None):
        meta["cleanup_incomplete"] = redactor.text(session.cleanup_left)
    coverage = _coverage(spec, client.codes)
    return RunResult(meta, recorder.results(), coverage, recorder.observed_profile()), redactor


def _run_all(config: RunConfig, session: Session, target, creds, profile, progress_factory, selected) -> None:
    scenarios = _scenarios(profile.name, selected)
    progress = progress_factory(len(scenarios)) if progress_factory else None
    client = session.client
    try:
        ledger = _start_staging(config, session, target, creds) if profile.pool else None
    except SetupFailed as exc:  # the pool's accounts were refused: nothing else can be reached
        client.close()
        exc.record(session.recorder, selected, "importing the staging pool")
        return
    try:
        for scenario in scenarios:
            _run_scenario(scenario, session, target, profile, progress)
    finally:
        try:
            if ledger is not None:  # also after a failure or Ctrl-C
                if session.recorder.cassette is not None:
                    session.recorder.cassette.scenario = "staging-cleanup"
                try:
                    staging.cleanup(client, ledger, batch=session.spec.limit("friend_delete_items"))
                except (staging.CleanupIncomplete, TargetUnavailable) as exc:
                    session.cleanup_left = f"{exc}; the ledger {ledger.path} is kept: run 'timconform cleanup'"
        finally:
            client.close()


def _cassette(config: RunConfig, session: Session, target, profile, seed: int):
    from timconform.parity.cassette import CassetteWriter

    client = session.client
    writer = CassetteWriter(config.cassette, redactor=client.redactor, usersigs=client.usersigs, creds=client.creds,
                            header={"suite_version": __version__, "spec_sha256": session.spec.sha256,
                                    "target": target.describe(), "target_kind": target.kind, "profile": profile.name,
                                    "seed": seed, "account_prefix": session.run_prefix,
                                    "sdkappid": client.creds.sdkappid, "identifier": client.creds.identifier,
                                    "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    writer.scenario = "preflight"
    client.tap = session.recorder.cassette = writer
    return writer


def _coverage(spec: spec_module.Spec, codes: Mapping[int, int]) -> dict[str, Any]:
    """The catalogue codes the run drew from the target (on any operation), the friend_import codes it never
    drew, and the codes the catalogue does not know."""
    return {"elicited": {str(c): n for c, n in sorted(codes.items()) if c in spec.codes},
            "unknown": {str(c): n for c, n in sorted(codes.items()) if c not in spec.codes},
            "not_elicited": sorted(c for c in spec.codes if spec.codes[c].applies_to("friend_import")
                                   and c not in codes)}


def _unshared_only_rules() -> set[str]:
    """Rules only scenarios unfit for a shared tenant exercise: Disabled in staging unless asked for."""
    scenarios = load_all()
    unshared = {r for s in scenarios if s.needs & {"large", "creates-accounts"} for r in s.rules}
    shared = {r for s in scenarios if not s.needs & {"large", "creates-accounts"} for r in s.rules}
    return unshared - shared


def _start_staging(config: RunConfig, session: Session, target, creds) -> staging.Ledger:
    ledger = staging.Ledger(config.ledger or staging.DEFAULT_LEDGER)
    try:
        if ledger.path.exists() and ledger.empty():  # killed before it intended anything: nothing to finish
            ledger.remove()
        _finish_earlier_run(ledger, session, target, creds)
    except staging.LedgerError as exc:
        raise ConfigurationError(str(exc)) from None
    ledger.start(target=target.describe(), sdkappid=creds.sdkappid, identifier=creds.identifier)
    session.ledger = ledger
    session.pool = staging.pool_names(session.profile.pool)
    if session.recorder.cassette is not None:
        session.recorder.cassette.flush()
        session.recorder.cassette.scenario = "staging-pool"
    session.import_accounts(session.pool)
    return ledger


def _finish_earlier_run(ledger: staging.Ledger, session: Session, target, creds) -> None:
    """An interrupted run's ledger: finished here when it is this target's and app's, else refused."""
    if not ledger.path.exists():
        return
    header = ledger.header()
    if header["target"] != target.describe() or header["sdkappid"] != creds.sdkappid:
        raise ConfigurationError(f"{ledger.path} holds an interrupted run against {header['target']} (SDKAppID "
                                 f"{header['sdkappid']}): finish it with 'timconform cleanup --ledger {ledger.path}' "
                                 f"first")
    try:
        staging.cleanup(session.client, ledger, batch=session.spec.limit("friend_delete_items"))
    except staging.CleanupIncomplete as exc:
        raise ConfigurationError(f"could not finish the interrupted run in {ledger.path}: {exc}; the ledger is "
                                 f"kept") from None


def _scenarios(profile: str, selected: set[str]) -> list[Scenario]:
    return [s for s in load_all() if profile in s.profiles and selected.intersection(s.rules)]


def _not_applicable(scenario: Scenario, session: Session, target, profile) -> str | None:
    if "large" in scenario.needs and not profile.large:
        return f"needs more accounts than the {profile.name} profile's pool (run another profile to check it)"
    if "creates-accounts" in scenario.needs and profile.pool:
        return "creates or deletes accounts, which the staging profile never does on a shared tenant"
    if "custom-tags" in scenario.needs and not session.custom_tags:
        return "the target has no custom friend tags configured (set TIMCONFORM_CUSTOM_TAGS)"
    if "open-rules" in scenario.needs and not profile.open_rules:
        return f"the {profile.name} profile does not probe open questions"
    if "full" in scenario.needs and profile.name != "full":
        return f"sent in the full profile only, not in {profile.name}"
    if "https" in scenario.needs and not target.base_url.startswith("https://"):
        return "the target is addressed over plain HTTP (an emulator on loopback or a test server), which the rule exempts"
    if "rate-burst" in scenario.needs:
        if target.kind == "region":
            return "the rate-limit burst is never sent to a region's endpoint"
        if profile.name == "staging":
            return "the rate-limit burst is never sent in the staging profile"
    return None


def _run_scenario(scenario: Scenario, session: Session, target, profile, progress) -> None:
    recorder = session.recorder
    reason = _not_applicable(scenario, session, target, profile)
    if reason:
        recorder.skipped(scenario.rules, reason)
        if progress:
            progress.step(scenario.name, "skip")
        return
    started = time.perf_counter()
    status = "ok"
    redact = session.client.redactor.text
    recorder.context = scenario.name
    cassette = recorder.cassette
    if cassette is not None:
        cassette.flush()  # what came before (the preflight, the staging pool) under its own name
        cassette.scenario, cassette.not_replayable = scenario.name, scenario.replay
    try:
        scenario.fn(session)
    except SetupFailed as exc:  # a documented-valid call refused: the Fail of the rule that makes it valid
        exc.record(recorder, scenario.rules, f"in scenario {scenario.name}")
        status = "fail"
    except (NotReached, BudgetExhausted) as exc:
        recorder.skipped(scenario.rules, f"not reached ({scenario.name}): {redact(str(exc))}")
        status = "skip"
    except TargetUnavailable as exc:
        recorder.errored(scenario.rules, f"{scenario.name}: {redact(str(exc))}")
        status = "error"
    except Exception as exc:  # noqa: BLE001 - a harness bug is an Error of the run, never a Fail of the target
        recorder.errored(scenario.rules, f"{scenario.name}: harness error {type(exc).__name__}: "
                                         f"{redact(str(exc))[:300]}")
        status = "error"
    finally:
        recorder.context = None
        if cassette is not None:
            cassette.flush()
            cassette.scenario, cassette.not_replayable = None, None
    if progress:
        progress.step(scenario.name, status, time.perf_counter() - started)


def write_outputs(result: RunResult, redactor: Redactor, report_dir: Path | None) -> list[Path]:
    if report_dir is None:
        return []
    from timconform.report.write import write_reports

    return write_reports(result, report_dir, redactor)
