#!/usr/bin/env python
"""Disable each registered check in turn and see whether the unit tests notice.

    python scripts/disable_checks.py [--only RULE ...] [--tests PATH ...] [--all-failures]

For every rule of the registry (timconform.oracle.registry.CHECKS), the rule's check is replaced by one that
passes every observation of every kind it takes, as if its body were `pass`, and the network-free unit tests
of the checks run in this process against it. A rule is *noticed* when at least one test fails. The script
prints one line per rule and, at the end, the rules no test noticed; it exits 1 when there is one.

By default each run stops at its first failing test (-x): one is enough to notice. --all-failures runs every
test and prints how many failed, which shows how well each check is covered.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import pytest  # noqa: E402

from timconform.oracle import registry  # noqa: E402

UNIT_TESTS = ("tests/test_checks.py", "tests/test_checks_client.py", "tests/test_clientcert_checks.py",
              "tests/test_verdicts.py")


class _Disabled:
    """A pytest plugin that swaps one rule's check for a pass-everything one while the session runs."""

    def __init__(self, rule_id: str) -> None:
        self.rule_id = rule_id
        self.failed = 0
        self.original = registry.CHECKS[rule_id]

    def pytest_sessionstart(self, session) -> None:
        passes = {kind: (lambda spec, rule, observation: registry.PASS) for kind in self.original.judgements}
        registry.CHECKS[self.rule_id] = registry.Check(self.rule_id, passes)

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        registry.CHECKS[self.rule_id] = self.original

    def pytest_runtest_logreport(self, report) -> None:
        if report.failed:
            self.failed += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], metavar="RULE", help="disable only these rules")
    parser.add_argument("--tests", action="append", default=[], metavar="PATH", help=f"default: {UNIT_TESTS}")
    parser.add_argument("--all-failures", action="store_true", help="run every test, not only to the first failure")
    args = parser.parse_args(argv)
    checks = registry.load_all()
    rules = args.only or list(checks)
    unknown = [r for r in rules if r not in checks]
    if unknown:
        parser.error(f"no registered check for {', '.join(unknown)}")
    tests = [str(ROOT / t) for t in (args.tests or UNIT_TESTS)]
    options = ["-qq", "--tb=no", "-p", "no:cacheprovider", "-p", "no:warnings", "-o", "addopts=",
               *([] if args.all_failures else ["-x"])]
    started, unnoticed = time.perf_counter(), []
    for rule_id in rules:
        plugin = _Disabled(rule_id)
        with contextlib.redirect_stdout(io.StringIO()):  # pytest's own report: only the count matters here
            pytest.main([*options, *tests], plugins=[plugin])
        noticed = plugin.failed > 0
        print(f"  {'noticed ' if noticed else 'UNNOTICED'} {rule_id:<40} {plugin.failed} failing test(s)", flush=True)
        if not noticed:
            unnoticed.append(rule_id)
    print(f"{len(rules) - len(unnoticed)} of {len(rules)} disabled checks noticed by the unit tests in "
          f"{time.perf_counter() - started:.0f} s")
    for rule_id in unnoticed:
        print(f"  unnoticed: {rule_id}")
    return 1 if unnoticed else 0


if __name__ == "__main__":
    sys.exit(main())
