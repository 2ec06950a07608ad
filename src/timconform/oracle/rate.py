"""The documented rate limits, judged on a burst of calls faster than the limit.

The burst is judged only when more calls than the limit provably landed within one second (each call is
known to have reached the target between its send and its answer); otherwise the rule is Unjudged, an Error
saying the client could not go fast enough, never a verdict on the target.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from timconform.oracle.answers import refused
from timconform.oracle.registry import NOT_APPLICABLE, PASS, Observation, Unjudged, check, failure
from timconform.spec import Rule, Spec

WINDOW = 1.0
STORED = ("CheckResult_Type_BWithA", "CheckResult_Type_BothWay")


@dataclass(frozen=True)
class Shot:
    """One call of a burst: when it was sent and answered (monotonic seconds), its answer and its body."""

    started: float
    answered: float
    reply: Any
    body: Any = None


def landed_within_window(shots: list[Shot]) -> int:
    """The most calls that certainly reached the target within one window: sent at or after some call's
    send time and answered before that time plus the window."""
    return max(sum(1 for o in shots if o.started >= s.started and o.answered <= s.started + WINDOW) for s in shots)


def _limited(rule: Rule, shots: list[Shot]) -> list[Shot]:
    return [s for s in shots if not s.reply.ok and s.reply.error_code in rule.codes]


def burst(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """``shots`` of ``operation``, faster than the limit: every one in HTTP 200, some refused with the rule's code,
    and at least the limit's worth served normally. ``one_window``: the target's clock stood still during the
    burst (the embedded emulator), so every call landed in one window."""
    shots, operation = observation["shots"], observation["operation"]
    limit = spec.limit(rule.limit)
    landed = len(shots) if observation.get("one_window") else landed_within_window(shots)
    if landed <= limit:
        return Unjudged(f"only {landed} of {len(shots)} {operation} calls certainly landed within one second, not "
                        f"more than the limit of {limit}: the client was too slow to test the limit")
    limited = _limited(rule, shots)
    served = [s for s in shots if s not in limited]
    answers = dict(Counter((s.reply.status, s.reply.error_code) for s in shots))
    statuses = Counter(s.reply.status for s in shots)
    if set(statuses) != {200}:
        first = next(s.reply for s in shots if s.reply.status != 200)
        raise failure(rule, Observation("burst", reply=first), f"Expected every one of {len(shots)} {operation} calls "
                      f"answered with HTTP 200, over the limit too (never 429). Received (HTTP status: calls) "
                      f"{dict(statuses)}.")
    if not limited:
        raise failure(rule, Observation("burst", reply=shots[-1].reply), f"Expected some of {landed} {operation} calls "
                      f"within one second (limit {limit}) refused with {'/'.join(map(str, rule.codes))} inside HTTP "
                      f"200. Received (status, ErrorCode): calls {answers}.")
    if len(served) < limit or not all(s.reply.ok for s in served):
        first = next((s.reply for s in served if not s.reply.ok), None)
        raise failure(rule, Observation("burst", reply=first), f"Expected at least {limit} of the burst's {operation} "
                      f"calls served normally (ActionStatus OK) and every call not refused for the rate to be OK. "
                      f"Received (status, ErrorCode): calls {answers}.")
    return PASS


def refused_not_kept(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """A friend_import refused for the rate imports nothing: ``relations`` are read from the To_Account's side
    (``account``) for the burst's senders, so a refused sender that has it after all shows BWithA."""
    relations = observation["relations"]
    refused_senders = [s.body["From_Account"] for s in _limited(rule, observation["shots"])]
    if not refused_senders:
        return NOT_APPLICABLE
    stored = sorted(a for a in refused_senders if relations.get(a) in STORED)
    if stored:
        raise failure(rule, observation, f"Expected none of the {len(refused_senders)} friend_import calls refused for "
                                         f"the rate to import its friend. Received {len(stored)} stored, e.g. "
                                         f"{stored[:3]}.")
    return PASS


def rate_code(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Which code the first call refused for the rate in a burst (``shots``) carried."""
    limited = _limited(rule, observation["shots"])
    if not limited:
        return NOT_APPLICABLE
    return refused(spec, rule, Observation("refused", reply=limited[0].reply, note=observation.note))


check("FI-RATE-LIMIT-200", burst=burst, refused_not_kept=refused_not_kept)
check("SUPPORT-RATE-LIMIT-100", burst=burst)
check("OPEN-RATE-LIMIT-CODE", burst=rate_code)
