"""What a person sees in the terminal: a one-screen summary and a progress line per scenario."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from timconform.report.json_report import redact_run
from timconform.report.model import EXIT_ERROR, EXIT_FAIL, EXIT_OK, RuleResult, RunResult, Verdict
from timconform.report.redact import Redactor

EXIT_MEANINGS = {
    EXIT_OK: "exit 0: no rule failed (warnings allowed)",
    EXIT_FAIL: "exit 1: at least one rule failed",
    EXIT_ERROR: "exit 3: no rule failed, but at least one check could not run (harness or network error)",
}
_MIN_WIDTH = 40


def worst_first(rules: Iterable[RuleResult]) -> list[RuleResult]:
    """Rules ordered worst verdict first; known divergences (baselined) after the others; then by id."""
    return sorted(rules, key=lambda r: (r.baselined is not None, -r.verdict, r.rule_id))


def summary(run: RunResult, *, width: int = 100, report_dir: str | Path | None = None,
            redactor: Redactor | None = None, limit: int = 20, verbose: bool = False) -> str:
    """A one-screen summary: verdict and counts, the non-Pass rules worst first, the report dir, the exit code.

    Every line is at most ``width`` characters; at most ``limit`` rule lines are listed. ``verbose``: every
    rule that did not pass, each with its whole reason, and no line cut.
    """
    if width < _MIN_WIDTH:
        raise ValueError(f"width={width}, but the summary needs at least {_MIN_WIDTH} columns")
    redactor = redactor or Redactor()
    run = redact_run(run, redactor)
    counts = ", ".join(f"{n} {label}" for label, n in run.counts().items())
    head = f"{run.headline()}: {counts}"
    baselined = sum(1 for r in run.rules if r.baselined is not None)
    if baselined:
        head += f" ({baselined} baselined)"
    lines = [head]
    if run.meta.get("root_cause"):
        lines.append(f"Root cause: {run.meta['root_cause']}")
    shown = [r for r in worst_first(run.rules) if r.verdict != Verdict.PASS]
    limit = len(shown) if verbose else limit
    id_width = min(max((len(r.rule_id) for r in shown[:limit]), default=0), width // 3)
    for rule in shown[:limit]:
        label = rule.verdict.label + ("*" if rule.baselined is not None else "")
        where = f" [{rule.failures} failure(s) in {len(rule.failed_in)} scenario(s)]" if verbose and \
            rule.failed_in else ""
        lines.append(f"{label:<9} {rule.rule_id:<{id_width}}  {_why(rule, whole=verbose)}{where}")
    if len(shown) > limit:
        lines.append(f"... and {len(shown) - limit} more not passing (see the report, or --verbose)")
    if baselined:
        lines.append("* known divergence listed in the baseline; does not count for the exit code")
    if run.meta.get("isolation"):
        lines.append(f"network: {run.meta['isolation']}")
    if report_dir is not None:
        lines.append(f"report: {report_dir}")
    lines.append(EXIT_MEANINGS[run.exit_code()])
    return "\n".join(_printable(redactor.text(line)) if verbose else _fit(redactor.text(line), width) for line in lines)


def _why(rule: RuleResult, *, whole: bool = False) -> str:
    if rule.baselined is not None:
        return f"(baselined: {rule.baselined})"
    text = rule.reason if rule.verdict in (Verdict.SKIP, Verdict.DISABLED, Verdict.ERROR) and rule.reason else ""
    text = text or (rule.evidence[0].message if rule.evidence else rule.reason) or rule.title
    if not text.strip():
        return rule.title
    return " ".join(text.split()) if whole else text.strip().splitlines()[0]


def _printable(line: str) -> str:
    return "".join(c if c.isprintable() else " " for c in line)


def _fit(line: str, width: int) -> str:
    line = _printable(line)
    return line if len(line) <= width else line[:width - 1] + "…"


class Progress:
    """A compact progress line per scenario, e.g. ``[ 3/17] auth-cases ........ ok (0.4 s)``.

    Use :meth:`step` after a scenario ran, or ``with progress.scenario(name):`` to time one
    (an exception prints ``error`` and propagates). ``quiet=True`` prints nothing.
    """

    def __init__(self, total: int, *, stream: TextIO | None = None, quiet: bool = False, name_width: int = 28,
                 clock=time.monotonic) -> None:
        if total < 0:
            raise ValueError(f"total={total}, but a scenario count cannot be negative")
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.name_width = name_width
        self.done = 0
        self._clock = clock
        self._lock = threading.Lock()

    def step(self, name: str, status: str = "ok", seconds: float | None = None) -> str:
        """Count one finished scenario and print its line (unless quiet); return the line."""
        with self._lock:
            self.done += 1
            digits = len(str(max(self.total, self.done)))
            dots = "." * max(2, self.name_width - len(name) + 1)
            line = f"[{self.done:>{digits}}/{self.total}] {name} {dots} {status}"
            if seconds is not None:
                line += f" ({seconds:.1f} s)"
            if not self.quiet:
                print(line, file=self.stream, flush=True)
            return line

    @contextlib.contextmanager
    def scenario(self, name: str) -> Iterator[dict[str, str]]:
        """Time one scenario; set ``state["status"]`` inside the block to report other than ``ok``."""
        state = {"status": "ok"}
        start = self._clock()
        try:
            yield state
        except BaseException:
            self.step(name, "error", self._clock() - start)
            raise
        self.step(name, state["status"], self._clock() - start)
