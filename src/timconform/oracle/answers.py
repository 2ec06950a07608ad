"""Reading one answer for one rule: refused as the rule says, or imported, or neither.

The judgements here are shared by the rules whose violation draws a refusal. A rule without outcomes expects
a refusal with one of its ``codes`` at its ``level``: an acceptance breaks the rule at its own strength; a
refusal with another code breaks only the code expectation, at the rule's ``code_strength``. A rule with
outcomes passes on any listed outcome and records which one the target showed; an answer that matches none
is a Warn (Fail with --strict), or a Fail when a documented rejection was accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from timconform.oracle.registry import PASS, Observation, Outcome, Skip, failure
from timconform.spec import Outcome as RuleOutcome
from timconform.spec import Rule, Spec

ACCEPTED = "none"
JUDGED_ELSEWHERE = "friend_import"  # its every answer is judged by the response rules (oracle.response)


@dataclass(frozen=True)
class Seen:
    """What the target did with the request (or with one of its items): a code at a level, or nothing."""

    level: str  # "request", "item" or "none"
    code: int

    def describe(self) -> str:
        return "accepted (code 0)" if self.code == 0 else f"{self.code} at {self.level} level"


def seen(reply, *, item: int | None = None, account: str | None = None) -> Seen | None:
    """What happened to the request, or to one item of it: found by ``account`` (its To_Account) when
    given, since ResultItem order is only an inferred rule, else by position ``item``.

    None when the answer says neither: not the envelope inside HTTP 200 (an HTTP 422 with a JSON object is
    no acceptance and no refusal with a code), or no integer ResultCode for the item asked about."""
    body = reply.envelope
    if body is None:
        return None
    if body["ActionStatus"] == "FAIL" or body["ErrorCode"] != 0:
        return Seen("request", body["ErrorCode"])
    if item is None and account is None:
        return Seen(ACCEPTED, 0)
    entry = result_for(body, item=item, account=account)
    code = entry.get("ResultCode") if entry is not None else None
    if not isinstance(code, int):
        return None
    return Seen("item", code) if code else Seen(ACCEPTED, 0)


def result_for(body: dict, *, item: int | None = None, account: str | None = None) -> dict | None:
    items = body.get("ResultItem")
    if not isinstance(items, list):
        return None
    if account is not None:
        return next((i for i in items if isinstance(i, dict) and i.get("To_Account") == account), None)
    if item is not None and item < len(items) and isinstance(items[item], dict):
        return items[item]
    return None


def codes_by_account(reply, items: list[dict[str, Any]]) -> list[int] | None:
    """Each request item's ResultCode, matched by To_Account (ResultItem order is only inferred); None
    unless the answer is OK with an integer ResultCode for every item."""
    results = reply.envelope.get("ResultItem") if reply.ok else None
    if not isinstance(results, list) or len(results) != len(items):
        return None
    pending: dict[Any, list[Any]] = {}
    for result in results:
        if isinstance(result, dict):
            pending.setdefault(result.get("To_Account"), []).append(result.get("ResultCode"))
    codes = []
    for entry in items:
        queue = pending.get(entry.get("To_Account"))
        if not queue or type(queue[0]) is not int:
            return None  # an item without a result of its own: FI-RESULTITEM-PER-ACCOUNT judges the answer
        codes.append(queue.pop(0))
    return codes


def matches(outcome: RuleOutcome, observed: Seen) -> bool:
    if not outcome.codes and outcome.level is None:
        return observed.code == 0
    if observed.code == 0:
        return False
    if outcome.level is not None and outcome.level != observed.level:
        return False
    return not outcome.codes or observed.code in outcome.codes


def expected_refusal(rule: Rule) -> str:
    if rule.outcomes:
        return "one of the outcomes " + ", ".join(o.id for o in rule.outcomes)
    codes = "/".join(str(c) for c in rule.codes) or "a non-zero code"
    level = rule.level if rule.level not in (None, "any") else "request or item"
    return f"a refusal with {codes} at {level} level"


def unreadable(rule: Rule, observation: Observation, expected: str) -> Skip:
    """An answer that says neither "accepted" nor "refused with code N" for what ``rule`` asks about.

    A friend_import answer is judged as an answer by the response rules (FI-HTTP-200, FI-ENVELOPE-SHAPE,
    FI-RESULTITEM-PER-ACCOUNT): one fault, one blame, and ``rule`` is not reached. No rule judges the
    companion operations' answers as such, so there the rule under test is broken by it."""
    reply = observation.reply
    if reply.exchange.operation == JUDGED_ELSEWHERE:
        judge = ("FI-HTTP-200 and FI-ENVELOPE-SHAPE judge it" if reply.envelope is None else
                 "FI-RESULTITEM-PER-ACCOUNT and FI-ENVELOPE-SHAPE judge it")
        return Skip(f"not reached: the answer was {reply.describe()}, with no result to read for this rule ({judge})")
    what = reply.describe() if reply.envelope is None else f"{reply.describe()} and no result for the item"
    raise failure(rule, observation, f"{expected} Received {what}.")


