"""Documented limits, probed exactly at and one past each boundary, and malformed fields.

Byte limits are probed with text mixing 3-byte, 2-byte and 1-byte UTF-8 characters, so a target that
counts characters (or UTF-16 units) lands on the wrong side of the boundary. Each limit family goes in
one request (the item at the limit beside the item past it); the friend table is read back once per
scenario, so a refused item that was stored anyway is caught as well as an answer that lies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from timconform.oracle.answers import seen
from timconform.oracle.registry import failed_first
from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.session import ADD_SOURCE, Session, item

FIRST_VALID_TIME = 1563867420  # the friend_get sample's AddTime (api-facts §3.2)


def text_of(nbytes: int) -> str:
    """Exactly ``nbytes`` UTF-8 bytes (at least 2): one 2-byte character, then 3-byte ones, padded with ASCII."""
    rest = nbytes - 2
    text = "é" + "好" * (rest // 3) + "a" * (rest % 3)
    assert len(text.encode("utf-8")) == nbytes
    return text


def padded_name(session: Session, nbytes: int) -> str:
    """A fresh UserID of exactly ``nbytes`` bytes: UserIDs are ASCII letters, digits, '_' and '-' (api-facts §3.4)."""
    base = session.names(1)[0] + "_"
    return base + "x" * (nbytes - len(base))


@dataclass
class Case:
    """One AddFriendItem of a probe and what the rule says about it."""

    rule: str
    entry: dict[str, Any]
    note: str
    accept: bool = False  # the item keeps every limit: it must be imported
    account: str | None = None  # the account whose friendship is read back (default: the entry's To_Account)
    readback: dict[str, Any] = field(default_factory=dict)  # tag -> the value it must read back as
    readback_rule: str | None = None
    dropped_tag: str | None = None  # FI-LIMIT-CUSTOM-TAG-FORM: imported with the tag dropped also conforms
    accepted: bool = False  # filled in by send()

    def __post_init__(self) -> None:
        if self.account is None and isinstance(self.entry.get("To_Account"), str):
            self.account = self.entry["To_Account"]


def whole_refusal(reply) -> bool:
    observed = seen(reply)
    return observed is not None and observed.level == "request"


def slot(reply, index: int, to_account: object) -> int:
    """Where the answer to request item ``index`` sits in ResultItem. Matched by To_Account: request order is
    only inferred (FI-RESULTITEM-ORDER), and a reordered answer must not pass for a wrong one."""
    items = reply.body.get("ResultItem") if isinstance(reply.body, dict) else None
    if isinstance(items, list) and isinstance(to_account, str):
        hits = [n for n, r in enumerate(items) if isinstance(r, dict) and r.get("To_Account") == to_account]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            return len(items)  # past the end: no result for this item, never another item's result
    return index


def accepted(reply, index: int) -> bool:
    observed = seen(reply, item=index)
    return observed is not None and observed.code == 0


def describe(reply, index: int | None) -> str:
    observed = seen(reply, item=index)
    return observed.describe() if observed is not None else "no readable answer"


def send(session: Session, owner: str, cases: list[Case]) -> None:
    """Import every case in one request and judge each item against its rule."""
    reply = session.friend_import(owner, [c.entry for c in cases])
    answers = [(reply, index) for index in range(len(cases))]
    if whole_refusal(reply) and len(cases) > 1:
        # A rule with level "any" may refuse the whole request; which item caused it is then unknown,
        # so each item is sent alone and judged on its own answer.
        answers = [(session.friend_import(owner, [c.entry]), 0) for c in cases]
    for case, (answer, index) in zip(cases, answers):
        index = slot(answer, index, case.entry.get("To_Account"))
        case.accepted = accepted(answer, index)
        if case.accept:
            session.judge(case.rule, "imported", answer, item=index, note=case.note)
        elif not (case.accepted and case.dropped_tag):
            session.judge(case.rule, "refused", answer, item=index, note=case.note)


def settle(session: Session, owner: str, cases: list[Case]) -> None:
    """Read the friend table back: imported items stored with their values, refused items not stored."""
    named = [c for c in cases if c.account]
    if not named:
        return
    friends = session.friends_among(owner, [c.account for c in named])
    # Whether the target keeps what it accepts at all, shown by the items within every limit.
    controls = [c for c in named if c.accept and c.accepted]
    stores = not controls or any(c.account in friends for c in controls)
    for case in named:
        table = {"account": case.account, "owner": owner, "friends": friends}
        if case.accepted and case.accept:
            # An item within every limit answered 0 but not stored breaks FI-VALID-ITEM-IMPORTED, not the
            # limit it was probing: the limit was kept.
            session.judge("FI-VALID-ITEM-IMPORTED", "kept", note=f"{case.note}, answered ResultCode 0", **table)
        elif case.accepted and case.dropped_tag:
            premise = None if stores else failed_first("FI-VALID-ITEM-IMPORTED", "the target stored none of the "
                                                                                  "valid items it accepted")
            session.judge(case.rule, "kept", note=f"{case.note}, answered ResultCode 0 (the tag dropped)",
                          unreached=premise, **table)
        elif not case.accepted:
            session.judge(case.rule, "not_kept", note=f"the refused item ({case.note})", **table)
    reads = [c for c in named if c.accepted and c.account in friends and (c.readback or c.dropped_tag)]
    if not reads:
        return
    tags = sorted({t for c in reads for t in c.readback} | {c.dropped_tag for c in reads if c.dropped_tag})
    reply, stored = session.stored(owner, [c.account for c in reads], tags)
    for case in reads:
        values = stored.get(case.account) or {}
        if case.dropped_tag:
            session.judge(case.rule, "tag_dropped", reply, tag=case.dropped_tag, read=values, note=case.note)
        else:
            session.judge(case.readback_rule or case.rule, "reads_back", reply, sent=case.readback, read=values,
                          note=case.note)


def boundary(rule: str, tag: str, limit: int, at: Any, past: Any, tos: list[str], *,
             field_name: str, readback_rule: str | None = None) -> list[Case]:
    """The item exactly at ``limit`` bytes (imported, read back) beside the item one byte past it (refused)."""
    ok_to, bad_to = tos
    return [Case(rule, item(ok_to, **{field_name: at}), f"{field_name} of {limit} bytes", accept=True,
                 readback={tag: at}, readback_rule=readback_rule),
            Case(rule, item(bad_to, **{field_name: past}), f"{field_name} of {limit + 1} bytes")]


BYTE_RULES = ("FI-LIMIT-REMARK-BYTES", "FI-LIMIT-GROUPNAME-BYTES", "FI-LIMIT-ADDWORDING-BYTES",
              "FI-LIMIT-USERID-BYTES", "FI-ROUND-TRIP", "FI-VALID-ITEM-IMPORTED")


@scenario("limit-byte-boundaries", rules=RESPONSE_RULES + BYTE_RULES)
def byte_boundaries(session: Session) -> None:
    """Remark, GroupName and AddWording exactly at and one byte past their limits; UserIDs one byte past."""
    limit = session.spec.limit
    owner, *tos = session.accounts(8)
    remark, group, wording = limit("remark_bytes"), limit("group_name_bytes"), limit("add_wording_bytes")
    user_bytes = limit("user_id_bytes")
    families = [
        boundary("FI-LIMIT-REMARK-BYTES", "Tag_SNS_IM_Remark", remark, text_of(remark), text_of(remark + 1),
                 tos[0:2], field_name="Remark"),
        boundary("FI-LIMIT-GROUPNAME-BYTES", "Tag_SNS_IM_Group", group, [text_of(group)], [text_of(group + 1)],
                 tos[2:4], field_name="GroupName"),
        # The AddWording rule says only "accepted"; reading it back is FI-ROUND-TRIP's business.
        boundary("FI-LIMIT-ADDWORDING-BYTES", "Tag_SNS_IM_AddWording", wording, text_of(wording),
                 text_of(wording + 1), tos[4:6], field_name="AddWording", readback_rule="FI-ROUND-TRIP"),
        # Never importable, so never looked for in the friend table.
        [Case("FI-LIMIT-USERID-BYTES", item(padded_name(session, user_bytes + 1)),
              f"a To_Account of {user_bytes + 1} bytes", account="")],
    ]
    for cases in families:
        send(session, owner, cases)
    settle(session, owner, [c for cases in families for c in cases])
    # A From_Account one byte too long names no account either; it is refused whatever the level.
    reply = session.friend_import(padded_name(session, user_bytes + 1), [item(tos[6])])
    session.judge("FI-LIMIT-USERID-BYTES", "refused", reply, item=None if whole_refusal(reply) else 0,
                  note=f"a From_Account of {user_bytes + 1} bytes")


@scenario("limit-userid-bytes", rules=RESPONSE_RULES + ("FI-LIMIT-USERID-BYTES", "FI-VALID-ITEM-IMPORTED"),
          needs=("creates-accounts",))
def userid_bytes(session: Session) -> None:
    """A 32-byte UserID is importable and befriended; a 33-byte one is refused by account_import."""
    rule = "FI-LIMIT-USERID-BYTES"
    size = session.spec.limit("user_id_bytes")
    owner = session.accounts(1)[0]
    longest, too_long = padded_name(session, size), padded_name(session, size + 1)
    # The limit holds for account_import too; a target creating a 33-byte account would let a friend_import
    # naming it through (30003 no longer applies), so it is offered first and must be refused.
    reply = session.client.call("account_import", {"UserID": too_long})
    session.judge(rule, "refused_call", reply, note=f"account_import of a {size + 1}-byte UserID")
    session.import_accounts([longest])
    cases = [Case(rule, item(longest), f"a To_Account of {size} bytes", accept=True),
             Case(rule, item(too_long), f"a To_Account of {size + 1} bytes", account="")]
    send(session, owner, cases)
    settle(session, owner, cases)


@scenario("limit-custom-value-bytes", needs=("custom-tags",),
          rules=RESPONSE_RULES + ("FI-LIMIT-CUSTOM-VALUE-BYTES", "FI-LIMIT-CUSTOM-TAG-FORM", "FI-VALID-ITEM-IMPORTED"))
def custom_value_bytes(session: Session) -> None:
    """A custom Value of 500 bytes is imported and reads back; 501 bytes is refused; a configured tag is accepted."""
    size = session.spec.limit("custom_value_bytes")
    tag = session.custom_tags[0]
    owner, *tos = session.accounts(4)
    cases = boundary("FI-LIMIT-CUSTOM-VALUE-BYTES", tag, size, text_of(size), text_of(size + 1), tos[:2],
                     field_name="Value")
    for case in cases:  # the Value sits inside a CustomItem, not on the item itself
        case.entry["CustomItem"] = [{"Tag": tag, "Value": case.entry.pop("Value")}]
    cases.append(Case("FI-LIMIT-CUSTOM-TAG-FORM", item(tos[2], CustomItem=[{"Tag": tag, "Value": "v"}]),
                      f"the configured tag {tag}", accept=True, readback={tag: "v"}))
    send(session, owner, cases)
    settle(session, owner, cases)


@scenario("limit-forms", rules=RESPONSE_RULES + ("FI-LIMIT-GROUPNAME-NONEMPTY", "FI-LIMIT-ADDSOURCE-FORM",
                                                 "FI-LIMIT-CUSTOM-TAG-FORM", "FI-VALID-ITEM-IMPORTED"))
def forms(session: Session) -> None:
    """Empty group names, AddSource and custom tag forms, each refused; the shortest and longest forms accepted."""
    letters = session.spec.limit("add_source_keyword_letters")
    tag_letters = session.spec.limit("custom_tag_keyword_letters")
    owner, *tos = session.accounts(18)
    nonempty = "FI-LIMIT-GROUPNAME-NONEMPTY"
    groups = [Case("FI-VALID-ITEM-IMPORTED", item(tos[0], GroupName=[]), "an empty GroupName array (no list)",
                   accept=True),
              Case(nonempty, item(tos[1], GroupName=[""]), 'GroupName [""]'),
              Case(nonempty, item(tos[2], GroupName=["好友", ""]), 'GroupName ["好友", ""]')]
    source = "FI-LIMIT-ADDSOURCE-FORM"
    shortest, longest = "AddSource_Type_A", "AddSource_Type_" + "Abcdefghij"[:letters]
    bad_sources = ["Android", "AddSource_Type_", "AddSource_Type_" + "Abcdefghij"[:letters + 1], "AddSource_Type_Ab12",
                   "addsource_type_Web", "AddSource_type_Web", "AddSource_Type_" + "Abcdefghij"[:letters - 1] + "é"]
    sources = [Case(source, item(tos[3], AddSource=shortest), f"AddSource {shortest}", accept=True,
                    readback={"Tag_SNS_IM_AddSource": shortest}),
               Case(source, item(tos[4], AddSource=longest), f"AddSource {longest}", accept=True,
                    readback={"Tag_SNS_IM_AddSource": longest})]
    sources += [Case(source, item(to, AddSource=bad), f"AddSource {bad!r}") for to, bad in zip(tos[5:], bad_sources)]
    tag_form = "FI-LIMIT-CUSTOM-TAG-FORM"
    bad_tags = ["Tag_SNS_Custom_", "Tag_SNS_Custom_" + "Abcdefghij"[:tag_letters + 1], "Tag_SNS_Custom_Ab1",
                "tag_sns_custom_Abc", "Tag_SNS_IM_Remark"]
    tags = [Case(tag_form, item(to, CustomItem=[{"Tag": bad, "Value": "v"}]), f"CustomItem Tag {bad!r}",
                 dropped_tag=bad) for to, bad in zip(tos[12:], bad_tags)]
    for cases in (groups, sources, tags):
        send(session, owner, cases)
    settle(session, owner, groups + sources + tags)


@scenario("required-fields-and-types", rules=RESPONSE_RULES + ("FI-REQUIRED-FIELDS", "FI-FIELD-TYPES",
                                                               "FI-ACCOUNT-TYPE-60015", "FI-VALID-ITEM-IMPORTED"))
def required_and_types(session: Session) -> None:
    """Missing required fields and fields of the wrong JSON type are refused, and nothing refused is stored."""
    owner, *tos = session.accounts(12)
    number = 20190723

    def refused_whole(rules: tuple[str, ...], body: Any, note: str, accounts: list[str]) -> None:
        reply = session.send_import(body)
        for rule in rules:
            session.judge(rule, "refused", reply, note=note)
        if isinstance(body.get("From_Account"), str) and accounts:
            friends = session.friends_among(body["From_Account"], accounts)
            session.judge(rules[0], "not_kept", reply, accounts=accounts, owner=body["From_Account"], friends=friends,
                          note=f"the refused request ({note})")

    required, types, account_type = "FI-REQUIRED-FIELDS", "FI-FIELD-TYPES", "FI-ACCOUNT-TYPE-60015"
    refused_whole((required,), {"AddFriendItem": [item(tos[0])]}, "no From_Account", [])
    refused_whole((required,), {"From_Account": owner}, "no AddFriendItem", [])
    refused_whole((types,), {"From_Account": owner, "AddFriendItem": item(tos[0])}, "AddFriendItem an object",
                  [tos[0]])
    refused_whole((account_type, types), {"From_Account": number, "AddFriendItem": [item(tos[0])]},
                  "From_Account a number", [])
    refused_whole((account_type, types), {"From_Account": owner, "AddFriendItem": [item(tos[1]), item(number)]},
                  "To_Account a number beside a valid item", [tos[1]])
    # No To_Account leaves nothing to answer per item, so it goes alone; either level conforms.
    reply = session.friend_import(owner, [{"AddSource": ADD_SOURCE, "Remark": "no To_Account"}])
    session.judge(required, "refused", reply, item=0, note="an item without To_Account")

    custom_tag = session.custom_tags[0] if session.custom_tags else "Tag_SNS_Custom_Test"
    cases = [Case("FI-VALID-ITEM-IMPORTED", item(tos[2]), "a valid item beside malformed ones", accept=True),
             Case(required, {"To_Account": tos[3]}, "an item without AddSource"),
             Case(types, item(tos[4], GroupName="Friends"), "GroupName a string"),
             Case(types, item(tos[5], RemarkTime=str(FIRST_VALID_TIME)), "RemarkTime a string"),
             Case(types, item(tos[6], AddTime=str(FIRST_VALID_TIME)), "AddTime a string"),
             Case(types, item(tos[7], CustomItem={"Tag": custom_tag, "Value": "v"}), "CustomItem an object"),
             Case(types, item(tos[8], Remark=96), "Remark a number"),
             Case(types, item(tos[9], AddWording=["hello"]), "AddWording an array"),
             Case(types, item(tos[10], GroupName=["Friends", 7]), "a GroupName entry a number")]
    send(session, owner, cases)
    settle(session, owner, cases)


@scenario("limit-batch-1000", rules=RESPONSE_RULES + ("FI-LIMIT-BATCH-1000", "OPEN-BATCH-OVERSIZE-CODE",
                                                     "FI-VALID-ITEM-IMPORTED"),
          needs=("large",))
def batch_1000(session: Session) -> None:
    """1000 items are all imported; 1001 items are refused as a whole and nothing of them is stored."""
    rule = "FI-LIMIT-BATCH-1000"
    size = session.spec.limit("batch_items")
    owner, other, *tos = session.accounts(size + 3)
    items = [item(t) for t in tos[:size]]
    reply = session.friend_import(owner, items)
    if session.judge(rule, "all_imported", reply, request=items, note=f"a batch of {size} valid items"):
        friends = session.friends_among(owner, tos[:size])
        table = {"accounts": tos[:size], "owner": owner, "friends": friends}
        # Nothing kept at all is the storage's failure (FI-VALID-ITEM-IMPORTED); some kept is the batch's.
        if session.judge("FI-VALID-ITEM-IMPORTED", "any_kept", reply, note=f"a batch of {size} imported items",
                         **table):
            session.judge(rule, "kept", reply, note=f"all {size} imported friends", **table)
    reply = session.friend_import(other, [item(t) for t in tos])
    session.judge(rule, "refused", reply, note=f"{size + 1} items")
    session.judge("OPEN-BATCH-OVERSIZE-CODE", "refused", reply, note=f"a request of {size + 1} items", premise=rule)
    friends = session.friends_among(other, tos)
    session.judge(rule, "not_kept", reply, accounts=tos, owner=other, friends=friends,
                  note=f"the refused {size + 1}-item request")
