"""Near misses: what a sloppy implementation confuses with a valid value, sent beside the value it resembles.

An exact boundary probe catches an off-by-one; it does not catch a target that trims account names, ends
a string at a NUL, counts characters or UTF-16 units instead of UTF-8 bytes, matches a form with a regex
that lets a trailing newline through, or keeps a time in a signed 32-bit integer. These probes do. A
documented rule fails on a wrong answer; an open rule records what the target showed.
"""

from __future__ import annotations

import json
from typing import Any

from timconform.oracle.answers import seen
from timconform.oracle.derived import Derived
from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.scenarios.limits import Case, send, settle, slot
from timconform.suite.session import Session, item
from timconform.target import Reply

EXACT, CASE = "FI-ACCOUNT-NAME-EXACT", "OPEN-USERID-CASE"
CONTROLS, SURROGATE = "OPEN-TEXT-CONTROL-CHARS", "OPEN-TEXT-LONE-SURROGATE"
# Each turns an account name into one a trimming, NUL-terminating or line-reading target takes for it.
NAME_VARIANTS = (("a leading space", lambda n: " " + n), ("a trailing space", lambda n: n + " "),
                 ("a trailing tab", lambda n: n + "\t"), ("a trailing newline", lambda n: n + "\n"),
                 ("a trailing NUL", lambda n: n + "\u0000"))
WIDE = ("好", "😀")  # 3 and 4 bytes in UTF-8; the second is two UTF-16 units


