"""The timconform command line. Exit codes (DESIGN.md): 0 no Fail, 1 a Fail, 2 usage or configuration
error, 3 an Error and no Fail. Secrets come only from the environment, never from an option."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CASSETTE_DIR = ".timconform"
STARTED = time.time()  # the command's start: a report's duration is the wall time the user waited
EXIT_USAGE = 2
EXIT_INTERNAL = 3  # the harness failed (DESIGN.md): never 1, which means a rule failed
SECRET_ENV = "TIMCONFORM_SECRET_KEY"


class UsageError(Exception):
    """A bad option or missing configuration: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, not argparse's usage block
        raise UsageError(message)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _sdkappid(text: str) -> int:
    value = int(text)
    if not 0 < value < 2**64:
        raise argparse.ArgumentTypeError(f"an SDKAppID is an unsigned 64-bit integer above 0, not {text}")
    return value


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _path(text: str) -> Path:
    return Path(_text(text))


def _rate(text: str) -> int | str | None:
    if text in ("off", "documented"):
        return None if text == "off" else text
    return _positive_int(text)


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def build_parser() -> _Parser:
    parser = _Parser(prog="timconform", description="Conformance suite and emulator for Tencent Cloud Chat friend_import.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_emulator, _add_run, _add_parity, _add_profile, _add_cleanup, _add_certify_client, _add_proxy,
                _add_usersig):
        add(commands)
    return parser


def _add_emulator(commands) -> None:
    emulator = commands.add_parser("emulator", help="serve the faithful emulator over HTTP")
    emulator.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    emulator.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 for an ephemeral one)")
    emulator.add_argument("--sdkappid", type=_sdkappid, help="the app's SDKAppID (default 1400000000)")
    emulator.add_argument("--admin", action="append", help="an admin account (repeatable; default administrator)")
    emulator.add_argument("--custom-tags", default="", help="comma-separated custom friend tags configured for the app")
    emulator.add_argument("--edition", choices=("pro", "free-trial"), default="pro",
                          help="free-trial caps accounts at 100 and allows account_delete (default pro)")
    emulator.add_argument("--accounts", type=_existing_file, help="YAML/JSON file of accounts and friendships to preload")
    emulator.add_argument("--behaviour", type=_existing_file, help="behaviour profile: rule id -> outcome id")
    emulator.add_argument("--faults", type=_existing_file, help="fault plan file")
    emulator.add_argument("--rate-limit", type=_rate, default="documented",
                          help="calls/s per SDKAppID and API, or 'off' (default: the documented 200/s and 100/s)")
    emulator.add_argument("--max-body-bytes", type=_positive_int, help="request body cap (default 32 MiB)")
    emulator.add_argument("--record", action="store_true", help="record every request (GET /_timconform/requests)")
    emulator.add_argument("--store", metavar="redis://HOST:PORT/DB",
                          help="keep the state in Redis: accounts, friendships, friend lists, rate-limit windows, "
                               "recent randoms, the fault plan and its counts, recordings; every emulator on the same "
                               "Redis is one service, and the state outlives a restart. Default: this process")
    emulator.add_argument("--app", action="append", default=[], metavar="SDKAPPID:ADMIN[,ADMIN...][:KEYFILE]",
                          help="one more app to serve, its state apart (repeatable); its secret key is read from "
                               "KEYFILE, or from $TIMCONFORM_SECRET_KEY_<SDKAPPID>")
    emulator.add_argument("--workers", type=_positive_int, default=1,
                          help="worker processes on this host (POSIX), all one service: needs --store")
    emulator.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="certify a target against the rule catalogue")
    run.add_argument("--target", type=_text, help="emulator (default), an http(s):// base URL, or a region of openapi.yaml")
    run.add_argument("--sdkappid", type=_sdkappid, help="overrides $TIMCONFORM_SDKAPPID")
    run.add_argument("--identifier", type=_text, help="the admin account; overrides $TIMCONFORM_IDENTIFIER")
    run.add_argument("--profile", default="standard", choices=("quick", "standard", "full", "staging"))
    run.add_argument("--strict", action="store_true", help="a broken inferred rule is a Fail, not a Warn")
    run.add_argument("--seed", type=int, help="Hypothesis seed (printed in the report; reuse it to reproduce a run)")
    run.add_argument("--max-examples", type=_positive_int, help="generated examples per scenario")
    run.add_argument("--rate-limit", type=float, help="client-side calls/s for remote targets (default 100, at most 200)")
    run.add_argument("--budget", type=_positive_int, help="most calls the run may make (shared tenants)")
    run.add_argument("--rules", default="", help="comma-separated rule ids to check (the others are Disabled)")
    run.add_argument("--skip-rules", default="", help="comma-separated rule ids not to check")
    run.add_argument("--baseline", type=_existing_file, help="known divergences (rule ids with reasons) not to fail on")
    run.add_argument("--write-baseline", type=_path, help="write this run's Fail/Warn/Error rules as a baseline")
    run.add_argument("--report-dir", type=_path, help="write results.json, junit.xml, report.html here")
    run.add_argument("--ca-bundle", type=_existing_file, help="CA bundle for TLS verification (verification stays on)")
    run.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")
    run.add_argument("--verbose", action="store_true",
                     help="every rule that did not pass, with its whole reason and where it failed")
    run.add_argument("--cassette", type=_path,
                     help="record every exchange, redacted, with the rules judged on it, into this JSON-lines file "
                          f"(the staging profile records {DEFAULT_CASSETTE_DIR}/cassette-<time>.jsonl by default)")
    run.add_argument("--no-cassette", action="store_true", help="record no cassette, not even in the staging profile")


