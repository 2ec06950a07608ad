"""One check per rule: the registry every verdict of a run goes through.

A check is the set of judgements one rule makes, each a pure function of (spec, rule, observation) for one
kind of evidence: the answer to a request built to break the rule ("refused"), an item within its limits
("imported"), a friend table read back ("kept", "not_kept"), and so on. Scenarios arrange and send; they hand
the check of the rule they probe an :class:`Observation` of what happened, and :func:`judge` records what the
check found. A judgement raises :class:`CheckFailed` (the one failure type, Expected/Received with the
exchange as evidence), returns :data:`PASS`, an :class:`Outcome` of an open rule, a :class:`Skip` with the
premise that was missing, or an :class:`Unjudged` when the harness could not produce the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from timconform.oracle.derived import resolve
from timconform.oracle.recorder import CheckFailed, Recorder
from timconform.report.model import Verdict
from timconform.spec import Rule, Spec

PASS = None


@dataclass(frozen=True)
class Observation:
    """What a scenario shows one rule's check: the kind of evidence, the answer judged, and the known state.

    ``reply`` is the answer judged (its exchange becomes the evidence of a failure); ``item`` / ``account``
    pick one item of it; ``facts`` is what else the scenario knows (the friend table read back, the values
    sent, the clock)."""

    kind: str
    reply: Any = None
    request: Any = None
    item: int | None = None
    account: str | None = None
    note: str = ""
    facts: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    unreached: str | None = None  # why the check is not reached: a premise failed first (failed_first), or a
    # precondition is missing; the rule is then Skip with this reason unless another observation judges it

    def __getitem__(self, name: str) -> Any:
        return resolve(self.facts[name])

    def get(self, name: str, default: Any = None) -> Any:
        return resolve(self.facts.get(name, default))


@dataclass(frozen=True)
class Outcome:
    """An open rule's listed outcome, shown by the target."""

    id: str


@dataclass(frozen=True)
class Skip:
    """Nothing to judge here: the premise that was missing ("" when the observation says nothing of the rule)."""

    reason: str = ""


@dataclass(frozen=True)
class Unjudged:
    """The harness could not produce the evidence the rule needs (an Error of the run, never the target's)."""

    reason: str


NOT_APPLICABLE = Skip()
Judgement = Callable[[Spec, Rule, Observation], Any]


class UnknownEvidence(Exception):
    """A scenario showed a check a kind of evidence it does not judge: a harness bug."""


@dataclass(frozen=True)
class Check:
    rule_id: str
    judgements: Mapping[str, Judgement]

    def __call__(self, spec: Spec, rule: Rule, observation: Observation) -> Any:
        judgement = self.judgements.get(observation.kind)
        if judgement is None:
            raise UnknownEvidence(f"the check of {self.rule_id} judges {sorted(self.judgements)}, "
                                  f"not {observation.kind!r}")
        if observation.unreached is not None:
            return Skip(observation.unreached)
        return judgement(spec, rule, observation)


def failed_first(rule_id: str, what: str) -> str:
    """The premise of an observation that failed: ``rule_id`` broke first, as ``what`` shows."""
    return f"not reached: {rule_id} failed first ({what})"


CHECKS: dict[str, Check] = {}


def check(rule_id: str, **judgements: Judgement) -> Check:
    """Register the check of ``rule_id``: the judgement for each kind of evidence it takes. Once per rule."""
    if rule_id in CHECKS:
        raise ValueError(f"{rule_id} already has a check")
    CHECKS[rule_id] = Check(rule_id, MappingProxyType(dict(judgements)))
    return CHECKS[rule_id]


def failure(rule: Rule, observation: Observation, message: str, *, strength: str | None = None,
            severity: Verdict | None = None) -> CheckFailed:
    """The failure of ``rule`` on ``observation``'s answer. ``strength`` overrides the rule's own (e.g. the
    weaker strength of a code expectation): documented -> Fail, anything else -> Warn (Fail with --strict)."""
    if severity is None and strength is not None:
        severity = Verdict.FAIL if strength == "documented" else Verdict.WARN
    reply = observation.reply
    exchange = reply.exchange if reply is not None and hasattr(reply, "exchange") else None
    return CheckFailed(rule.id, message, exchange=exchange, severity=severity)


@dataclass(frozen=True)
class Finding:
    """What a check found, for the scenario to go on with: true when the rule held (passed, or showed an outcome)."""

    status: str  # "pass", "outcome", "fail", "skip", "error"
    outcome: str | None = None
    message: str = ""
    failure: CheckFailed | None = None

    def __bool__(self) -> bool:
        return self.status in ("pass", "outcome")


def evaluate(spec: Spec, rule_id: str, observation: Observation) -> Finding:
    """Run the check of ``rule_id`` without recording anything."""
    rule = spec.rules[rule_id]
    try:
        result = CHECKS[rule_id](spec, rule, observation)
    except CheckFailed as failed:
        return Finding("fail", message=failed.message, failure=failed)
    if isinstance(result, Outcome):
        return Finding("outcome", outcome=result.id)
    if isinstance(result, Skip):
        return Finding("skip", message=result.reason)
    if isinstance(result, Unjudged):
        return Finding("error", message=result.reason)
    return Finding("pass")


def judge(spec: Spec, recorder: Recorder, rule_id: str, observation: Observation) -> Finding:
    """Run the check of ``rule_id`` and record what it found (only when the rule is selected)."""
    try:
        found = evaluate(spec, rule_id, observation)
    except UnknownEvidence:
        raise
    except Exception as exc:  # noqa: BLE001 - a check that crashes is the harness's Error, for its rule only
        where = getattr(getattr(observation.reply, "exchange", None), "url", "the evidence")
        found = Finding("error", message=f"the check of {rule_id} crashed ({type(exc).__name__}: "
                                         f"{' '.join(str(exc).split())[:200]}) on the answer to {where}")
    record(recorder, rule_id, found)
    if recorder.cassette is not None:
        recorder.cassette.judged(rule_id, observation, found)
    return found


def record(recorder: Recorder, rule_id: str, found: Finding) -> None:
    if not recorder.enabled(rule_id):
        return
    if found.status == "pass":
        recorder.passed(rule_id)
    elif found.status == "outcome":
        recorder.outcome(rule_id, found.outcome)
    elif found.status == "fail":
        recorder.failed(found.failure)
    elif found.status == "error":
        recorder.errored([rule_id], found.message)
    elif found.message:
        recorder.skipped([rule_id], found.message)


def load_all() -> dict[str, Check]:
    """Every registered check: importing the modules that hold them registers them."""
    import importlib

    for module in CHECK_MODULES:
        importlib.import_module(f"timconform.oracle.{module}")
    return CHECKS


CHECK_MODULES = ("response", "limits", "stateful", "auth", "malformed", "rate", "open_questions", "support", "client")
