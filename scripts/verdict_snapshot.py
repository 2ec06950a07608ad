#!/usr/bin/env python
"""Verdicts of one profile on the embedded emulator and on every mutant of the gallery, to compare across a change.

    python scripts/verdict_snapshot.py take OUT.json [--profile standard] [--seed N] [--jobs 2] [--only NAME ...]
    python scripts/verdict_snapshot.py diff BEFORE.json AFTER.json

`take` certifies the faithful emulator and each mutant in-process (strict, one seed, the demo credentials
and two custom tags) and writes, per target, every rule's verdict and the outcomes it recorded. `diff`
compares two snapshots rule by rule and prints each difference; it exits 1 when a verdict differs, 0
otherwise (a differing set of outcomes is printed, not counted: a concurrent probe may show either of two
listed outcomes from one run to the next).

A refactoring of the oracle or the scenarios is behaviour-preserving for targets when `take` before and
after it gives snapshots `diff` finds equal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # this checkout's timconform, whatever is installed

SEED = 20261125
FAITHFUL = "(faithful emulator)"


def _certify(job: tuple[str, str, int]) -> tuple[str, dict, float]:
    from tests.mutants.gallery import BY_NAME, fresh_emulator
    from tests.suite_support import CREDENTIALS, TAGS
    from timconform.suite.runner import RunConfig, run

    name, profile, seed = job
    app = fresh_emulator() if name == FAITHFUL else BY_NAME[name].factory()
    started = time.perf_counter()
    result, _ = run(RunConfig(app=app, profile=profile, strict=True, seed=seed, env={**CREDENTIALS, **TAGS}))
    rules = {r.rule_id: {"verdict": r.verdict.label, "outcomes": sorted(r.outcomes)} for r in result.rules}
    return name, rules, time.perf_counter() - started


def take(args) -> int:
    from tests.mutants.gallery import GALLERY

    names = [FAITHFUL] + [m.name for m in GALLERY if not args.only or m.name in args.only]
    snapshot: dict = {"profile": args.profile, "seed": args.seed, "targets": {}}
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        for name, rules, seconds in pool.map(_certify, [(n, args.profile, args.seed) for n in names]):
            snapshot["targets"][name] = rules
            print(f"  {name:<40} {seconds:6.1f} s", flush=True)
    Path(args.out).write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(names)} targets, profile {args.profile}, in {time.perf_counter() - started:.0f} s: {args.out}")
    return 0


def diff(args) -> int:
    before = json.loads(Path(args.before).read_text(encoding="utf-8"))
    after = json.loads(Path(args.after).read_text(encoding="utf-8"))
    verdicts = outcomes = compared = 0
    for target in sorted(set(before["targets"]) | set(after["targets"])):
        old, new = before["targets"].get(target), after["targets"].get(target)
        if old is None or new is None:
            print(f"{target}: only in {'AFTER' if old is None else 'BEFORE'}")
            verdicts += 1
            continue
        for rule in sorted(set(old) | set(new)):
            compared += 1
            was, now = old.get(rule, {}), new.get(rule, {})
            if was.get("verdict") != now.get("verdict"):
                verdicts += 1
                print(f"{target}: {rule}: {was.get('verdict')} -> {now.get('verdict')}")
            elif was.get("outcomes") != now.get("outcomes"):
                outcomes += 1
                print(f"{target}: {rule}: outcomes {was.get('outcomes')} -> {now.get('outcomes')} (not counted)")
    print(f"{compared} (target, rule) pairs compared: {verdicts} verdict(s) differ, {outcomes} outcome set(s) differ")
    return 1 if verdicts else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    taking = sub.add_parser("take", help="certify the emulator and every mutant; write their verdicts")
    taking.add_argument("out")
    taking.add_argument("--profile", default="standard")
    taking.add_argument("--seed", type=int, default=SEED)
    taking.add_argument("--jobs", type=int, default=2)
    taking.add_argument("--only", action="append", default=[], metavar="NAME")
    diffing = sub.add_parser("diff", help="compare two snapshots rule by rule")
    diffing.add_argument("before")
    diffing.add_argument("after")
    args = parser.parse_args(argv)
    return take(args) if args.command == "take" else diff(args)


if __name__ == "__main__":
    sys.exit(main())