def _prefix(observation: Observation) -> str:
    return f"{observation.note}: " if observation.note else ""


def refused(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """The answer to a request (or an item) built to break ``rule``: refused as the rule says.

    With the fact ``premise`` (the rule that demands the refusal), ``rule`` is only about how the refusal
    looks: an acceptance is the premise's failure, which judges it, and this rule is then not reached."""
    observed = seen(observation.reply, item=observation.item, account=observation.account)
    premise = observation.get("premise")
    if premise is not None and (observed is None or observed.code == 0):
        return Skip(f"not reached: {premise} failed first ({observation.note or 'no refusal'} was not refused)")
    expected = f"{_prefix(observation)}Expected {expected_refusal(rule)}."
    if observed is None:
        return unreadable(rule, observation, expected)
    if rule.outcomes:
        return _outcome(rule, observation, observed, expected)
    if observed.code == 0:
        raise failure(rule, observation, f"{expected} Received an acceptance.")
    level_ok = rule.level in (None, "any") or rule.level == observed.level
    if level_ok and (not rule.codes or observed.code in rule.codes):
        return PASS
    raise failure(rule, observation, f"{expected} Received {observed.describe()}.",
                  strength=rule.code_strength or rule.strength)


def _outcome(rule: Rule, observation: Observation, observed: Seen, expected: str) -> Outcome:
    for outcome in rule.outcomes:
        if matches(outcome, observed):
            return Outcome(outcome.id)
    rejections_only = all(o.codes or o.level for o in rule.outcomes)
    strength = rule.strength if (observed.code == 0 and rejections_only) else (rule.code_strength or "open")
    raise failure(rule, observation, f"{expected} Received {observed.describe()}.", strength=strength)


def imported(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """An item within ``rule``'s limits: ResultCode 0. A refusal breaks the rule; an answer with no result for
    the item is the response rules' to judge."""
    observed = seen(observation.reply, item=observation.item, account=observation.account)
    expected = f"Expected {observation.note or 'the item'} to be imported (ResultCode 0)."
    if observed is None:
        return unreadable(rule, observation, expected)
    if observed.code != 0:
        raise failure(rule, observation, f"{expected} Received {observed.describe()}.")
    return PASS


def all_imported(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Every item of a batch (``request``, the AddFriendItem list) within ``rule``'s limits: ResultCode 0 each."""
    items = observation.request
    codes = codes_by_account(observation.reply, items)
    expected = f"Expected {observation.note or 'the batch'}: ResultCode 0 for each of {len(items)} items."
    reply = observation.reply
    if codes is None and reply.envelope is not None and not reply.ok:  # the whole valid batch refused
        raise failure(rule, observation, f"{expected} Received {reply.describe()}.")
    if codes is None:
        return unreadable(rule, observation, expected)
    refused_codes = sorted({c for c in codes if c != 0}, key=repr)
    if refused_codes:
        raise failure(rule, observation, f"{expected} Received codes {refused_codes} for "
                                         f"{sum(c != 0 for c in codes)} of them.")
    return PASS


def accepted_call(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """A valid request the rule says must be served: ActionStatus OK, ErrorCode 0."""
    if not observation.reply.ok:
        raise failure(rule, observation, f"Expected {observation.note} to be accepted (ActionStatus OK). "
                                         f"Received {observation.reply.describe()}.")
    return PASS


def refused_call(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """A request the rule says must not be served, whatever the code: anything but ActionStatus OK."""
    if observation.reply.ok:
        raise failure(rule, observation, f"Expected {observation.note} refused. "
                                         f"Received {observation.reply.describe()}.")
    return PASS
