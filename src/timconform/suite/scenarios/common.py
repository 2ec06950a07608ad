"""What several scenarios do after an import: read every field back, and look at the direction of a friendship."""

from __future__ import annotations

import time
from typing import Any

from timconform.oracle.derived import Derived, Instant
from timconform.oracle.registry import failed_first
from timconform.oracle.response import ANSWER_RULES
from timconform.suite.session import Session

RESPONSE_RULES = ANSWER_RULES  # the rules every friend_import answer is judged by
STANDARD_TAGS = ["Tag_SNS_IM_Remark", "Tag_SNS_IM_Group", "Tag_SNS_IM_AddSource", "Tag_SNS_IM_AddWording",
                 "Tag_SNS_IM_AddTime"]


def round_trip(session: Session, from_account: str, items: list[dict], codes: list[int]) -> None:
    """FI-ROUND-TRIP: every field of each imported item reads back through friend_get_list; what AddTime and
    integer custom Values read back as is recorded for their open rules."""
    imported = [i for i, code in zip(items, codes) if code == 0]
    if not imported or not session.wants("FI-ROUND-TRIP"):
        return
    custom = sorted({c["Tag"] for i in imported for c in i.get("CustomItem", ())})
    reply, _ = session.stored(from_account, [i["To_Account"] for i in imported], STANDARD_TAGS + custom)
    for entry in imported:
        held = session.judge("FI-ROUND-TRIP", "round_trip", reply, sent=entry,
                             read=Derived("tags_of", (reply,), (entry["To_Account"],)))
        # The record read back is not the one imported: what it says of AddTime or an integer Value is no answer.
        unreached = None if held else failed_first("FI-ROUND-TRIP", "the friend read back without the values it "
                                                                    "was imported with")
        _open_reads(session, entry, reply, unreached)


def _open_reads(session: Session, entry: dict[str, Any], reply, unreached: str | None) -> None:
    if "AddTime" in entry:
        session.judge("OPEN-ADDTIME-READBACK", "read", reply, sent=entry["AddTime"],
                      read=Derived("tag_value", (reply,), (entry["To_Account"], "Tag_SNS_IM_AddTime")),
                      started=Instant(session.started), now=Instant(time.time()),
                      unreached=unreached)
    for custom in entry.get("CustomItem", ()):
        if isinstance(custom["Value"], int) and not isinstance(custom["Value"], bool):
            session.judge("OPEN-CUSTOM-VALUE-INTEGER", "read", reply, account=entry["To_Account"],
                          sent=custom["Value"], read=Derived("tag_value", (reply,), (entry["To_Account"], custom["Tag"])),
                          unreached=unreached)


def one_way(session: Session, from_account: str, to_account: str) -> None:
    """FI-ONE-WAY: From has To; To does not have From. A From without To was never stored: that is
    FI-VALID-ITEM-IMPORTED's failure, and says nothing about the direction."""
    if not session.wants("FI-ONE-WAY"):
        return
    relation = session.relation_of(from_account, to_account)
    friends = Derived("friends", relation.replies, ([to_account],))
    if session.judge("FI-VALID-ITEM-IMPORTED", "kept", account=to_account, owner=from_account, friends=friends,
                     note=f"{to_account}, imported with ResultCode 0"):
        session.judge("FI-ONE-WAY", "forward", account=to_account, owner=from_account, relation=relation)
