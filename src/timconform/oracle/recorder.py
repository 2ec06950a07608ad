"""Collects what every check saw, per rule, and turns it into verdicts.

A check raises :class:`CheckFailed` with its rule id (the one failure type); the recorder counts
passes, keeps the first few failures as evidence, records observed outcomes of open rules, and
decides each rule's verdict from the rule's strength: documented -> Fail, inferred or open -> Warn
(Fail with --strict).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from timconform.report.model import Evidence, Exchange, RuleResult, Verdict
from timconform.spec import Rule, Spec

MAX_EVIDENCE = 3
CLIENT_PREFIX = "CL-"  # client-certification rules grade clients, never a target


def target_rules(spec: Spec) -> list[str]:
    """The rules a target (the service, an emulator, a mock) is judged by."""
    return [rule_id for rule_id in spec.rules if not rule_id.startswith(CLIENT_PREFIX)]


class CheckFailed(AssertionError):
    """One rule broken by one exchange. ``severity`` overrides the rule's own (e.g. an inferred code)."""

    def __init__(self, rule_id: str, message: str, *, exchange: Exchange | None = None,
                 severity: Verdict | None = None) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id, self.message, self.exchange, self.severity = rule_id, message, exchange, severity


@dataclass
class _Tally:
    checks: int = 0
    failures: list[tuple[Verdict, Evidence]] = field(default_factory=list)
    worst: Verdict = Verdict.PASS
    error: str = ""
    skip: str = ""
    outcomes: Counter = field(default_factory=Counter)
    failures_total: int = 0
    failed_in: dict[str, None] = field(default_factory=dict)  # scenario names, in the order they failed it


class Recorder:
    def __init__(self, spec: Spec, *, selected: Iterable[str] | None = None, strict: bool = False,
                 scope: Iterable[str] | None = None, max_evidence: int | None = MAX_EVIDENCE) -> None:
        self.spec, self.strict = spec, strict
        self.scope = list(scope) if scope is not None else list(spec.rules)  # the rules this run reports on
        self.selected = set(selected) if selected is not None else set(self.scope)
        self._tallies: dict[str, _Tally] = {rule_id: _Tally() for rule_id in spec.rules}
        self._lock = threading.Lock()
        self.max_evidence = max_evidence  # None: every failure is kept as evidence
        self.context: str | None = None  # the scenario running now: where a failure is said to happen
        self.cassette = None  # hears of every judgement with its observation (parity/cassette.py)
        self.codes_seen: Counter = Counter()
        self.unknown_codes: Counter = Counter()

    def enabled(self, rule_id: str) -> bool:
        return rule_id in self.selected

    def severity(self, rule: Rule) -> Verdict:
        if rule.strength == "documented" or self.strict:
            return Verdict.FAIL
        return Verdict.WARN

    def passed(self, rule_id: str) -> None:
        with self._lock:
            self._tallies[rule_id].checks += 1

    def failed(self, failure: CheckFailed) -> None:
        rule = self.spec.rules[failure.rule_id]
        severity = failure.severity if failure.severity is not None else self.severity(rule)
        if self.strict and severity == Verdict.WARN:
            severity = Verdict.FAIL
        with self._lock:
            tally = self._tallies[failure.rule_id]
            tally.checks += 1
            tally.worst = max(tally.worst, severity)
            tally.failures_total += 1
            if self.context is not None:
                tally.failed_in.setdefault(self.context, None)
            if self.max_evidence is None or len(tally.failures) < self.max_evidence:
                tally.failures.append((severity, Evidence(failure.rule_id, failure.message, failure.exchange)))

    def errored(self, rule_ids: Iterable[str], reason: str) -> None:
        with self._lock:
            for rule_id in rule_ids:
                tally = self._tallies[rule_id]
                tally.worst = max(tally.worst, Verdict.ERROR)
                tally.error = tally.error or reason

    def skipped(self, rule_ids: Iterable[str], reason: str) -> None:
        with self._lock:
            for rule_id in rule_ids:
                self._tallies[rule_id].skip = self._tallies[rule_id].skip or reason

    def outcome(self, rule_id: str, outcome_id: str) -> None:
        with self._lock:
            self._tallies[rule_id].outcomes[outcome_id] += 1
            self._tallies[rule_id].checks += 1

    def saw_code(self, code: int) -> None:
        with self._lock:
            if code in self.spec.codes:
                self.codes_seen[code] += 1
            else:
                self.unknown_codes[code] += 1

    def results(self) -> list[RuleResult]:
        out = []
        for rule_id in self.scope:
            rule, tally = self.spec.rules[rule_id], self._tallies[rule_id]
            result = RuleResult(rule_id=rule_id, title=rule.title, strength=rule.strength, category=rule.category,
                                source=dict(rule.source), checks=tally.checks, outcomes=dict(tally.outcomes))
            if rule_id not in self.selected:
                result.verdict, result.reason = Verdict.DISABLED, "not selected (--rules / --skip-rules / profile)"
            elif tally.worst > Verdict.PASS:
                result.verdict = tally.worst
                result.reason = tally.error if tally.worst == Verdict.ERROR else ""
                result.evidence = [e for _, e in tally.failures]
                result.failures, result.failed_in = tally.failures_total, list(tally.failed_in)
            elif tally.checks == 0:
                result.verdict = Verdict.SKIP
                result.reason = (f"unobservable: {rule.unobservable}" if rule.unobservable else
                                 tally.skip or "no scenario of this profile exercises this rule")
            out.append(result)
        return out

    def observed_profile(self) -> dict[str, str]:
        """The most frequent observed outcome of each rule with outcomes: a behaviour profile."""
        return {rule_id: t.outcomes.most_common(1)[0][0] for rule_id, t in self._tallies.items() if t.outcomes}
