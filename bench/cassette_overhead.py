"""What recording a cassette costs, and what replaying one costs (issue 14).

Runs the standard profile against the embedded emulator with and without ``--cassette``, alternating, in
this one process (so both sides see the same machine), then replays the last cassette against a fresh
emulator with ``timconform parity``'s engine. Prints the median wall times, their ratio, the cassette's size
and lines, and the replay's time and counts.

    python bench/cassette_overhead.py [--rounds 3] [--profile standard]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from timconform import spec as spec_module  # noqa: E402
from timconform.parity.replay import replay  # noqa: E402
from timconform.report.redact import Redactor  # noqa: E402
from timconform.suite.runner import RunConfig, run  # noqa: E402
from timconform.target import Client, resolve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="standard")
    args = parser.parse_args()
    plain, recorded = [], []
    with tempfile.TemporaryDirectory() as work:
        cassette = Path(work) / "run.jsonl"
        for _ in range(args.rounds):
            for times, path in ((plain, None), (recorded, cassette)):
                started = time.perf_counter()
                run(RunConfig(profile=args.profile, seed=7, cassette=path, env={}))
                times.append(time.perf_counter() - started)
        size, lines = cassette.stat().st_size, sum(1 for _ in cassette.open(encoding="utf-8"))
        spec = spec_module.load()
        target, creds = resolve("emulator", spec, {})
        client = Client(target, creds, spec, Redactor(creds.secret_key))
        started = time.perf_counter()
        result = replay(spec, client, cassette)
        replay_s = time.perf_counter() - started
        client.close()
    a, b = statistics.median(plain), statistics.median(recorded)
    print(f"profile {args.profile}, {args.rounds} alternating rounds")
    print(f"  without cassette: median {a:.2f} s {[round(t, 2) for t in plain]}")
    print(f"  with cassette:    median {b:.2f} s {[round(t, 2) for t in recorded]}  ratio {b / a:.2f}x")
    print(f"  cassette: {size / 1e6:.1f} MB, {lines} lines")
    print(f"  replay: {replay_s:.2f} s, {result.replayed} of {result.exchanges} exchanges, {result.rejudged} observations "
          f"judged again, {len(result.divergences)} divergences")


if __name__ == "__main__":
    main()
