"""Open questions: where the docs are silent, record which listed outcome the target shows.

Every probe uses fresh accounts. Where two outcomes give the same answer (ResultCode 0 in both
"overwrite" and "keep"), the stored state is read back to tell them apart; an answer or a state that
matches no listed outcome is reported at the rule's own strength.
"""

from __future__ import annotations

import re
import string
from typing import Any

from timconform.oracle.expect import seen, unreadable
from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.session import ADD_SOURCE, Session, item
from timconform.target import Reply

REMARK, SOURCE = "Tag_SNS_IM_Remark", "Tag_SNS_IM_AddSource"
TEXT_RULE = "OPEN-RESULTINFO-TEXT"
# Sample failures and official client code use identifiers such as Err_SNS_FriendImport_... (api-facts §7).
IDENTIFIER = re.compile(r"Err_[A-Za-z0-9_]+", re.IGNORECASE)
OVER_UINT32 = 2**32  # one past the largest value of the uint32 the time fields are typed as (common.json)


def _open(session: Session, rules: tuple[str, ...]) -> bool:
    if session.profile.open_rules:
        return True
    session.recorder.skipped(rules, f"the {session.profile.name} profile does not probe open questions")
    return False


def _import(session: Session, from_account: str, items: list[dict[str, Any]]) -> Reply:
    """friend_import with every response check, and the wording of any failure noted for OPEN-RESULTINFO-TEXT."""
    reply = session.friend_import(from_account, items)
    note_texts(session, reply)
    return reply


def note_texts(session: Session, reply: Reply) -> None:
    """Record the style of each failure text; the wording is never a reason to fail a target."""
    body = reply.body
    if not isinstance(body, dict) or not session.recorder.enabled(TEXT_RULE):
        return
    if body.get("ActionStatus") == "FAIL" or body.get("ErrorCode") not in (0, None):
        texts = [body.get("ErrorInfo")]
    else:
        texts = [i.get("ResultInfo") for i in body.get("ResultItem") or ()
                 if isinstance(i, dict) and i.get("ResultCode")]
    for text in texts:
        if isinstance(text, str) and text:  # an empty text is FI-RESULTINFO-SET-ON-FAILURE's business
            session.recorder.outcome(TEXT_RULE, "identifier" if IDENTIFIER.fullmatch(text) else "free-text")


def _codes(reply: Reply, items: list[dict[str, Any]]) -> list[int | None] | None:
    """Per-item ResultCodes of an accepted request with one ResultItem per item, in request order, else None.

    By position, because the duplicate probe names one To_Account twice; only once the answer's To_Accounts
    are the request's, in order, so that no item is ever read from another item's result."""
    results = reply.envelope.get("ResultItem") if reply.ok else None
    sent = [i["To_Account"] for i in items]
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        return None
    answered = [r.get("To_Account") for r in results]
    if len(set(sent)) == len(sent):  # distinct accounts: matched by account, in whatever order they came
        by_account = {r.get("To_Account"): r.get("ResultCode") for r in results}
        return [by_account[a] for a in sent] if sorted(map(str, answered)) == sorted(sent) else None
    return [r.get("ResultCode") for r in results] if answered == sent else None


def _per_item(session: Session, rule: str, reply: Reply, items: list[dict[str, Any]]) -> list[int | None] | None:
    """The per-item codes, or None once a whole-request answer has been judged (or found unreadable)."""
    if not reply.ok:
        session.expect(rule, reply)
        return None
    codes = _codes(reply, items)
    if codes is None:
        unreadable(session.recorder, session.spec.rules[rule], reply,
                   f"Expected an accepted request to answer one ResultItem for each of its {len(items)} items.")
    return codes


def _remark(session: Session, from_account: str, to_account: str) -> tuple[Reply, Any]:
    """The stored Remark of one friend, or the marker "not a friend"."""
    reply, stored = session.stored(from_account, [to_account], [REMARK])
    values = stored.get(to_account)
    return reply, ("not a friend" if values is None else values.get(REMARK))


@scenario("open-existing-friend", rules=RESPONSE_RULES + ("OPEN-EXISTING-FRIEND", TEXT_RULE, "FI-VALID-ITEM-IMPORTED"))
def existing_friend(session: Session) -> None:
    """Importing a friend a second time: refused, overwritten or kept."""
    rule = "OPEN-EXISTING-FRIEND"
    if not _open(session, (rule,)):
        return
    a, b = session.accounts(2)
    session.import_valid(a, [item(b, Remark="one")])
    reply = _import(session, a, [item(b, Remark="two")])
    observed = seen(reply, account=b)
    if observed is None or observed.code != 0:
        if session.expect(rule, reply, account=b) == "per-item-30001":
            read_reply, remark = _remark(session, a, b)
            session.verify(rule, remark == "one", "Expected the refused re-import (30001) to leave Remark \"one\" "
                           f"stored. Received {remark!r}.", read_reply)
        return
    read_reply, remark = _remark(session, a, b)
    outcome = {"two": "overwrite", "one": "keep"}.get(remark)
    if outcome:
        session.recorder.outcome(rule, outcome)
    else:
        session.fail(rule, "Expected the accepted re-import to read back Remark \"two\" (overwrite) or \"one\" "
                     f"(keep). Received {remark!r}.", read_reply)


