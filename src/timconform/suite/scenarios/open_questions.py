"""Open questions: where the docs are silent, record which listed outcome the target shows.

Every probe uses fresh accounts. Where two outcomes give the same answer (ResultCode 0 in both
"overwrite" and "keep"), the stored state is read back to tell them apart; an answer or a state that
matches no listed outcome is reported at the rule's own strength.
"""

from __future__ import annotations

import re
import string
from typing import Any

from timconform.oracle.expect import seen
from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.session import Session, item
from timconform.target import Reply

REMARK = "Tag_SNS_IM_Remark"
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


def _codes(reply: Reply, count: int) -> list[int | None] | None:
    """Per-item ResultCodes of an accepted request with one ResultItem per item, else None."""
    if not reply.ok:
        return None
    items = reply.body.get("ResultItem")
    if not isinstance(items, list) or len(items) != count:
        return None
    return [i.get("ResultCode") if isinstance(i, dict) else None for i in items]


def _per_item(session: Session, rule: str, reply: Reply, count: int) -> list[int | None] | None:
    """The per-item codes, or None once a whole-request answer has been judged (or found unreadable)."""
    if not reply.ok:
        session.expect(rule, reply)
        return None
    codes = _codes(reply, count)
    if codes is None:
        session.fail(rule, f"Expected an accepted request to answer one ResultItem for each of its {count} items. "
                     f"Received ResultItem {reply.body.get('ResultItem')!r}.", reply)
    return codes


def _remark(session: Session, from_account: str, to_account: str) -> tuple[Reply, Any]:
    """The stored Remark of one friend, or the marker "not a friend"."""
    reply, stored = session.stored(from_account, [to_account], [REMARK])
    values = stored.get(to_account)
    return reply, ("not a friend" if values is None else values.get(REMARK))


@scenario("open-existing-friend", rules=RESPONSE_RULES + ("OPEN-EXISTING-FRIEND", TEXT_RULE))
def existing_friend(session: Session) -> None:
    """Importing a friend a second time: refused, overwritten or kept."""
    rule = "OPEN-EXISTING-FRIEND"
    if not _open(session, (rule,)):
        return
    a, b = session.accounts(2)
    session.import_valid(a, [item(b, Remark="one")])
    reply = _import(session, a, [item(b, Remark="two")])
    observed = seen(reply, item=0)
    if observed is None or observed.code != 0:
        if session.expect(rule, reply, item=0) == "per-item-30001":
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


@scenario("open-self-import", rules=RESPONSE_RULES + ("OPEN-SELF-IMPORT", TEXT_RULE))
def self_import(session: Session) -> None:
    """From_Account imported as its own friend, next to a valid item."""
    rule = "OPEN-SELF-IMPORT"
    if not _open(session, (rule,)):
        return
    a, b = session.accounts(2)
    reply = _import(session, a, [item(a), item(b)])
    outcome = session.expect(rule, reply, item=0)
    if outcome == "per-item-30001":
        codes = _codes(reply, 2)
        session.verify(rule, codes is not None and codes[1] == 0, "Expected the valid item next to the refused "
                       f"self-import to get ResultCode 0. Received {codes}.", reply)
    elif outcome == "accepted":
        read_reply, remark = _remark(session, a, a)
        session.verify(rule, remark != "not a friend", f"Expected the accepted self-import to put {a} in their own "
                       "friend table. Received not a friend.", read_reply)


@scenario("open-duplicate-to-account", rules=RESPONSE_RULES + ("OPEN-DUPLICATE-TO-ACCOUNT", TEXT_RULE))
def duplicate_to_account(session: Session) -> None:
    """The same To_Account twice in one request, with different Remarks."""
    rule = "OPEN-DUPLICATE-TO-ACCOUNT"
    if not _open(session, (rule,)):
        return
    a, b = session.accounts(2)
    reply = _import(session, a, [item(b, Remark="first"), item(b, Remark="second")])
    codes = _per_item(session, rule, reply, 2)
    if codes is None:
        return
    if codes[0] != 0:
        session.fail(rule, "Expected the first occurrence of a duplicated To_Account to be imported "
                     f"(or the request refused as a whole). Received ResultCodes {codes}.", reply)
        return
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
    if session.expect(rule, reply) == "ok-empty":
        body = reply.body
        session.verify(rule, body.get("ResultItem") == [] and "Fail_Account" not in body,
                       "Expected an accepted empty request to answer ResultItem [] and no Fail_Account. Received "
                       f"ResultItem {body.get('ResultItem')!r}, Fail_Account {body.get('Fail_Account', 'absent')!r}.",
                       reply)


@scenario("open-time-field-range", rules=RESPONSE_RULES + ("OPEN-TIME-FIELD-RANGE", TEXT_RULE))
def time_field_range(session: Session) -> None:
    """AddTime and RemarkTime one past the uint32 range and negative."""
    rule = "OPEN-TIME-FIELD-RANGE"
    if not _open(session, (rule,)):
        return
    a, *friends = session.accounts(5)
    values = [("AddTime", OVER_UINT32), ("AddTime", -1), ("RemarkTime", OVER_UINT32), ("RemarkTime", -1)]
    items = [item(to, Remark="r", **{key: value}) for to, (key, value) in zip(friends, values)]
    reply = _import(session, a, items)
    if _per_item(session, rule, reply, len(items)) is None:
        return
    accepted = [to for index, (to, (key, value)) in enumerate(zip(friends, values))
                if session.expect(rule, reply, account=to, note=f"{key} {value}") == "accepted"]
    if accepted:
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


@scenario("open-custom-tag-unconfigured", rules=RESPONSE_RULES + ("FI-LIMIT-CUSTOM-TAG-CONFIGURED", TEXT_RULE))
def custom_tag_unconfigured(session: Session) -> None:
    """A well-formed custom tag that is not configured: refused, or ignored and not stored."""
    rule = "FI-LIMIT-CUSTOM-TAG-CONFIGURED"
    if not _open(session, (rule,)):
        return
    a, b, c = session.accounts(3)
    tag = _unconfigured_tag(session)
    reply = _import(session, a, [item(b, CustomItem=[{"Tag": tag, "Value": "v"}]), item(c)])
    observed = seen(reply, item=0)
    if observed is None or observed.code != 0:
        if session.expect(rule, reply, item=0) == "per-item-30001":
            codes = _codes(reply, 2)
            session.verify(rule, codes is not None and codes[1] == 0, "Expected the valid item next to the one with "
                           f"the unconfigured tag {tag} to get ResultCode 0. Received {codes}.", reply)
        return
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
    """Integer Values 0 and 7 for a configured custom tag: kept as integers, stringified, or refused."""
    rule = "OPEN-CUSTOM-VALUE-INTEGER"
    if not _open(session, (rule,)):
        return
    a, *friends = session.accounts(3)
    tag = session.custom_tags[0]
    values = [0, 7]
    reply = _import(session, a, [item(to, CustomItem=[{"Tag": tag, "Value": v}]) for to, v in zip(friends, values)])
    codes = _per_item(session, rule, reply, len(values))
    if codes is None:
        return
    for n, code in enumerate(codes):
        if code != 0:
            session.expect(rule, reply, item=n, note=f"Value {values[n]}")
    accepted = [(to, v) for to, v, code in zip(friends, values, codes) if code == 0]
    if not accepted:
        return
    read_reply, stored = session.stored(a, [to for to, _ in accepted], [tag])
    for to, value in accepted:
        read = (stored.get(to) or {}).get(tag)
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