def _add_parity(commands) -> None:
    parity = commands.add_parser(
        "parity", help="replay a cassette against a target and list every divergence by JSON path",
        description="Send the cassette's requests to --target in order (fresh UserSigs, random values and account "
                    "names), compare each answer with the recorded one after the named transformers, and judge every "
                    "recorded observation again on the new answers. Exit 0: no divergence beyond --declared; 1: "
                    "divergences; 2: usage; 3: the target is unreachable.")
    parity.add_argument("cassette", type=_existing_file, help="a cassette written by timconform run --cassette")
    parity.add_argument("--target", type=_text, help="emulator (default), an http(s):// base URL, or a region of openapi.yaml")
    parity.add_argument("--declared", type=_existing_file,
                        help="known divergences: YAML {divergences: [{path, reason, scenario?, operation?}]}")
    parity.add_argument("--report", type=_path, help="write the whole comparison here as JSON")
    parity.add_argument("--ca-bundle", type=_existing_file, help="CA bundle for TLS verification")
    parity.add_argument("--rate-limit", type=float, help="client-side calls/s for remote targets (default 100)")


def _add_profile(commands) -> None:
    profile = commands.add_parser("profile", help="turn a cassette into a behaviour profile for the emulator")
    profile.add_argument("cassette", type=_existing_file, help="a cassette written by timconform run --cassette")
    profile.add_argument("--out", type=_path, help="write the profile here instead of standard output")


def _add_cleanup(commands) -> None:
    clean = commands.add_parser("cleanup", help="finish an interrupted staging run: delete the friendships in its ledger")
    clean.add_argument("--ledger", type=_existing_file, default=None,
                       help="the run's ledger (default .timconform/staging-ledger.jsonl)")
    clean.add_argument("--ca-bundle", type=_existing_file, help="CA bundle for TLS verification")


def _add_certify_client(commands) -> None:
    certify = commands.add_parser(
        "certify-client", help="grade a client: run its adapter once per scenario against a recording emulator",
        description="Run COMMAND (a thin adapter around the client, see examples/README.md) once per scenario "
                    "with TIMCONFORM_TARGET, TIMCONFORM_SDKAPPID, TIMCONFORM_IDENTIFIER, TIMCONFORM_SECRET_KEY and "
                    "TIMCONFORM_SCENARIO_INPUT in its environment (and HTTPS_PROXY plus a CA bundle for clients "
                    "whose host is hard-coded), then grade what it sent and what it imported.")
    from timconform.clientcert.scenarios import names as scenario_names

    certify.add_argument("--scenarios", default="", help="comma-separated scenario names (default: all of them): "
                                                         + ", ".join(scenario_names()))
    certify.add_argument("--strict", action="store_true", help="a broken inferred rule is a Fail, not a Warn")
    certify.add_argument("--report-dir", type=_path, help="write results.json, junit.xml, report.html here")
    certify.add_argument("--time-limit", type=float, default=60.0,
                         help="seconds one scenario's command may run before it is stopped (default 60)")
    certify.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")
    certify.add_argument("--verbose", action="store_true",
                         help="every rule that did not pass, with its whole reason and where it failed")
    certify.add_argument("--isolation", choices=("auto", "on", "off"), default="auto",
                         help="run in a network namespace with loopback only, so the client can reach nothing but "
                              "the emulator (auto: where Linux allows it; on: or exit 2; off: never)")
    certify.add_argument("client_command", nargs=argparse.REMAINDER, metavar="-- COMMAND...",
                         help="the adapter to run, after --")