def fill(nbytes: int, char: str) -> str:
    """Exactly ``nbytes`` UTF-8 bytes of ``char`` (padded with ASCII)."""
    width = len(char.encode("utf-8"))
    return char * (nbytes // width) + "a" * (nbytes % width)


# -- account names -----------------------------------------------------------------------------------------


@scenario("near-miss-account-names", rules=RESPONSE_RULES + (EXACT, CASE, "FI-VALID-ITEM-IMPORTED"))
def account_names(session: Session) -> None:
    """Imported accounts named with a space, tab, newline or NUL added, or in other letter case: never them."""
    owner, sender, spare, control, *known = session.accounts(4 + len(NAME_VARIANTS) + 1)
    cases = [Case(EXACT, item(change(name)), f"To_Account {name!r} with {what}", account=name)
             for (what, change), name in zip(NAME_VARIANTS, known)]
    send(session, owner, cases)
    settle(session, owner, cases)
    for what, change in NAME_VARIANTS:  # the same changes to From_Account: the sender gains nothing
        reply = session.friend_import(change(sender), [item(spare)])
        session.judge(EXACT, "refused", reply, note=f"From_Account {sender!r} with {what}")
    session.judge(EXACT, "not_kept", account=spare, owner=sender, friends=session.friends_among(sender, [spare]),
                  note=f"imports from near-miss variants of {sender}'s name")
    _case_variant(session, owner, known[-1], control)


def _case_variant(session: Session, owner: str, name: str, control: str) -> None:
    variant = name.swapcase()
    reply = session.friend_import(owner, [item(variant), item(control)])
    outcome = session.judge(CASE, "refused", reply, account=variant,
                            note=f"To_Account {variant!r} for the account {name!r}").outcome
    if outcome is None:
        return
    if outcome == "same-account":  # the table can agree only if the target keeps what it accepts at all
        session.require_stored(owner, [control], reply)
    stored = Derived("is_friend", session.friends_among(owner, [name]).derived.replies, (name,))
    session.judge(CASE, "agrees", reply, account=name, owner=owner, outcome=outcome, stored=stored)


# -- byte limits in wide characters ------------------------------------------------------------------------


def _byte_family(rule: str, field: str, limit: int, tos: list[str], *, tag: str, wrap=lambda v: v) -> list[Case]:
    """At the limit in ASCII, 3-byte and 4-byte characters (imported, read back); one byte past it in each,
    and past it in bytes while under it in characters (refused)."""
    at = ["a" * limit, *(fill(limit, c) for c in WIDE)]
    past = ["a" * (limit + 1), *(fill(limit, c) + "a" for c in WIDE), WIDE[0] * (limit // 3 + 1)]
    cases = [Case(rule, item(to, **{field: wrap(v)}), f"{field} of {limit} bytes ({len(v)} characters)",
                  accept=True, readback={tag: wrap(v)}) for to, v in zip(tos, at)]
    cases += [Case(rule, item(to, **{field: wrap(v)}), f"{field} of {len(v.encode())} bytes ({len(v)} characters)")
              for to, v in zip(tos[len(at):], past)]
    return cases


@scenario("near-miss-wide-characters", rules=RESPONSE_RULES + (
    "FI-LIMIT-REMARK-BYTES", "FI-LIMIT-GROUPNAME-BYTES", "FI-LIMIT-ADDWORDING-BYTES", "FI-LIMIT-CUSTOM-VALUE-BYTES",
    "FI-VALID-ITEM-IMPORTED"))
def wide_characters(session: Session) -> None:
    """Every byte limit met and passed in 3- and 4-byte characters: counted in UTF-8 bytes, not characters."""
    limit = session.spec.limit
    owner, *tos = session.accounts(1 + 4 * 7)
    families = [
        _byte_family("FI-LIMIT-REMARK-BYTES", "Remark", limit("remark_bytes"), tos[0:7], tag="Tag_SNS_IM_Remark"),
        _byte_family("FI-LIMIT-GROUPNAME-BYTES", "GroupName", limit("group_name_bytes"), tos[7:14],
                     tag="Tag_SNS_IM_Group", wrap=lambda v: [v]),
        _byte_family("FI-LIMIT-ADDWORDING-BYTES", "AddWording", limit("add_wording_bytes"), tos[14:21],
                     tag="Tag_SNS_IM_AddWording"),
    ]
    if session.custom_tags:
        tag = session.custom_tags[0]
        value_cases = _byte_family("FI-LIMIT-CUSTOM-VALUE-BYTES", "Value", limit("custom_value_bytes"), tos[21:28],
                                   tag=tag)
        for case in value_cases:
            case.entry["CustomItem"] = [{"Tag": tag, "Value": case.entry.pop("Value")}]
        families.append(value_cases)
    for cases in families:
        send(session, owner, cases)
    settle(session, owner, [c for cases in families for c in cases])


@scenario("near-miss-wide-user-ids", rules=("FI-LIMIT-USERID-BYTES",), needs=("creates-accounts",))
def wide_user_ids(session: Session) -> None:
    """A UserID one byte past the limit in 3- or 4-byte characters (11 or 9 characters) is not created."""
    size = session.spec.limit("user_id_bytes")
    for name in (fill(size, c) + "a" for c in WIDE):
        reply = session.client.call("account_import", {"UserID": name})
        session.judge("FI-LIMIT-USERID-BYTES", "refused_call", reply,
                      note=f"account_import of {name!r} ({len(name.encode())} bytes, {len(name)} characters)")


# -- forms, control characters, unpaired surrogates ------------------------------------------------------


@scenario("near-miss-forms", rules=RESPONSE_RULES + ("FI-LIMIT-ADDSOURCE-FORM", "FI-LIMIT-CUSTOM-TAG-FORM",
                                                    "FI-VALID-ITEM-IMPORTED"))
def forms(session: Session) -> None:
    """AddSource and custom tags that a search instead of a full match, `$` before a newline, a C string or
    str.isalpha() would let through: a trailing newline or NUL, a non-English letter."""
    owner, *tos = session.accounts(8)
    source = "FI-LIMIT-ADDSOURCE-FORM"
    cases = [Case(source, item(to, AddSource=bad), f"AddSource {bad!r}")
             for to, bad in zip(tos, ("AddSource_Type_Web\n", "AddSource_Type_Web\u0000", "AddSource_Type_Wéb"))]
    if session.custom_tags:
        tag = session.custom_tags[0]
        cases += [Case("FI-LIMIT-CUSTOM-TAG-FORM", item(to, CustomItem=[{"Tag": bad, "Value": "v"}]),
                       f"CustomItem Tag {bad!r}", dropped_tag=bad)
                  for to, bad in zip(tos[3:], (tag + "\n", tag + "\u0000", "Tag_SNS_Custom_Wéb"))]
    cases.append(Case("FI-VALID-ITEM-IMPORTED", item(tos[6]), "a valid item beside them", accept=True))
    send(session, owner, cases)
    settle(session, owner, cases)


def _text_items(session: Session, tos: list[str], texts: list[str]) -> list[tuple[dict[str, Any], str, Any]]:
    """One item per text, each in another field: (item, the tag it reads back under, the value it must read as)."""
    fields = [("Remark", "Tag_SNS_IM_Remark", lambda v: v), ("GroupName", "Tag_SNS_IM_Group", lambda v: [v]),
              ("AddWording", "Tag_SNS_IM_AddWording", lambda v: v)]
    if session.custom_tags:
        tag = session.custom_tags[0]
        fields.append(("CustomItem", tag, lambda v, t=tag: [{"Tag": t, "Value": v}]))
    out = []
    for n, (to, text) in enumerate(zip(tos, texts)):
        field, tag, wrap = fields[n % len(fields)]
        out.append((item(to, **{field: wrap(text)}), tag, [text] if field == "GroupName" else text))
    return out


def _judge_texts(session: Session, rule: str, owner: str, sent: list[tuple[dict[str, Any], str, Any]],
                 reply: Reply) -> None:
    """Each item's outcome from its answer, and for an accepted one from what it reads back as."""
    accepted = []
    for entry, tag, want in sent:
        at = slot(reply, 0, entry["To_Account"])
        observed = seen(reply, item=at)
        if observed is not None and observed.code == 0:  # which accepting outcome, only the read-back tells
            accepted.append((entry["To_Account"], tag, want))
        else:
            session.judge(rule, "refused", reply, item=at, note=f"{tag} {want!r}")
    if not accepted:
        return
    session.require_stored(owner, [to for to, _, _ in accepted], reply)
    listed, stored = session.stored(owner, [to for to, _, _ in accepted], sorted({t for _, t, _ in accepted}))
    for to, tag, want in accepted:
        session.judge(rule, "read", listed, account=to, tag=tag, sent=want, read=Derived("tag_value", (listed,), (to, tag)))


@scenario("near-miss-control-characters", rules=RESPONSE_RULES + (CONTROLS, SURROGATE, "FI-VALID-ITEM-IMPORTED"))
def control_characters(session: Session) -> None:
    """Control characters and unpaired surrogates in every relationship text field."""
    owner, *tos = session.accounts(1 + 12)
    texts = ["a\u0000b", "bell\u0007", "esc\u001b[0m", "del\u007f", "tab\tx", "new\nline"]
    sent = _text_items(session, tos[:6], texts)
    reply = session.friend_import(owner, [entry for entry, _, _ in sent])
    _judge_texts(session, CONTROLS, owner, sent, reply)
    # JSON escapes (\ud800) carry what UTF-8 cannot: the body is sent ASCII-escaped, as json.dumps writes it.
    lone = _text_items(session, tos[6:10], ["a\ud800b", "\udfffz", "x\ud83d", "v\udc00"])
    body = {"From_Account": owner, "AddFriendItem": [entry for entry, _, _ in lone]}
    reply = session.send_import(body, raw=json.dumps(body).encode("ascii"))
    _judge_texts(session, SURROGATE, owner, lone, reply)


# -- integers at the 32- and 64-bit boundaries -------------------------------------------------------------


@scenario("near-miss-integers", rules=RESPONSE_RULES + ("FI-TIME-FIELD-UINT32", "OPEN-TIME-FIELD-RANGE",
                                                       "FI-VALID-ITEM-IMPORTED"))
def integers(session: Session) -> None:
    """Times just past the signed 32-bit range are imported; times past 64 bits get an open outcome each."""
    owner, *tos = session.accounts(1 + 4 + 4)
    within = [("AddTime", 2**31), ("RemarkTime", 2**31), ("AddTime", 2**32 - 1), ("RemarkTime", 2**31 - 1)]
    cases = [Case("FI-TIME-FIELD-UINT32", item(to, **{key: value}), f"{key} {value}", accept=True)
             for to, (key, value) in zip(tos, within)]
    send(session, owner, cases)
    settle(session, owner, cases)
    # Each alone: a parser that cannot hold the number may refuse the whole request.
    for to, (key, value) in zip(tos[4:], (("AddTime", 2**63), ("AddTime", 2**64), ("RemarkTime", -(2**63) - 1),
                                          ("RemarkTime", -(2**31) - 1))):
        reply = session.friend_import(owner, [item(to, **{key: value})])
        session.judge("OPEN-TIME-FIELD-RANGE", "refused", reply, account=to, note=f"{key} {value}")


# -- many friends read back in one call ----------------------------------------------------------------------

MANY = 120
STRANGERS = 30


@scenario("read-back-many-shuffled", rules=RESPONSE_RULES + ("SUPPORT-FRIEND-CHECK-RELATION", "FI-ROUND-TRIP",
                                                            "FI-VALID-ITEM-IMPORTED"))
def read_back_many(session: Session) -> None:
    """120 friends and 30 strangers checked in one shuffled call, 100 friends read back in another: each
    answer belongs to the account it names, whatever order the target keeps them in."""
    owner, *others = session.accounts(1 + MANY + STRANGERS)
    friends, strangers = others[:MANY], others[MANY:]
    items = [item(to, Remark=f"r{n} 好") for n, to in enumerate(friends)]
    session.import_valid(owner, items)
    asked = friends + strangers
    session.random.shuffle(asked)
    expected = {a: "CheckResult_Type_AWithB" if a in set(friends) else "CheckResult_Type_NoRelation" for a in asked}
    session.judge("SUPPORT-FRIEND-CHECK-RELATION", "relations_are", got=session.relations_read(owner, asked),
                  expected=expected, note=f"{MANY} friends AWithB and {STRANGERS} strangers NoRelation, asked in one "
                                      "shuffled friend_check")
    remarks = {to: entry["Remark"] for to, entry in zip(friends, items)}
    sample = session.random.sample(friends, min(100, MANY))
    listed, _ = session.stored(owner, sample, ["Tag_SNS_IM_Remark"])
    for account in sample:
        session.judge("FI-ROUND-TRIP", "reads_back", listed, account=account,
                      sent={"Tag_SNS_IM_Remark": remarks[account]}, read=Derived("tags_of", (listed,), (account,)),
                      note=f"{account}, read back in one shuffled friend_get_list of {len(sample)} friends")
