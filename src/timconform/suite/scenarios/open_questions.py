"""Open questions: where the docs are silent, record which listed outcome the target shows.

Every probe uses fresh accounts. Where two outcomes give the same answer (ResultCode 0 in both
"overwrite" and "keep"), the stored state is read back to tell them apart; an answer or a state that
matches no listed outcome is reported at the rule's own strength.
"""

from __future__ import annotations

import string
from typing import Any

from timconform.oracle.answers import seen
from timconform.oracle.derived import NOT_A_FRIEND, Derived
from timconform.oracle.open_questions import failure_texts
from timconform.oracle.registry import failed_first
from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.session import ADD_SOURCE, Session, item
from timconform.target import Reply

REMARK, SOURCE = "Tag_SNS_IM_Remark", "Tag_SNS_IM_AddSource"
TEXT_RULE = "OPEN-RESULTINFO-TEXT"
OVER_UINT32 = 2**32  # one past the largest value of the uint32 the time fields are typed as (common.json)
OPEN = ("open-rules",)


def _import(session: Session, from_account: str, items: list[dict[str, Any]]) -> Reply:
    """friend_import with every response check, and the wording of any failure noted for OPEN-RESULTINFO-TEXT."""
    reply = session.friend_import(from_account, items)
    for text in failure_texts(reply):
        session.judge(TEXT_RULE, "text", reply, text=text)
    return reply


def _remark(session: Session, from_account: str, to_account: str) -> tuple[Reply, Derived]:
    """The stored Remark of one friend, or the marker "not a friend"."""
    reply, _ = session.stored(from_account, [to_account], [REMARK])
    return reply, Derived("tag_value", (reply,), (to_account, REMARK, NOT_A_FRIEND))


def _accepted(reply: Reply, account: str) -> bool:
    observed = seen(reply, account=account)
    return observed is not None and observed.code == 0


@scenario("open-existing-friend", rules=RESPONSE_RULES + ("OPEN-EXISTING-FRIEND", TEXT_RULE, "FI-VALID-ITEM-IMPORTED"),
          needs=OPEN)
def existing_friend(session: Session) -> None:
    """Importing a friend a second time: refused, overwritten or kept."""
    rule = "OPEN-EXISTING-FRIEND"
    a, b = session.accounts(2)
    session.import_valid(a, [item(b, Remark="one")])
    reply = _import(session, a, [item(b, Remark="two")])
    refused = not _accepted(reply, b)
    if refused and session.judge(rule, "refused", reply, account=b).outcome != "per-item-30001":
        return
    read_reply, remark = _remark(session, a, b)
    session.judge(rule, "read", read_reply, first="one", second="two", read=remark, refused=refused)


@scenario("open-self-import", rules=RESPONSE_RULES + ("OPEN-SELF-IMPORT", TEXT_RULE, "FI-VALID-ITEM-IMPORTED"),
          needs=OPEN)
def self_import(session: Session) -> None:
    """From_Account imported as its own friend, next to a valid item."""
    rule = "OPEN-SELF-IMPORT"
    a, b = session.accounts(2)
    reply = _import(session, a, [item(a), item(b)])
    outcome = session.judge(rule, "refused", reply, account=a).outcome
    if outcome == "per-item-30001":
        session.judge("FI-VALID-ITEM-IMPORTED", "imported", reply, account=b,
                      note="the valid item next to the refused self-import")
    elif outcome == "accepted":
        read_reply, remark = _remark(session, a, a)
        session.judge(rule, "kept", read_reply, account=a, owner=a, friends=Derived("listed_friends", (read_reply,), ([a],)),
                      note="the accepted self-import")


@scenario("open-duplicate-to-account", rules=RESPONSE_RULES + ("OPEN-DUPLICATE-TO-ACCOUNT", TEXT_RULE,
                                                             "FI-VALID-ITEM-IMPORTED"), needs=OPEN)
def duplicate_to_account(session: Session) -> None:
    """The same To_Account twice in one request, with different Remarks."""
    rule = "OPEN-DUPLICATE-TO-ACCOUNT"
    a, b = session.accounts(2)
    items = [item(b, Remark="first"), item(b, Remark="second")]
    reply = _import(session, a, items)
    found = session.judge(rule, "duplicates", reply, request=items)
    if found.status not in ("pass", "outcome") or found.outcome == "request-30001":
        return
    later_refused = found.outcome == "later-duplicate-30001"
    session.require_stored(a, [b], reply)  # which Remark won means nothing unless b was stored at all
    read_reply, remark = _remark(session, a, b)
    session.judge(rule, "read", read_reply, first="first", second="second", read=remark, later_refused=later_refused)


@scenario("open-empty-addfrienditem", rules=RESPONSE_RULES + ("OPEN-EMPTY-ADDFRIENDITEM", TEXT_RULE), needs=OPEN)
def empty_addfrienditem(session: Session) -> None:
    """AddFriendItem: [] is refused, or answered with an empty ResultItem."""
    (a,) = session.accounts(1)
    session.judge("OPEN-EMPTY-ADDFRIENDITEM", "empty", _import(session, a, []))


