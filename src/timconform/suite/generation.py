"""Generated examples that shrink per rule: Hypothesis runs a scenario's body over drawn values, and each rule
broken in an example is reported with the minimal example Hypothesis finds for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky

from timconform.oracle.recorder import CheckFailed

try:
    BaseExceptionGroup  # novermin: guarded below
except NameError:  # Python 3.10: Hypothesis depends on the backport there
    from exceptiongroup import BaseExceptionGroup
from timconform.suite.session import Session


class ExampleFailed(Exception):
    """Raised at the end of a generated example that broke rules, so Hypothesis shrinks it."""

    def __init__(self, failures: list[CheckFailed]) -> None:
        super().__init__("; ".join(f.message for f in failures))
        self.failures = failures


_PER_RULE: dict[str, type[ExampleFailed]] = {}


def _failure_type(rule_id: str) -> type[ExampleFailed]:
    # One exception type per rule: Hypothesis shrinks each distinct bug separately, so the minimal
    # example it reports for a rule still breaks that rule.
    if rule_id not in _PER_RULE:
        _PER_RULE[rule_id] = type(f"Broke_{rule_id.replace('-', '_')}", (ExampleFailed,), {})
    return _PER_RULE[rule_id]


class _Buffer:
    """Stands in for the recorder inside an example: passes go through, failures wait for the end."""

    def __init__(self, recorder) -> None:
        self._recorder = recorder
        self.failures: list[CheckFailed] = []

    def failed(self, failure: CheckFailed) -> None:
        self.failures.append(failure)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._recorder, name)


def run_generated(session: Session, strategy, body: Callable[[Session, Any], None]) -> None:
    """Run ``body`` over examples of ``strategy``; record the minimal failing example of each broken rule."""
    recorder = session.recorder
    phases = [Phase.generate, Phase.target] + ([Phase.shrink] if session.profile.shrink else [])

    @settings(max_examples=session.profile.examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=phases, report_multiple_bugs=True)
    @hypothesis_seed(session.seed)
    @given(strategy)
    def example(value: Any) -> None:
        buffer = _Buffer(recorder)
        session.recorder = buffer
        try:
            body(session, value)
        finally:
            session.recorder = recorder
        if buffer.failures:
            raise _failure_type(buffer.failures[0].rule_id)(buffer.failures)

    try:
        example()
    except (ExampleFailed, Flaky, BaseExceptionGroup) as exc:
        for failure in _failures_of(exc):
            recorder.failed(failure)


def _failures_of(exc: BaseException) -> list[CheckFailed]:
    if isinstance(exc, ExampleFailed):
        return exc.failures
    if isinstance(exc, BaseExceptionGroup):
        return [f for inner in exc.exceptions for f in _failures_of(inner)]
    raise exc