@scenario("open-self-import", rules=RESPONSE_RULES + ("OPEN-SELF-IMPORT", TEXT_RULE, "FI-VALID-ITEM-IMPORTED"))
def self_import(session: Session) -> None:
    """From_Account imported as its own friend, next to a valid item."""
    rule = "OPEN-SELF-IMPORT"
    if not _open(session, (rule,)):
        return
    a, b = session.accounts(2)
    items = [item(a), item(b)]
    reply = _import(session, a, items)
    outcome = session.expect(rule, reply, account=a)
    if outcome == "per-item-30001":
        session.imported("FI-VALID-ITEM-IMPORTED", reply, "the valid item next to the refused self-import", account=b)
    elif outcome == "accepted":
        read_reply, remark = _remark(session, a, a)
        session.verify(rule, remark != "not a friend", f"Expected the accepted self-import to put {a} in their own "
                       "friend table. Received not a friend.", read_reply)


@scenario("open-duplicate-to-account", rules=RESPONSE_RULES + ("OPEN-DUPLICATE-TO-ACCOUNT", TEXT_RULE,
                                                             "FI-VALID-ITEM-IMPORTED"))
def duplicate_to_account(session: Session) -> None:
    """The same To_Account twice in one request, with different Remarks."""
    rule = "OPEN-DUPLICATE-TO-ACCOUNT"
    if not _open(session, (rule,)):
        return
    a, b = session.accounts(2)
    items = [item(b, Remark="first"), item(b, Remark="second")]
    reply = _import(session, a, items)
    codes = _per_item(session, rule, reply, items)
    if codes is None:
        return
    if codes[0] != 0:
        session.fail(rule, "Expected the first occurrence of a duplicated To_Account to be imported "
                     f"(or the request refused as a whole). Received ResultCodes {codes}.", reply)
        return
    session.require_stored(a, [b], reply)  # which Remark won means nothing unless b was stored at all
    read_reply, remark = _remark(session, a, b)
    if codes[1] != 0:
        if session.expect(rule, reply, item=1) == "later-duplicate-30001":
            session.verify(rule, remark == "first", "Expected the first occurrence (Remark \"first\") to stay stored "
                           f"when the later duplicate is refused. Received {remark!r}.", read_reply)
        return
    outcome = {"second": "last-wins", "first": "first-wins"}.get(remark)
    if outcome:
        session.recorder.outcome(rule, outcome)
    else:
        session.fail(rule, "Expected both accepted duplicates to leave Remark \"second\" (last wins) or \"first\" "
                     f"(first wins). Received {remark!r}.", read_reply)


@scenario("open-empty-addfrienditem", rules=RESPONSE_RULES + ("OPEN-EMPTY-ADDFRIENDITEM", TEXT_RULE))
def empty_addfrienditem(session: Session) -> None:
    """AddFriendItem: [] is refused, or answered with an empty ResultItem."""
    rule = "OPEN-EMPTY-ADDFRIENDITEM"
    if not _open(session, (rule,)):
        return
    (a,) = session.accounts(1)
    reply = _import(session, a, [])
    if reply.ok and reply.envelope.get("ResultItem") != []:
        # The shape of the answer (ResultItem for nothing requested, Fail_Account) is the response rules' to judge.
        unreadable(session.recorder, session.spec.rules[rule], reply, "Expected ResultItem [] for an empty request.")
        return
    session.expect(rule, reply)


@scenario("open-time-field-range", rules=RESPONSE_RULES + ("OPEN-TIME-FIELD-RANGE", TEXT_RULE, "FI-VALID-ITEM-IMPORTED"))
def time_field_range(session: Session) -> None:
    """AddTime and RemarkTime one past the uint32 range and negative."""
    rule = "OPEN-TIME-FIELD-RANGE"
    if not _open(session, (rule,)):
        return
    a, control, *friends = session.accounts(6)
    values = [("AddTime", OVER_UINT32), ("AddTime", -1), ("RemarkTime", OVER_UINT32), ("RemarkTime", -1)]
    items = [item(to, Remark="r", **{key: value}) for to, (key, value) in zip(friends, values)]
    items.append(item(control))  # the control tells whether anything accepted is kept at all
    reply = _import(session, a, items)
    if _per_item(session, rule, reply, items) is None:
        return
    accepted = [to for index, (to, (key, value)) in enumerate(zip(friends, values))
                if session.expect(rule, reply, account=to, note=f"{key} {value}") == "accepted"]
    if accepted:
        session.require_stored(a, [control], reply)
        stored = session.friends_among(a, accepted)
        session.verify(rule, stored == set(accepted), "Expected the items accepted with an out-of-range time to be "
                       f"stored as friends. Received friends {sorted(stored)} of {accepted}.", reply)


