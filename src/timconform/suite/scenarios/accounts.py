"""Accounts that were never imported, as From_Account and as To_Account.

The answers are judged on any tenant. Where accounts may be created, the unknown accounts are imported
afterwards and the friend tables read back: a fresh account must start with no friendship, so a
refused import that left one behind shows up.
"""

from __future__ import annotations

from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.scenarios.limits import slot, whole_refusal
from timconform.suite.session import Session, item

FROM_EXISTS, TO_EXISTS, TO_LEVEL = "FI-ACCOUNT-FROM-EXISTS", "FI-ACCOUNT-TO-EXISTS", "OPEN-UNKNOWN-TO-ACCOUNT-LEVEL"


def unknown_from(session: Session) -> tuple[str, list[str]]:
    """Import for a From_Account never imported and judge the answer: (that account, the To_Accounts)."""
    stranger = session.names(1)[0]
    tos = session.accounts(2)
    reply = session.friend_import(stranger, [item(t) for t in tos])
    if whole_refusal(reply):
        session.judge(FROM_EXISTS, "refused", reply, note="From_Account never imported")
    else:
        for index, to in enumerate(tos):
            session.judge(FROM_EXISTS, "refused", reply, item=slot(reply, index, to),
                          note=f"item {index} of a From_Account never imported")
    return stranger, tos


def unknown_to(session: Session) -> tuple[str, list[str], list[str]]:
    """An unknown To_Account alone, then between two valid items; judge the answers and the valid items' fate.

    Returns (owner, the unknown To_Accounts, the valid To_Accounts)."""
    owner, first, last = session.accounts(3)
    alone, beside = session.names(2)
    reply = session.friend_import(owner, [item(alone)])
    session.judge(TO_EXISTS, "refused", reply, account=alone, note="an unknown To_Account alone")
    session.judge(TO_LEVEL, "refused", reply, account=alone, note="an unknown To_Account alone", premise=TO_EXISTS)

    mixed = session.friend_import(owner, [item(first), item(beside), item(last)])
    unknown_at = slot(mixed, 1, beside)
    note = "an unknown To_Account between valid items"
    session.judge(TO_EXISTS, "refused", mixed, item=unknown_at, note=note)
    outcome = session.judge(TO_LEVEL, "refused", mixed, item=unknown_at, note=note, premise=TO_EXISTS).outcome
    valid = [first, last]
    if outcome == "per-item-30003":
        for to, index in ((first, slot(mixed, 0, first)), (last, slot(mixed, 2, last))):
            session.judge(TO_LEVEL, "imported", mixed, item=index,
                          note=f"the valid item {to} beside an unknown To_Account (per-item outcome)")
    if outcome is not None:
        friends = session.friends_among(owner, valid)
        per_item = outcome == "per-item-30003"
        session.judge(TO_LEVEL, "table", mixed, owner=owner, friends=friends, expected=set(valid) if per_item else set(),
                      note=f"(the valid items, {outcome} outcome)")
    return owner, [alone, beside], valid


@scenario("unknown-accounts", rules=RESPONSE_RULES + (FROM_EXISTS, TO_EXISTS, TO_LEVEL))
def unknown_accounts(session: Session) -> None:
    """From_Account never imported: refused with 30003; To_Account never imported: 30003 at an open level."""
    unknown_from(session)
    unknown_to(session)


@scenario("unknown-accounts-stored", rules=RESPONSE_RULES + (FROM_EXISTS, TO_EXISTS, TO_LEVEL),
          needs=("creates-accounts",))
def unknown_accounts_stored(session: Session) -> None:
    """Once imported, accounts named in refused imports have no friendship from them."""
    stranger, tos = unknown_from(session)
    owner, unknown, _ = unknown_to(session)
    session.import_accounts([stranger, *unknown])
    session.judge(FROM_EXISTS, "not_kept", accounts=tos, owner=stranger, friends=session.friends_among(stranger, tos),
                  note=f"the unknown From_Account {stranger} (read once it was imported)")
    session.judge(TO_EXISTS, "not_kept", accounts=unknown, owner=owner, friends=session.friends_among(owner, unknown),
                  note="To_Accounts that did not exist (read once they were imported)")
