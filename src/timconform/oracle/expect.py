"""Judging the answer to a request built to break (or probe) one rule.

A rule without outcomes expects a refusal with one of its ``codes`` at its ``level``: an acceptance
breaks the rule at its own strength; a refusal with another code breaks only the code expectation,
at the rule's ``code_strength``. A rule with outcomes passes on any listed outcome and records which
one the target showed; an answer that matches none is a Warn (Fail with --strict), or a Fail when a
documented rejection was accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from timconform.oracle.recorder import CheckFailed, Recorder
from timconform.report.model import Verdict
from timconform.spec import Outcome, Rule

ACCEPTED = "none"


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


JUDGED_ELSEWHERE = "friend_import"  # its every answer is judged by the response rules (oracle.response)


def unreadable(recorder: Recorder, rule: Rule, reply, expected: str) -> None:
    """An answer that says neither "accepted" nor "refused with code N" for what ``rule`` asks about.

    A friend_import answer is judged as an answer by the response rules (FI-HTTP-200, FI-ENVELOPE-SHAPE,
    FI-RESULTITEM-PER-ACCOUNT): one fault, one blame, and ``rule`` is not reached. No rule judges the
    companion operations' answers as such, so there the rule under test is broken by it."""
    if reply.exchange.operation == JUDGED_ELSEWHERE:
        judge = ("FI-HTTP-200 and FI-ENVELOPE-SHAPE judge it" if reply.envelope is None else
                 "FI-RESULTITEM-PER-ACCOUNT judges it")
        recorder.skipped([rule.id], f"not reached: the answer was {reply.describe()}, with no result to read "
                                    f"for this rule ({judge})")
        return
    what = reply.describe() if reply.envelope is None else f"{reply.describe()} and no result for the item"
    recorder.failed(CheckFailed(rule.id, f"{expected} Received {what}.", exchange=reply.exchange,
                                severity=_severity(recorder, rule.strength)))


def matches(outcome: Outcome, observed: Seen) -> bool:
    if not outcome.codes and outcome.level is None:
        return observed.code == 0
    if observed.code == 0:
        return False
    if outcome.level is not None and outcome.level != observed.level:
        return False
    return not outcome.codes or observed.code in outcome.codes


def _severity(recorder: Recorder, strength: str | None) -> Verdict:
    if strength == "documented" or recorder.strict:
        return Verdict.FAIL
    return Verdict.WARN


def _expected(rule: Rule) -> str:
    if rule.outcomes:
        return "one of the outcomes " + ", ".join(o.id for o in rule.outcomes)
    codes = "/".join(str(c) for c in rule.codes) or "a non-zero code"
    level = rule.level if rule.level not in (None, "any") else "request or item"
    return f"a refusal with {codes} at {level} level"


def expect(recorder: Recorder, rule: Rule, reply, *, item: int | None = None, account: str | None = None,
           note: str = "") -> str | None:
    """Judge ``reply`` for ``rule``; returns the matched outcome id (open rules) or None."""
    if not recorder.enabled(rule.id):
        return None
    observed = seen(reply, item=item, account=account)
    prefix = f"{note}: " if note else ""
    if observed is None:
        unreadable(recorder, rule, reply, prefix + f"Expected {_expected(rule)}.")
        return None
    if rule.outcomes:
        for outcome in rule.outcomes:
            if matches(outcome, observed):
                recorder.outcome(rule.id, outcome.id)
                return outcome.id
        rejections_only = all(o.codes or o.level for o in rule.outcomes)
        strength = rule.strength if (observed.code == 0 and rejections_only) else (rule.code_strength or "open")
        recorder.failed(CheckFailed(rule.id, f"{prefix}Expected {_expected(rule)}. Received {observed.describe()}.",
                                    exchange=reply.exchange, severity=_severity(recorder, strength)))
        return None
    if observed.code == 0:
        recorder.failed(CheckFailed(rule.id, f"{prefix}Expected {_expected(rule)}. Received an acceptance.",
                                    exchange=reply.exchange, severity=_severity(recorder, rule.strength)))
        return None
    level_ok = rule.level in (None, "any") or rule.level == observed.level
    code_ok = not rule.codes or observed.code in rule.codes
    if level_ok and code_ok:
        recorder.passed(rule.id)
        return None
    strength = rule.code_strength or rule.strength
    recorder.failed(CheckFailed(rule.id, f"{prefix}Expected {_expected(rule)}. Received {observed.describe()}.",
                                exchange=reply.exchange, severity=_severity(recorder, strength)))
    return None
