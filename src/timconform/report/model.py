"""The results tree every report is written from: verdicts per rule, evidence, run metadata.

Verdicts, worst first (DESIGN.md): Fail (the target breaks a rule), Error (the harness or the network
failed; never the target's fault), Warn (an inferred rule broken, not strict), Skip (cannot apply to
this target, with the reason), Disabled (by configuration), Pass.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Verdict(enum.IntEnum):
    """Ordered so that ``max()`` of several verdicts is the worst one."""

    PASS = 0
    DISABLED = 1
    SKIP = 2
    WARN = 3
    ERROR = 4
    FAIL = 5

    @property
    def label(self) -> str:
        return self.name.capitalize()


EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


@dataclass
class Exchange:
    """One request and its response, already redacted (no secret key, no UserSig)."""

    operation: str
    method: str
    url: str
    headers: dict[str, str]
    body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    elapsed_ms: float = 0.0
    error: str | None = None  # a transport failure (no response), e.g. connection refused

    def curl(self) -> str:
        """A curl command that reproduces the request (the UserSig left as a placeholder to fill in)."""
        parts = ["curl", "-sS", "-X", self.method, _quote(self.url)]
        for name, value in self.headers.items():
            if name.lower() in ("content-type", "content-encoding"):
                parts += ["-H", _quote(f"{name}: {value}")]
        if self.body:
            parts += ["--data-binary", _quote(self.body)]
        return " ".join(parts)


@dataclass
class Evidence:
    """Why a check did not pass: Expected/Received, and the minimal exchange that shows it."""

    check: str
    message: str
    exchange: Exchange | None = None
    curl_file: str | None = None  # set by the report writer: the curl command too long to show, in this file

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "message": self.message}
        if self.exchange is not None:
            out["exchange"] = asdict(self.exchange)
            out["curl"] = self.exchange.curl()
        return out


@dataclass
class RuleResult:
    rule_id: str
    title: str
    strength: str
    category: str
    source: dict[str, str]
    verdict: Verdict = Verdict.PASS
    reason: str = ""  # why Skip, Disabled or Error; empty for Pass
    checks: int = 0  # how many times a check of this rule ran
    evidence: list[Evidence] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)  # open rules: outcome id -> times observed
    baselined: str | None = None  # a known divergence listed in --baseline, with its reason
    failures: int = 0  # how many checks of this rule failed (the evidence may show fewer)
    failed_in: list[str] = field(default_factory=list)  # the scenarios in which it failed, in order

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.rule_id, "title": self.title, "strength": self.strength, "category": self.category,
                "source": dict(self.source), "verdict": self.verdict.label, "reason": self.reason,
                "checks": self.checks, "evidence": [e.as_dict() for e in self.evidence],
                "outcomes": dict(self.outcomes), "baselined": self.baselined, "failures": self.failures,
                "failed_in": list(self.failed_in)}


@dataclass
class RunResult:
    meta: dict[str, Any]
    rules: list[RuleResult]
    coverage: dict[str, Any] = field(default_factory=dict)  # {"elicited": {code: n}, "unknown": {code: n}}
    behaviour_profile: dict[str, str] = field(default_factory=dict)

    def verdict(self) -> Verdict:
        """The worst verdict among rules that are not known divergences of a baseline."""
        return max((r.verdict for r in self.rules if r.baselined is None), default=Verdict.PASS)

    def counts(self) -> dict[str, int]:
        counts = {v.label: 0 for v in sorted(Verdict, reverse=True)}
        for rule in self.rules:
            counts[rule.verdict.label] += 1
        return counts

    def headline(self) -> str:
        """PASS, FAIL or ERROR, as the exit code says: Warn, Skip and Disabled do not make a run fail."""
        return {EXIT_FAIL: "FAIL", EXIT_ERROR: "ERROR"}.get(self.exit_code(), "PASS")

    def exit_code(self) -> int:
        worst = self.verdict()
        if worst == Verdict.FAIL:
            return EXIT_FAIL
        if worst == Verdict.ERROR:
            return EXIT_ERROR
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "summary": {"headline": self.headline(), "verdict": self.verdict().label,
                                               "exit_code": self.exit_code(),
                                               "counts": self.counts()},
                "rules": [r.as_dict() for r in self.rules], "coverage": self.coverage,
                "behaviour_profile": self.behaviour_profile}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
