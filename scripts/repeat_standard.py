"""Run the standard profile many times with different seeds against the embedded emulator (issue #4).

    python scripts/repeat_standard.py [--runs 20] [--profile standard] [--first-seed 1000]

Prints one line per run (seed, seconds, calls, verdict counts) and exits 1 if any run has a Fail,
Warn or Error: a flaky check or a flaky emulator shows up here long before it reaches a user's CI.
"""

import argparse
import statistics
import sys
import time

from timconform.report.model import Verdict
from timconform.suite.runner import RunConfig, run

TAGS = {"TIMCONFORM_CUSTOM_TAGS": "Tag_SNS_Custom_XXXX,Tag_SNS_Custom_YYYY"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--first-seed", type=int, default=1000)
    args = parser.parse_args()
    durations, bad_runs = [], 0
    for seed in range(args.first_seed, args.first_seed + args.runs):
        started = time.perf_counter()
        result, _ = run(RunConfig(profile=args.profile, seed=seed, env=dict(TAGS)))
        durations.append(time.perf_counter() - started)
        bad = [f"{r.rule_id}={r.verdict.label}" for r in result.rules
               if r.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR)]
        bad_runs += bool(bad)
        counts = " ".join(f"{k}={v}" for k, v in result.counts().items() if v)
        print(f"seed {seed}: {durations[-1]:6.2f} s, {result.meta['calls']} calls, {counts}"
              + (f"  <-- {', '.join(bad)}" if bad else ""), flush=True)
    print(f"{args.runs} runs of the {args.profile} profile: {bad_runs} with a Fail, Warn or Error; "
          f"median {statistics.median(durations):.2f} s, max {max(durations):.2f} s")
    return 1 if bad_runs else 0


if __name__ == "__main__":
    sys.exit(main())
