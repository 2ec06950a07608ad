"""Rules about the friend tables an import leaves behind: counts, lists, direction, concurrency, read-back.

Each scenario imports, then reads the tables back with friend_check / friend_get_list, so an answer
that claims success without storing (or a refusal that stores anyway) is caught.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from timconform.oracle.answers import seen
from timconform.oracle.derived import Derived
from timconform.oracle.registry import failed_first
from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES, STANDARD_TAGS, round_trip
from timconform.suite.scenarios.limits import accepted, slot, text_of, whole_refusal
from timconform.suite.session import Session, SetupFailed, item

CONCURRENT_WRITES = 4
# No tag for RemarkTime is documented (OPEN-REMARKTIME-READBACK): this is the name a target would most
# plausibly use, by analogy with Tag_SNS_IM_AddTime.
REMARK_TIME_TAG = "Tag_SNS_IM_RemarkTime"


@scenario("friend-limit-3000", rules=RESPONSE_RULES + ("FI-FRIEND-LIMIT-3000", "FI-VALID-ITEM-IMPORTED"),
          needs=("large",))
def friend_limit(session: Session) -> None:
    """A user reaches exactly 3000 friends inside a batch; the later items of that batch get 30010."""
    rule = "FI-FRIEND-LIMIT-3000"
    limit, batch = session.spec.limit("friends_per_user"), session.spec.limit("batch_items")
    owner, *tos = session.accounts(1 + limit + 2)
    # The last batch starts two short of the limit: two items fit, the next two do not.
    prefill, last = tos[:limit - 2], tos[limit - 2:]
    for start in range(0, len(prefill), batch):
        chunk = prefill[start:start + batch]
        items = [item(t) for t in chunk]
        reply = session.friend_import(owner, items)
        if not session.judge(rule, "all_imported", reply, request=items,
                             note=f"friends {start + 1}..{start + len(chunk)} of {limit}"):
            return
    # The limit is about friends the target holds: unless it holds the first 2998, the last batch proves nothing.
    session.require_stored(owner, prefill, reply)
    reply = session.friend_import(owner, [item(t) for t in last])
    at = [slot(reply, index, to) for index, to in enumerate(last)]
    for index in (0, 1):
        session.judge(rule, "imported", reply, item=at[index], note=f"friend {limit - 2 + index + 1} of {limit}")
    for index in (2, 3):
        session.judge(rule, "refused", reply, item=at[index], note=f"friend {limit + index - 1} of {limit}")
    friends = session.friends_among(owner, tos)
    session.judge(rule, "table", reply, owner=owner, friends=friends, expected=set(prefill) | set(last[:2]),
                  note=f"after the batch that passes {limit} (the two items under the limit kept, the two past it not)")


@scenario("friend-list-limit-32", rules=RESPONSE_RULES + ("FI-FRIEND-LIST-LIMIT-32", "FI-VALID-ITEM-IMPORTED"))
def friend_list_limit(session: Session) -> None:
    """32 distinct friend lists are accepted; an item creating a 33rd gets 30011; reusing lists still works."""
    rule = "FI-FRIEND-LIST-LIMIT-32"
    maximum = session.spec.limit("friend_lists_per_user")
    owner, *tos = session.accounts(8)
    names = [f"{i}组é" if i % 2 else f"List{i}" for i in range(maximum)]
    per = -(-maximum // 4)
    first = [item(to, GroupName=names[k * per:(k + 1) * per]) for k, to in enumerate(tos[:4])]
    reply = session.friend_import(owner, first)
    if not session.judge(rule, "all_imported", reply, request=first, note=f"4 friends spread over {maximum} distinct lists"):
        return
    session.require_stored(owner, tos[:4], reply)  # the 32 lists exist only if their friends were stored
    second = [item(tos[4], GroupName=["Extra"]), item(tos[5], GroupName=[names[0], names[-1]]),
              item(tos[6], GroupName=[names[1], "Extra2"])]
    reply = session.friend_import(owner, second)
    session.judge(rule, "refused", reply, item=slot(reply, 0, tos[4]), note=f"a new list past {maximum}")
    session.judge(rule, "refused", reply, item=slot(reply, 2, tos[6]),
                  note=f"an existing list and a new one past {maximum}")
    reuse = reply
    if whole_refusal(reply):
        reuse = session.friend_import(owner, [second[1]])  # judge the reusing item on its own
    index = slot(reuse, 1 if reuse is reply else 0, tos[5])
    session.judge(rule, "imported", reuse, item=index, note=f"an item reusing existing lists at {maximum} lists")
    friends = session.friends_among(owner, tos[:7])
    session.judge(rule, "table", reply, owner=owner, friends=friends, expected=set(tos[:4]) | {tos[5]},
                  note=f"at {maximum} lists (the items past the limit not stored)")


@scenario("one-way", rules=RESPONSE_RULES + ("FI-ONE-WAY", "FI-VALID-ITEM-IMPORTED"))
def one_way(session: Session) -> None:
    """A imports B: A has B (AWithB), B does not have A (BWithA from B's side; friend_get_list gives 30001)."""
    rule = "FI-ONE-WAY"
    a, b = session.accounts(2)
    reply = session.friend_import(a, [item(b)])
    if not session.judge("FI-VALID-ITEM-IMPORTED", "imported", reply, account=b, note=f"{b} into {a}'s table"):
        return
    forward = session.relation_of(a, b)
    friends = Derived("friends", forward.replies, ([b],))  # not stored: no direction to judge
    if not session.judge("FI-VALID-ITEM-IMPORTED", "kept", reply, account=b, owner=a, friends=friends,
                         note=f"{b}, imported with ResultCode 0"):
        return
    session.judge(rule, "forward", account=b, owner=a, relation=forward)
    session.judge(rule, "backward", account=a, owner=b, relation=session.relation_of(b, a))
    listed, _ = session.stored(b, [a], ["Tag_SNS_IM_AddSource"])
    session.judge(rule, "not_listed", listed, account=a, owner=b)


@scenario("partial-success", rules=RESPONSE_RULES)
def partial_success(session: Session) -> None:
    """One failing item and one valid item: OK envelope, the valid item imported and readable."""
    rule = "FI-PARTIAL-SUCCESS"
    owner, valid, spare = session.accounts(3)
    unknown = session.names(1)[0]
    remark = "partial é 好"
    failing = [item(unknown), item(spare, Remark=text_of(session.spec.limit("remark_bytes") + 1))]
    for bad in failing:
        # An unknown To_Account may refuse the whole request (OPEN-UNKNOWN-TO-ACCOUNT-LEVEL); an over-long
        # Remark is the fallback per-item failure.
        reply = session.friend_import(owner, [bad, item(valid, Remark=remark)])
        if not whole_refusal(reply):
            break
    else:
        return  # no per-item failure to show partial success with
    failed, imported = slot(reply, 0, bad["To_Account"]), slot(reply, 1, valid)
    premise = None
    if accepted(reply, failed):  # the item meant to fail was imported: its own rule's failure, not this one's
        broken = "FI-ACCOUNT-TO-EXISTS" if bad["To_Account"] == unknown else "FI-LIMIT-REMARK-BYTES"
        premise = failed_first(broken, f"the item meant to fail, {bad['To_Account']}, was imported")
    if not session.judge(rule, "imported", reply, item=imported, unreached=premise,
                         note="the valid item beside a failing one, in one OK answer"):
        return
    listed, _ = session.stored(owner, [valid], ["Tag_SNS_IM_Remark"])
    session.judge(rule, "reads_back", listed, sent={"Tag_SNS_IM_Remark": remark}, read=Derived("tags_of", (listed,), (valid,)),
                  note="the valid item of a partly failed batch")


@scenario("write-conflict", rules=RESPONSE_RULES + ("FI-WRITE-CONFLICT", "FI-VALID-ITEM-IMPORTED"),
          replay="concurrent imports: one after another they cannot conflict")
def write_conflict(session: Session) -> None:
    """Concurrent imports for one user: each applied, or refused with 30008 and applied on retry."""
    rule = "FI-WRITE-CONFLICT"
    conflict_codes = set(session.spec.rules[rule].codes)
    owner, *tos = session.accounts(1 + CONCURRENT_WRITES)
    start = threading.Barrier(CONCURRENT_WRITES)

    def send(to: str):
        start.wait(timeout=30)  # release every write at once so that they overlap
        return session.friend_import(owner, [item(to)])

    with ThreadPoolExecutor(CONCURRENT_WRITES) as pool:
        replies = list(pool.map(send, tos))
    friends = session.friends_among(owner, tos)
    acknowledged = [to for to, reply in zip(tos, replies) if accepted(reply, 0)]
    premise = None
    # Not one acknowledged write stored: the target stores nothing at all, concurrent or not. A lost update
    # (this rule's failure) keeps at least the last writer's friend.
    if acknowledged and not session.judge("FI-VALID-ITEM-IMPORTED", "any_kept", replies[0], accounts=acknowledged,
                                          owner=owner, friends=friends,
                                          note=f"the {len(acknowledged)} imports answered ResultCode 0"):
        premise = failed_first("FI-VALID-ITEM-IMPORTED", "no acknowledged concurrent import was stored")
    if session.judge(rule, "writes", accounts=tos, replies=replies, friends=friends, unreached=premise).status == "skip":
        return
    answers = [(to, seen(reply, account=to)) for to, reply in zip(tos, replies)]
    conflicted = [to for to, observed in answers if observed is not None and observed.code in conflict_codes]
    for to in conflicted:  # the documented remedy: a retried write succeeds
        reply = session.friend_import(owner, [item(to)])
        session.judge(rule, "imported", reply, account=to, note=f"the retried import of {to}")
    if conflicted:
        session.judge(rule, "kept", accounts=conflicted, owner=owner, friends=session.friends_among(owner, conflicted),
                      note="the retried imports")


@scenario("round-trip-all-fields", rules=RESPONSE_RULES + ("FI-ROUND-TRIP", "FI-VALID-ITEM-IMPORTED",
                                                           "OPEN-ADDTIME-READBACK", "OPEN-REMARKTIME-READBACK"))
def round_trip_all_fields(session: Session) -> None:
    """One item carrying every field reads back field by field; RemarkTime is looked for under a plausible tag."""
    owner, to = session.accounts(2)
    remark_time = 1563867420
    # Leading and trailing spaces too: a target that trims stored text breaks the round trip.
    entry = item(to, Remark="  备注 é remark ", RemarkTime=remark_time, GroupName=["好友", "Work", "Famille é"],
                 AddSource="AddSource_Type_Android", AddWording=" 你好, I'm é  ", AddTime=remark_time + 60)
    if session.custom_tags:
        entry["CustomItem"] = [{"Tag": tag, "Value": f"值 {n} é"} for n, tag in enumerate(session.custom_tags)]
    reply = session.friend_import(owner, [entry])
    if not session.judge("FI-VALID-ITEM-IMPORTED", "imported", reply, account=to,
                         note="an item using every field within its limits"):
        return
    round_trip(session, owner, [entry], [0])
    read = {"tag": REMARK_TIME_TAG, "sent": remark_time}
    try:
        listed, stored = session.stored(owner, [to], STANDARD_TAGS + [REMARK_TIME_TAG])
    except SetupFailed as refused:  # the target does not even take the tag name
        session.judge("OPEN-REMARKTIME-READBACK", "read", refused.reply, exposed=None, **read)
        return
    exposed = Derived("extra_tags", (listed,), (to, list(STANDARD_TAGS)))
    session.judge("OPEN-REMARKTIME-READBACK", "read", listed, exposed=exposed, **read)