@scenario("open-time-field-range", rules=RESPONSE_RULES + ("OPEN-TIME-FIELD-RANGE", TEXT_RULE, "FI-VALID-ITEM-IMPORTED"),
          needs=OPEN)
def time_field_range(session: Session) -> None:
    """AddTime and RemarkTime one past the uint32 range and negative."""
    rule = "OPEN-TIME-FIELD-RANGE"
    a, control, *friends = session.accounts(6)
    values = [("AddTime", OVER_UINT32), ("AddTime", -1), ("RemarkTime", OVER_UINT32), ("RemarkTime", -1)]
    items = [item(to, Remark="r", **{key: value}) for to, (key, value) in zip(friends, values)]
    items.append(item(control))  # the control tells whether anything accepted is kept at all
    reply = _import(session, a, items)
    if not reply.ok:
        session.judge(rule, "refused", reply)
        return
    accepted = [to for to, (key, value) in zip(friends, values)
                if session.judge(rule, "refused", reply, account=to, note=f"{key} {value}").outcome == "accepted"]
    if accepted:
        session.require_stored(a, [control], reply)
        session.judge(rule, "kept", reply, accounts=accepted, owner=a, friends=session.friends_among(a, accepted),
                      note="the items accepted with an out-of-range time")


def _unconfigured_tag(session: Session) -> str:
    """A well-formed custom tag the target was not told about (letters only, within the keyword limit)."""
    letters = min(6, session.spec.limit("custom_tag_keyword_letters"))
    tag = "Tag_SNS_Custom_" + "Zqzqzqzq"[:letters]
    while tag in session.custom_tags:
        tag = "Tag_SNS_Custom_Zq" + "".join(session.random.choices(string.ascii_lowercase, k=letters - 2))
    return tag


@scenario("open-custom-tag-unconfigured", rules=RESPONSE_RULES + ("FI-LIMIT-CUSTOM-TAG-CONFIGURED", TEXT_RULE,
                                                                "FI-VALID-ITEM-IMPORTED"), needs=OPEN)
def custom_tag_unconfigured(session: Session) -> None:
    """A well-formed custom tag that is not configured: refused, or ignored and not stored."""
    rule = "FI-LIMIT-CUSTOM-TAG-CONFIGURED"
    a, b, c = session.accounts(3)
    tag = _unconfigured_tag(session)
    reply = _import(session, a, [item(b, CustomItem=[{"Tag": tag, "Value": "v"}]), item(c)])
    if not _accepted(reply, b):
        if session.judge(rule, "refused", reply, account=b).outcome == "per-item-30001":
            session.judge("FI-VALID-ITEM-IMPORTED", "imported", reply, account=c,
                          note=f"the valid item next to the one with the unconfigured tag {tag}")
        return
    session.require_stored(a, [c], reply)  # "ignored" needs b stored; c shows whether anything is
    read_reply, _ = session.stored(a, [b], [tag])
    session.judge(rule, "ignored", read_reply, tag=tag, read=Derived("tags_of", (read_reply,), (b,)))


@scenario("open-custom-value-integer", rules=RESPONSE_RULES + ("OPEN-CUSTOM-VALUE-INTEGER", TEXT_RULE),
          needs=("custom-tags", *OPEN))
def custom_value_integer(session: Session) -> None:
    """Integer Values for a configured custom tag, up to past the 32- and 64-bit ranges: kept as integers,
    stringified, or refused, value by value."""
    rule = "OPEN-CUSTOM-VALUE-INTEGER"
    values = [0, 7, 2**31, 2**32, 2**63]
    a, *friends = session.accounts(1 + len(values))
    tag = session.custom_tags[0]
    items = [item(to, CustomItem=[{"Tag": tag, "Value": v}]) for to, v in zip(friends, values)]
    reply = _import(session, a, items)
    if not reply.ok:
        session.judge(rule, "refused", reply)
        return
    accepted = []
    for to, value in zip(friends, values):
        if _accepted(reply, to):
            accepted.append((to, value))
        else:
            session.judge(rule, "refused", reply, account=to, note=f"Value {value}")
    if not accepted:
        return
    read_reply, stored = session.stored(a, [to for to, _ in accepted], [tag, SOURCE])
    for to, value in accepted:
        values = stored.get(to) or {}
        # Not the friend imported: what it says of the Value is no answer.
        premise = None if values.get(SOURCE) == ADD_SOURCE else \
            failed_first("FI-ROUND-TRIP", f"{to} read back without the AddSource it was imported with")
        session.judge(rule, "read", read_reply, account=to, sent=value, read=Derived("tag_value", (read_reply,), (to, tag)),
                      unreached=premise)


@scenario("open-resultinfo-text", rules=RESPONSE_RULES + (TEXT_RULE,), needs=OPEN)
def resultinfo_text(session: Session) -> None:
    """The wording of validation failures: one item breaking each of a few documented limits."""
    limit = session.spec.limit
    a, *friends = session.accounts(5)
    broken = [{"Remark": "a" * (limit("remark_bytes") + 1)}, {"AddSource": "Android"},
              {"GroupName": ["g" * (limit("group_name_bytes") + 1)]},
              {"AddWording": "w" * (limit("add_wording_bytes") + 1)}]
    _import(session, a, [{**item(to), **fields} for to, fields in zip(friends, broken)])