def _unconfigured_tag(session: Session) -> str:
    """A well-formed custom tag the target was not told about (letters only, within the keyword limit)."""
    letters = min(6, session.spec.limit("custom_tag_keyword_letters"))
    tag = "Tag_SNS_Custom_" + "Zqzqzqzq"[:letters]
    while tag in session.custom_tags:
        tag = "Tag_SNS_Custom_Zq" + "".join(session.random.choices(string.ascii_lowercase, k=letters - 2))
    return tag


@scenario("open-custom-tag-unconfigured", rules=RESPONSE_RULES + ("FI-LIMIT-CUSTOM-TAG-CONFIGURED", TEXT_RULE,
                                                                "FI-VALID-ITEM-IMPORTED"))
def custom_tag_unconfigured(session: Session) -> None:
    """A well-formed custom tag that is not configured: refused, or ignored and not stored."""
    rule = "FI-LIMIT-CUSTOM-TAG-CONFIGURED"
    if not _open(session, (rule,)):
        return
    a, b, c = session.accounts(3)
    tag = _unconfigured_tag(session)
    reply = _import(session, a, [item(b, CustomItem=[{"Tag": tag, "Value": "v"}]), item(c)])
    observed = seen(reply, account=b)
    if observed is None or observed.code != 0:
        if session.expect(rule, reply, account=b) == "per-item-30001":
            session.imported("FI-VALID-ITEM-IMPORTED", reply, f"the valid item next to the one with the "
                                                              f"unconfigured tag {tag}", account=c)
        return
    session.require_stored(a, [c], reply)  # "ignored" needs b stored; c shows whether anything is
    read_reply, stored = session.stored(a, [b], [tag])
    values = stored.get(b)
    if values is not None and tag not in values:
        session.recorder.outcome(rule, "ignored")
    else:
        got = "not a friend" if values is None else f"{tag}={values[tag]!r}"
        session.fail(rule, f"Expected the item accepted with the unconfigured tag {tag} to be a friend without that "
                     f"tag (ignored). Received {got}.", read_reply)


@scenario("open-custom-value-integer", rules=RESPONSE_RULES + ("OPEN-CUSTOM-VALUE-INTEGER", TEXT_RULE),
          needs=("custom-tags",))
def custom_value_integer(session: Session) -> None:
    """Integer Values for a configured custom tag, up to past the 32- and 64-bit ranges: kept as integers,
    stringified, or refused, value by value."""
    rule = "OPEN-CUSTOM-VALUE-INTEGER"
    if not _open(session, (rule,)):
        return
    values = [0, 7, 2**31, 2**32, 2**63]
    a, *friends = session.accounts(1 + len(values))
    tag = session.custom_tags[0]
    items = [item(to, CustomItem=[{"Tag": tag, "Value": v}]) for to, v in zip(friends, values)]
    reply = _import(session, a, items)
    codes = _per_item(session, rule, reply, items)
    if codes is None:
        return
    for n, code in enumerate(codes):
        if code != 0:
            session.expect(rule, reply, account=friends[n], note=f"Value {values[n]}")
    accepted = [(to, v) for to, v, code in zip(friends, values, codes) if code == 0]
    if not accepted:
        return
    read_reply, stored = session.stored(a, [to for to, _ in accepted], [tag, SOURCE])
    for to, value in accepted:
        record = stored.get(to) or {}
        if record.get(SOURCE) != ADD_SOURCE:  # not the friend imported: what it says of the Value is no answer
            session.recorder.skipped([rule], f"not reached: FI-ROUND-TRIP failed first ({to} read back without the "
                                             f"AddSource it was imported with)")
            continue
        read = record.get(tag)
        if type(read) is int and read == value:
            session.recorder.outcome(rule, "accepted")
        elif read == str(value):
            session.recorder.outcome(rule, "stringified")
        else:
            session.fail(rule, f"Expected the accepted integer Value {value} to read back as {value} or "
                         f"\"{value}\". Received {read!r}.", read_reply)


@scenario("open-resultinfo-text", rules=RESPONSE_RULES + (TEXT_RULE,))
def resultinfo_text(session: Session) -> None:
    """The wording of validation failures: one item breaking each of a few documented limits."""
    if not _open(session, (TEXT_RULE,)):
        return
    limit = session.spec.limit
    a, *friends = session.accounts(5)
    broken = [{"Remark": "a" * (limit("remark_bytes") + 1)}, {"AddSource": "Android"},
              {"GroupName": ["g" * (limit("group_name_bytes") + 1)]},
              {"AddWording": "w" * (limit("add_wording_bytes") + 1)}]
    _import(session, a, [{**item(to), **fields} for to, fields in zip(friends, broken)])

