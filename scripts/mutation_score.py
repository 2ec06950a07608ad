#!/usr/bin/env python
"""The suite's mutation score: certify every faulty emulator of tests/mutants over loopback.

    python scripts/mutation_score.py [--profile standard] [--strict | --lenient] [--seed N] [--only NAME ...]

Each mutant is served on 127.0.0.1 (an ephemeral port, nothing else is contacted) with the documented rate
limits on, as `timconform emulator` serves, and certified like any remote target: `timconform run
--target http://127.0.0.1:PORT --rate-limit 200`. A mutant is killed when a rule it declares is among the
run's Fail verdicts; a declared rule that did not fail is listed as missed. The faithful emulator is
certified first the same way: it must come out clean, or every kill would be noise.

Exit status: 0 when every mutant is killed and the faithful emulator is clean, 1 when a mutant survives,
2 when the faithful emulator is not clean.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from tests.mutants.gallery import GALLERY, Mutant, fresh_emulator  # noqa: E402
from tests.suite_support import CREDENTIALS, TAGS  # noqa: E402
from timconform.emulator.config import DOCUMENTED  # noqa: E402
from timconform.emulator.serve import LOOPBACK, bind  # noqa: E402
from timconform.report.model import Verdict  # noqa: E402
from timconform.suite.profiles import PROFILES  # noqa: E402
from timconform.suite.runner import RunConfig, run  # noqa: E402

SEED = 20261125
QPS = 200.0


@contextmanager
def served(app):
    """Serve any ASGI app on an ephemeral loopback port in a background thread; yields its base URL."""
    sock = bind(LOOPBACK, 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="error", access_log=False,
                                           lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True,
                              name=f"mutant-{port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        sock.close()
        raise RuntimeError(f"could not serve on {LOOPBACK}:{port}")
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def with_documented_limits(app):
    """Over loopback the suite cannot switch the emulator's limit on for its burst: keep it on throughout."""
    getattr(app, "emulator", app).config.rate_limit = DOCUMENTED
    return app


def certify(app, args) -> tuple[dict[str, Verdict], float]:
    started = time.perf_counter()
    with served(with_documented_limits(app)) as base_url:
        result, _ = run(RunConfig(target=base_url, profile=args.profile, strict=args.strict, seed=args.seed,
                                  rate_limit=QPS, env={**CREDENTIALS, **TAGS}))
    return {r.rule_id: r.verdict for r in result.rules}, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="standard", choices=sorted(PROFILES))
    parser.add_argument("--strict", dest="strict", action="store_true", default=True,
                        help="inferred and open rules fail too (the default)")
    parser.add_argument("--lenient", dest="strict", action="store_false", help="run without --strict")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="certify only these mutants")
    args = parser.parse_args(argv)
    mutants = [m for m in GALLERY if not args.only or m.name in args.only]
    unknown = set(args.only) - {m.name for m in GALLERY}
    if unknown:
        parser.error(f"no mutant named {', '.join(sorted(unknown))}")

    mode = "strict" if args.strict else "lenient"
    print(f"Mutation score: {len(mutants)} mutants, profile {args.profile} ({mode}), seed {args.seed}, "
          f"over loopback at {QPS:g} calls/s", flush=True)
    total_started = time.perf_counter()
    verdicts, seconds = certify(fresh_emulator(), args)
    noisy = sorted(r for r, v in verdicts.items() if v in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR))
    print(f"  faithful emulator: {'clean' if not noisy else 'NOT CLEAN: ' + ', '.join(noisy)}  ({seconds:.1f} s)",
          flush=True)

    width = max(len(m.name) for m in mutants)
    survivors: list[Mutant] = []
    for mutant in mutants:
        verdicts, seconds = certify(mutant.factory(), args)
        killed_by = [r for r in mutant.rules if verdicts[r] == Verdict.FAIL]
        missed = [f"{r} ({verdicts[r].label})" for r in mutant.rules if verdicts[r] != Verdict.FAIL]
        others = sum(1 for r, v in verdicts.items() if v == Verdict.FAIL and r not in mutant.rules)
        status = "killed  " if killed_by else "SURVIVED"
        detail = f"by {', '.join(killed_by)}" if killed_by else "no declared rule failed"
        if missed and killed_by:
            detail += f"; missed {', '.join(missed)}"
        elif missed:
            detail += f" ({', '.join(missed)})"
        print(f"  {status} {mutant.name:<{width}}  {seconds:5.1f} s  {detail}  [+{others} other Fail]", flush=True)
        if not killed_by:
            survivors.append(mutant)

    killed = len(mutants) - len(survivors)
    elapsed = time.perf_counter() - total_started
    print(f"Mutation score: {killed}/{len(mutants)} killed ({100 * killed / max(len(mutants), 1):.1f}%) "
          f"in {elapsed:.1f} s ({elapsed / (len(mutants) + 1):.1f} s per run)")
    for mutant in survivors:
        print(f"  survivor: {mutant.name}: {mutant.defect} (declares {', '.join(mutant.rules)})")
    if noisy:
        return 2
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
