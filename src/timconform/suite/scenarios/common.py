"""Helpers shared by scenarios: the response rules, generated examples that shrink per rule, round trips."""

from __future__ import annotations

import time
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
from timconform.oracle.response import CHECKS
from timconform.suite.session import Session

RESPONSE_RULES = tuple(CHECKS)
STANDARD_TAGS = ["Tag_SNS_IM_Remark", "Tag_SNS_IM_Group", "Tag_SNS_IM_AddSource", "Tag_SNS_IM_AddWording",
                 "Tag_SNS_IM_AddTime"]


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


def round_trip(session: Session, from_account: str, items: list[dict], codes: list[int]) -> None:
    """FI-ROUND-TRIP: every field of each imported item reads back through friend_get_list."""
    imported = [i for i, code in zip(items, codes) if code == 0]
    if not imported or not session.recorder.enabled("FI-ROUND-TRIP"):
        return
    custom = sorted({c["Tag"] for i in imported for c in i.get("CustomItem", ())})
    reply, stored = session.stored(from_account, [i["To_Account"] for i in imported], STANDARD_TAGS + custom)
    for item in imported:
        values = stored.get(item["To_Account"])
        if values is None:
            session.fail("FI-ROUND-TRIP", f"Expected {item['To_Account']} to read back as a friend. Received a failure.",
                         reply)
            continue
        expected = {"Tag_SNS_IM_AddSource": item["AddSource"]}
        if "Remark" in item:
            expected["Tag_SNS_IM_Remark"] = item["Remark"]
        if "AddWording" in item:
            expected["Tag_SNS_IM_AddWording"] = item["AddWording"]
        for entry in item.get("CustomItem", ()):
            if isinstance(entry["Value"], str):
                expected[entry["Tag"]] = entry["Value"]
        wrong = {tag: (value, values.get(tag)) for tag, value in expected.items() if values.get(tag) != value}
        if item.get("GroupName") and set(values.get("Tag_SNS_IM_Group") or ()) != set(item["GroupName"]):
            wrong["Tag_SNS_IM_Group"] = (item["GroupName"], values.get("Tag_SNS_IM_Group"))
        if not session.verify("FI-ROUND-TRIP", not wrong,
                              f"Expected the imported values to read back. Received (sent, read) {wrong}", reply):
            # The record read back is not the one imported: what it says of AddTime or an integer Value is no answer.
            session.recorder.skipped(["OPEN-ADDTIME-READBACK", "OPEN-CUSTOM-VALUE-INTEGER"],
                                     "not reached: FI-ROUND-TRIP failed first (the friend read back without the "
                                     "values it was imported with)")
            continue
        if "AddTime" in item:
            addtime_outcome(session, item["AddTime"], values.get("Tag_SNS_IM_AddTime"), reply)
        for entry in item.get("CustomItem", ()):
            if isinstance(entry["Value"], int) and not isinstance(entry["Value"], bool):
                read = values.get(entry["Tag"])
                if read == entry["Value"]:
                    session.recorder.outcome("OPEN-CUSTOM-VALUE-INTEGER", "accepted")
                elif read == str(entry["Value"]):
                    session.recorder.outcome("OPEN-CUSTOM-VALUE-INTEGER", "stringified")


A_WITH_B, BOTH_WAY = "CheckResult_Type_AWithB", "CheckResult_Type_BothWay"


CLOCK_SKEW = 300  # seconds either side of the run a target's clock may be and still read as "the server time"


def addtime_outcome(session: Session, sent: int, read: Any, reply) -> None:
    """OPEN-ADDTIME-READBACK: the AddTime sent, or the server's time of the import; nothing else is either."""
    if read == sent:
        session.recorder.outcome("OPEN-ADDTIME-READBACK", "verbatim")
    elif type(read) is int and session.started - CLOCK_SKEW <= read <= time.time() + CLOCK_SKEW:
        session.recorder.outcome("OPEN-ADDTIME-READBACK", "server-time")
    else:
        session.fail("OPEN-ADDTIME-READBACK", f"Expected Tag_SNS_IM_AddTime to read back as the AddTime sent "
                                              f"({sent}) or as the time of the import. Received {read!r}.", reply)


def one_way(session: Session, from_account: str, to_account: str) -> None:
    """FI-ONE-WAY: From has To; To does not have From. A From without To was never stored: that is
    FI-VALID-ITEM-IMPORTED's failure, and says nothing about the direction."""
    if not session.recorder.enabled("FI-ONE-WAY"):
        return
    relation = session.relations(from_account, [to_account]).get(to_account)
    if relation not in (A_WITH_B, BOTH_WAY):
        session.fail("FI-VALID-ITEM-IMPORTED", f"Expected {to_account}, imported with ResultCode 0, in "
                                               f"{from_account}'s friend table: friend_check({from_account} -> "
                                               f"{to_account}) AWithB. Received {relation!r}.")
        return
    session.verify("FI-ONE-WAY", relation == A_WITH_B,
                   f"Expected friend_check({from_account} -> {to_account}) to be {A_WITH_B}: the import adds "
                   f"{from_account} to nobody's table. Received {relation!r}.")