def _add_proxy(commands) -> None:
    proxy = commands.add_parser(
        "proxy", help="a validating reverse proxy for live traffic; writes the report on SIGINT/SIGTERM",
        description="Forward every request to --upstream unchanged and judge it (request-side CL- rules) and its "
                    "answer (the suite's response checks). UserSigs are verified when TIMCONFORM_SECRET_KEY is "
                    "set. Stop with Ctrl-C or SIGTERM to write the report.")
    proxy.add_argument("--upstream", required=True, help="the API base URL, e.g. https://adminapisgp.im.qcloud.com")
    proxy.add_argument("--listen", default="127.0.0.1:8081", help="HOST:PORT to listen on (default 127.0.0.1:8081)")
    proxy.add_argument("--report-dir", type=_path, help="write results.json, junit.xml, report.html here on exit")
    proxy.add_argument("--strict", action="store_true", help="a broken inferred rule is a Fail, not a Warn")
    proxy.add_argument("--ca-bundle", type=_existing_file, help="CA bundle for an https upstream (verification stays on)")


def _add_usersig(commands) -> None:
    sig = commands.add_parser("usersig", help=f"print a UserSig made with the key in ${SECRET_ENV}")
    sig.add_argument("--sdkappid", type=_sdkappid, required=True)
    sig.add_argument("--identifier", required=True)
    sig.add_argument("--expire", type=_positive_int, default=86400, help="validity in seconds (default 86400)")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("timconform: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout left (| head): nothing more can be said, and nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - a crash of ours is never exit 1, which says "a rule failed"
        print(f"timconform: internal error ({type(exc).__name__}: {_one_line(exc)}); this is a bug in timconform, "
              f"not a verdict about the target", file=sys.stderr)
        return EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or "no detail"


def _main(argv: Sequence[str] | None) -> int:
    try:
        argv = list(argv if argv is not None else sys.argv[1:])
        args = build_parser().parse_args(argv)
        args.argv = argv
        if args.command == "emulator":
            return _emulator(args)
        if args.command == "usersig":
            return _usersig(args)
        if args.command == "run":
            return _run(args)
        if args.command == "parity":
            return _parity(args)
        if args.command == "profile":
            return _profile(args)
        if args.command == "cleanup":
            return _cleanup(args)
        if args.command == "certify-client":
            return _certify_client(args)
        if args.command == "proxy":
            return _proxy(args)
    except UsageError as exc:
        print(f"timconform: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def _emulator(args: argparse.Namespace) -> int:
    from timconform.emulator import behaviour, faults, preload
    from timconform.emulator.app import Emulator
    from timconform.emulator.config import DEMO_SECRET_KEY, EmulatorConfig
    from timconform.emulator.serve import bind, serve_forever, serve_workers

    secret = os.environ.get(SECRET_ENV)
    from timconform.emulator.control import TOKEN_ENV

    config = EmulatorConfig(secret_key=secret or DEMO_SECRET_KEY, custom_tags=_tags(args.custom_tags),
                            edition=args.edition, behaviour=args.behaviour, faults=args.faults,
                            accounts=args.accounts, rate_limit=args.rate_limit, record=args.record,
                            control_token=os.environ.get(TOKEN_ENV) or None, store=args.store)
    if args.sdkappid:
        config.sdkappid = args.sdkappid
    if args.admin:
        config.admins = tuple(args.admin)
    config.apps = tuple(_app(text) for text in args.app)
    if args.max_body_bytes:
        config.max_body_bytes = args.max_body_bytes
    from timconform.emulator.redis_store import StoreError

    if args.workers > 1 and not args.store:
        raise UsageError("--workers needs --store redis://...: in this process's memory, each worker would be an "
                         "emulator of its own, with its own accounts, friends and rate limit")
    if args.workers > 1 and not hasattr(os, "fork"):
        raise UsageError("--workers needs a POSIX system (it forks the workers)")
    try:
        emulator = Emulator(config)
    except (behaviour.BehaviourError, faults.FaultPlanError, preload.PreloadError, StoreError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    host, port = sock.getsockname()[:2]
    if ":" in host:  # an IPv6 address goes in brackets in a URL
        host = f"[{host}]"
    key_origin = f"from ${SECRET_ENV}" if secret else "the public demo key (set $TIMCONFORM_SECRET_KEY for your own)"

    def announce() -> None:
        also = "".join(f"; app {extra.sdkappid}, admin {', '.join(extra.admins)}" for extra in config.apps)
        print(f"timconform emulator on http://{host}:{port} - sdkappid {config.sdkappid}, admin "
              f"{', '.join(config.admins)}, secret key {key_origin}{also}", flush=True)
        if not os.environ.get(TOKEN_ENV):  # printed once, where only the user sees it; never logged
            print(f"timconform: control plane token (Authorization: Bearer ...): {emulator.control_token}",
                  file=sys.stderr, flush=True)

    if args.workers == 1:
        serve_forever(emulator, sock, log_level=args.log_level, on_ready=announce)
        return 0
    # The parent checked the settings, reached Redis and loaded --accounts once: the workers start from there.
    config.control_token = emulator.control_token  # one token for the whole service
    emulator.model.store.redis.close()
    return serve_workers(lambda: Emulator(config, load_state=False), sock, args.workers,
                         log_level=args.log_level, on_ready=announce)


def _ids(text: str) -> tuple[str, ...]:
    return tuple(i.strip() for i in text.split(",") if i.strip())


def _run(args: argparse.Namespace) -> int:
    from timconform.report import baseline, console
    from timconform.suite.runner import RunConfig, run
    from timconform.target import ENV_IDENTIFIER, ENV_SDKAPPID, ConfigurationError

    env = dict(os.environ)
    if args.sdkappid:
        env[ENV_SDKAPPID] = str(args.sdkappid)
    if args.identifier:
        env[ENV_IDENTIFIER] = args.identifier
    try:
        known = _baseline(args.baseline) if args.baseline else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _check_outputs(args.report_dir, args.write_baseline)
    cassette = _cassette_path(args)
    config = RunConfig(cassette=cassette, target=args.target, profile=args.profile, strict=args.strict, seed=args.seed,
                       max_examples=args.max_examples, rate_limit=args.rate_limit, rules=_ids(args.rules),
                       skip_rules=_ids(args.skip_rules), budget=args.budget,
                       ca_bundle=str(args.ca_bundle) if args.ca_bundle else None, env=env)
    try:
        result, redactor = run(config, progress_factory=lambda total: console.Progress(total, quiet=args.quiet))
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # the cassette could not be opened where it was asked for
        raise UsageError(f"cannot write {exc.filename or cassette}: {exc.strerror or exc}") from None
    if redactor.warning():
        print(f"timconform: {redactor.warning()}", file=sys.stderr)
    if known is not None:
        baseline.apply(result, known)
    _write_run_outputs(args, result, redactor)
    if "unreachable" in result.meta:  # one line: every rule is an Error with this one cause
        where = f"; reports in {args.report_dir}" if args.report_dir else ""
        print(f"timconform: {result.meta['unreachable']}: no scenario ran, every selected rule is Error{where} "
              f"(exit {result.exit_code()})", file=sys.stderr)
        return result.exit_code()
    print(console.summary(result, report_dir=args.report_dir, redactor=redactor, verbose=args.verbose))
    if result.meta.get("cleanup_incomplete"):
        print(f"timconform: staging cleanup incomplete: {result.meta['cleanup_incomplete']}", file=sys.stderr)
    if cassette is not None:
        print(f"cassette: {cassette} (replay it with: timconform parity {cassette} --target T)")
    return result.exit_code()


def _baseline(path: Path) -> dict[str, str]:
    """The known divergences of a baseline file, every rule id one of the catalogue's: an entry that can match
    nothing would leave the user believing a divergence is accepted."""
    from timconform import spec as spec_module
    from timconform.report import baseline

    known = baseline.load(path)
    unknown = sorted(r for r in known if r not in spec_module.load().rules)
    if unknown:
        raise ValueError(f"baseline {path}: {unknown[0]} is not a rule of schemas/rules.yaml (remove it, or check "
                         f"its spelling)")
    return known


def _write_run_outputs(args: argparse.Namespace, result, redactor) -> None:
    from timconform.report import baseline
    from timconform.suite.runner import write_outputs

    try:
        write_outputs(result, redactor, args.report_dir)
        if args.write_baseline:
            baseline.write(args.write_baseline, result, redactor=redactor)
    except OSError as exc:  # checked before the run, yet the place refused the write (a full disk, /sys)
        raise UsageError(f"cannot write the reports: {exc.strerror or exc} ({exc.filename or args.report_dir}); "
                         f"the run ended with exit {result.exit_code()}") from None


def _cassette_path(args: argparse.Namespace) -> Path | None:
    from timconform.report.write import output_file_problem

    if args.no_cassette:
        if args.cassette:
            raise UsageError("--cassette and --no-cassette contradict each other")
        return None
    path = args.cassette
    if path is None and args.profile == "staging":
        path = Path(DEFAULT_CASSETTE_DIR) / time.strftime("cassette-%Y%m%dT%H%M%SZ.jsonl", time.gmtime())
    if path is not None and (why := output_file_problem(path)):
        raise UsageError(f"--cassette: {why}")
    return path


def _parity(args: argparse.Namespace) -> int:
    import json

    from timconform import spec as spec_module
    from timconform.parity import cassette as cassette_module
    from timconform.parity import replay
    from timconform.report.redact import Redactor
    from timconform.report.write import output_file_problem
    from timconform.target import DEFAULT_QPS, Client, ConfigurationError, TargetUnavailable, resolve

    if args.report is not None and (why := output_file_problem(args.report)):
        raise UsageError(f"--report: {why}")
    if args.rate_limit is not None and not 0 < args.rate_limit <= 200:
        raise UsageError("--rate-limit must be above 0 and at most 200 calls/s (the documented limit)")
    spec = spec_module.load()
    try:
        declared = replay.load_declared(args.declared) if args.declared else []
        cassette_module.read(args.cassette)
        target, creds = resolve(args.target or os.environ.get("TIMCONFORM_TARGET") or "emulator", spec,
                                dict(os.environ))
    except (replay.DeclaredError, cassette_module.CassetteError, ConfigurationError) as exc:
        raise UsageError(str(exc)) from None
    redactor = Redactor(creds.secret_key)
    if redactor.warning():
        print(f"timconform: {redactor.warning()}", file=sys.stderr)
    try:
        client = Client(target, creds, spec, redactor, qps=args.rate_limit or DEFAULT_QPS,
                        verify=str(args.ca_bundle) if args.ca_bundle else True)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    try:
        result = replay.replay(spec, client, args.cassette, declared=declared, target=target.describe())
    except TargetUnavailable as exc:
        print(f"timconform: {target.describe()} is unreachable: {redactor.text(str(exc))}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        client.close()
    if args.report is not None:
        try:
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(redactor.text(json.dumps(result.as_dict(), ensure_ascii=False, indent=1)),
                                   encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--report: cannot write {args.report}: {exc.strerror or exc}") from None
    print(redactor.text(replay.summary(spec, result)))
    return 1 if result.undeclared else 0


def _profile(args: argparse.Namespace) -> int:
    from timconform import spec as spec_module
    from timconform.parity import cassette as cassette_module
    from timconform.parity.profile import profile_text

    try:
        text = profile_text(spec_module.load(), args.cassette)
    except cassette_module.CassetteError as exc:
        raise UsageError(str(exc)) from None
    if args.out is None:
        print(text, end="")
        return 0
    from timconform.report.write import output_file_problem

    if why := output_file_problem(args.out):
        raise UsageError(f"--out: {why}")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out: cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"behaviour profile written to {args.out}: timconform emulator --behaviour {args.out}")
    return 0


def _check_outputs(report_dir: Path | None, baseline_file: Path | None = None) -> None:
    """Before the first call: an output that cannot be written is one line and exit 2, not a lost run."""
    from timconform.report.write import output_dir_problem, output_file_problem

    if report_dir is not None and (why := output_dir_problem(report_dir)):
        raise UsageError(f"--report-dir: {why}")
    if baseline_file is not None and (why := output_file_problem(baseline_file)):
        raise UsageError(f"--write-baseline: {why}")


def _cleanup(args: argparse.Namespace) -> int:
    from timconform import spec as spec_module
    from timconform.report.redact import Redactor
    from timconform.suite import staging
    from timconform.suite.preflight import CredentialsRefused, preflight
    from timconform.target import Client, ConfigurationError, Target, TargetUnavailable, credentials_from_env

    path = args.ledger or staging.DEFAULT_LEDGER
    if not Path(path).is_file():
        raise UsageError(f"no ledger at {path}: nothing to clean up")
    ledger = staging.Ledger(path)
    try:
        if ledger.empty():
            ledger.remove()
            print(f"the ledger {path} holds no friendship (the run was stopped before it made any): ledger removed")
            return 0
        header = ledger.header()
        ledger.pairs()  # read whole before any call: a malformed line is found now, not half-way
    except staging.LedgerError as exc:
        raise UsageError(str(exc)) from None
    if header["target"] == "emulator":
        ledger.remove()
        print("the run was against the embedded emulator, whose state ended with it: ledger removed")
        return 0
    base_url = header["target"].rsplit(" (", 1)[-1].rstrip(")") if " (" in header["target"] else header["target"]
    env = dict(os.environ)
    if env.get("TIMCONFORM_SDKAPPID") and env["TIMCONFORM_SDKAPPID"] != str(header["sdkappid"]):
        raise UsageError(f"the ledger {path} is for SDKAppID {header['sdkappid']}, but TIMCONFORM_SDKAPPID is "
                         f"{env['TIMCONFORM_SDKAPPID']}")
    env.setdefault("TIMCONFORM_SDKAPPID", str(header["sdkappid"]))
    env.setdefault("TIMCONFORM_IDENTIFIER", header["identifier"])
    try:
        creds = credentials_from_env(env)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    spec = spec_module.load()
    try:
        client = Client(Target("url", base_url, base_url), creds, spec, Redactor(creds.secret_key),
                        verify=str(args.ca_bundle) if args.ca_bundle else True)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    try:
        preflight(client, spec)  # wrong credentials: one line naming the setting, and the ledger kept
        deleted = staging.cleanup(client, ledger, batch=spec.limit("friend_delete_items"))
    except CredentialsRefused as exc:
        raise UsageError(f"{exc}; the ledger {path} is kept") from None
    except (TargetUnavailable, staging.CleanupIncomplete) as exc:
        print(f"timconform: cleanup incomplete, the ledger is kept: {exc}", file=sys.stderr)
        return 3
    finally:
        client.close()
    print(f"cleanup done: {deleted} friendship(s) deleted, ledger {path} removed")
    return 0


def _usersig(args: argparse.Namespace) -> int:
    from timconform import usersig

    secret = os.environ.get(SECRET_ENV)
    if not secret:
        raise UsageError(f"${SECRET_ENV} is not set: the UserSig is made with the app's secret key")
    try:
        print(usersig.generate(args.sdkappid, args.identifier, secret, expire=args.expire))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _certify_client(args: argparse.Namespace) -> int:
    from timconform.clientcert.output import write_reports
    from timconform import spec as spec_module
    from timconform.clientcert.runner import CommandCannotStart, UnknownScenario, certify, check_command, select
    from timconform.report import console

    command = list(args.client_command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("no command given: timconform certify-client [options] -- COMMAND...")
    if not args.time_limit > 0:
        raise UsageError("--time-limit must be above 0 seconds")
    names = _ids(args.scenarios)
    _check_outputs(args.report_dir)
    try:  # before any namespace: a usage error is one line from this very process
        select(names or None, spec_module.load())
        check_command(command, os.environ)
    except (CommandCannotStart, UnknownScenario) as exc:
        raise UsageError(str(exc)) from None
    isolation = _isolation(args)
    if isinstance(isolation, int):  # the run happened inside a namespace: its exit code
        return isolation
    _interrupt_on_sigterm()  # so that the temporary directory and the adapter's processes are cleaned up
    progress = console.Progress(len(names) or _scenario_count(), quiet=args.quiet)
    try:
        certification = certify(command, scenarios=names or None, strict=args.strict, time_limit=args.time_limit,
                                progress=lambda name, status, seconds: progress.step(name, status, seconds),
                                started=STARTED, isolation=isolation)
    except (CommandCannotStart, UnknownScenario) as exc:
        raise UsageError(str(exc)) from None
    result, redactor = certification.result, certification.redactor
    if args.report_dir:
        write_reports(result, args.report_dir, redactor)
    print(console.summary(result, report_dir=args.report_dir, redactor=redactor, verbose=args.verbose))
    return result.exit_code()


def _isolation(args: argparse.Namespace) -> str | int:
    """What the report says of the run's network; or the exit code of the run made again inside a namespace."""
    from timconform.clientcert import isolation

    if isolation.inside():
        isolation.loopback_up()
        return "isolated: a network namespace with loopback only (the client could reach nothing but the emulator)"
    if args.isolation == "off":
        return "not isolated (--isolation off): the client could reach any network this machine reaches"
    why = isolation.unavailable()
    if why is None:
        return isolation.rerun_inside(args.argv)
    if args.isolation == "on":
        raise UsageError(f"--isolation on, but the run cannot be isolated here: {why}")
    return f"not isolated ({why}): the client could reach any network this machine reaches"


def _interrupt_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C: every `finally` runs (Python's default for SIGTERM runs none)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _scenario_count() -> int:
    from timconform.clientcert.scenarios import names

    return len(names())


def _proxy(args: argparse.Namespace) -> int:
    import signal
    import threading

    from timconform.clientcert.output import write_reports
    from timconform.clientcert.validating import ProxyConfigError, ValidatingProxy, parse_listen
    from timconform.report import console

    _check_outputs(args.report_dir)
    try:
        host, port = parse_listen(args.listen)
        proxy = ValidatingProxy(args.upstream, host=host, port=port,
                                verify=str(args.ca_bundle) if args.ca_bundle else True)
    except ProxyConfigError as exc:
        raise UsageError(str(exc)) from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        proxy.start()
        print(f"timconform proxy on {proxy.url} -> {proxy.upstream}; Ctrl-C or SIGTERM stops it and writes the report",
              flush=True)
        while not stop.wait(0.5):
            pass  # serve until SIGINT/SIGTERM sets ``stop``; waking twice a second keeps Ctrl-C prompt
    finally:
        proxy.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    result = proxy.result(strict=args.strict, listen=args.listen)
    if args.report_dir:
        write_reports(result, args.report_dir, proxy.redactor)
    print(console.summary(result, report_dir=args.report_dir, redactor=proxy.redactor))
    return result.exit_code()


def _app(text: str):
    """--app SDKAPPID:ADMIN[,ADMIN...][:KEYFILE] -> AppConfig, its secret key from KEYFILE or the environment."""
    from timconform.emulator.config import AppConfig

    sdkappid, _, rest = text.partition(":")
    admins_text, _, keyfile = rest.partition(":")
    admins = tuple(a.strip() for a in admins_text.split(",") if a.strip())
    if not sdkappid.isdigit() or not 0 < int(sdkappid) < 2**64 or not admins:
        raise UsageError(f"--app {text!r}: expected SDKAPPID:ADMIN[,ADMIN...][:KEYFILE]")
    if keyfile:
        try:
            key = Path(keyfile).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--app {sdkappid}: cannot read the key file {keyfile}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        origin = f"the key file {keyfile}"
    else:
        key = os.environ.get(f"{SECRET_ENV}_{sdkappid}", "").strip()
        origin = f"${SECRET_ENV}_{sdkappid}"
    if not key:
        raise UsageError(f"--app {sdkappid}: no secret key in {origin} (give :KEYFILE or set ${SECRET_ENV}_{sdkappid})")
    return AppConfig(int(sdkappid), admins, key)


def _tags(text: str) -> tuple[str, ...]:
    return tuple(tag.strip() for tag in text.split(",") if tag.strip())


if __name__ == "__main__":
    sys.exit(main())
