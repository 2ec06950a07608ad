"""The companion operations the suite relies on for setup, read-back and cleanup (rules SUPPORT-*).

These answers get no automatic checks (those are friend_import's), so every property is verified
here with its rule. Scenarios that create accounts beyond the run's own, delete accounts, or send
oversized account batches do not run in the staging profile: a shared tenant keeps its accounts
(71000 on paid apps, at most 100 on Free Trial ones).
"""

from __future__ import annotations

from typing import Any

from timconform.oracle.answers import seen
from timconform.oracle.derived import Derived
from timconform.suite.registry import ALL_PROFILES, scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.session import Session, item
from timconform.target import Reply

UNSHARED = ALL_PROFILES - {"staging"}
ENVELOPE = "SUPPORT-ACCOUNT-ENVELOPE"
IMPORTED, NOT_IMPORTED = "Imported", "NotImported"
BOTH, A_WITH_B, B_WITH_A, NO_RELATION = ("CheckResult_Type_BothWay", "CheckResult_Type_AWithB",
                                         "CheckResult_Type_BWithA", "CheckResult_Type_NoRelation")


def account_call(session: Session, operation: str, body: dict[str, Any]) -> Reply:
    """An account operation, with its answer's envelope checked (ErrorDisplay is not required of it)."""
    reply = session.client.call(operation, body)
    session.judge(ENVELOPE, "envelope", reply)
    return reply


def _statuses(session: Session, user_ids: list[str]) -> tuple[Reply, Derived]:
    """account_check: UserID -> AccountStatus; one CheckItem per UserID is SUPPORT-ACCOUNT-CHECK-STATUS's to judge."""
    reply = account_call(session, "account_check", {"CheckItem": [{"UserID": u} for u in user_ids]})
    session.require("SUPPORT-ACCOUNT-CHECK-STATUS", "has_result_items", reply, asked=user_ids, partial=True)
    return reply, Derived("statuses", (reply,))


@scenario("support-account-import", profiles=UNSHARED,
          rules=RESPONSE_RULES + ("SUPPORT-ACCOUNT-IMPORT-IDEMPOTENT", "SUPPORT-ACCOUNT-IMPORT-KEY", ENVELOPE,
                                  "SUPPORT-ACCOUNT-CHECK-STATUS"))
def account_import(session: Session) -> None:
    """account_import twice, with either key, keeps friends; account_check tells imported from not."""
    idempotent, key = "SUPPORT-ACCOUNT-IMPORT-IDEMPOTENT", "SUPPORT-ACCOUNT-IMPORT-KEY"
    status = "SUPPORT-ACCOUNT-CHECK-STATUS"
    a, b = session.names(2)
    session.import_accounts([a, b])
    session.import_valid(a, [item(b)])
    fresh, old_key, never = session.names(3)
    for attempt in ("first", "second"):
        reply = account_call(session, "account_import", {"UserID": fresh})
        session.judge(idempotent, "succeeded", reply, note=f"the {attempt} account_import of {fresh}")
    reply = account_call(session, "account_import", {"UserID": a})
    session.judge(idempotent, "succeeded", reply, note=f"re-importing {a}, who has a friend")
    session.judge(idempotent, "kept", account=b, owner=a, friends=session.friends_among(a, [b]),
                  note=f"{a}'s friend {b}, after {a} was re-imported")
    key_reply = account_call(session, "account_import", {"Identifier": old_key})
    session.judge(key, "succeeded", key_reply, note="account_import with the older key Identifier")
    asked = [fresh, old_key, never, a]
    reply, statuses = _statuses(session, asked)
    session.judge(status, "listed", reply, asked=asked)
    session.judge(status, "status", reply, statuses=statuses, want={never: NOT_IMPORTED, a: IMPORTED},
                  note=f"never-imported {never} NotImported and imported {a} Imported")
    session.judge(idempotent, "status", reply, statuses=statuses, want={fresh: IMPORTED},
                  note=f"{fresh}, imported twice, Imported")
    if key_reply.ok:
        session.judge(key, "status", reply, statuses=statuses, want={old_key: IMPORTED},
                      note=f"{old_key}, imported with the key Identifier, Imported")


@scenario("support-account-delete", profiles=UNSHARED,
          rules=RESPONSE_RULES + ("SUPPORT-ACCOUNT-DELETE-MISSING", "SUPPORT-ACCOUNT-DELETE-FREE-TRIAL",
                                  "SUPPORT-ACCOUNT-DELETE-CASCADE", ENVELOPE))
def account_delete(session: Session) -> None:
    """account_delete: 70107 for a missing account; deleted (Free Trial) or 71000, as account_check agrees."""
    free_trial, cascade = "SUPPORT-ACCOUNT-DELETE-FREE-TRIAL", "SUPPORT-ACCOUNT-DELETE-CASCADE"
    (never,) = session.names(1)
    reply = account_call(session, "account_delete", {"DeleteItem": [{"UserID": never}]})
    session.judge("SUPPORT-ACCOUNT-DELETE-MISSING", "refused", reply, item=0)
    a, b = session.accounts(2)
    session.import_valid(a, [item(b)])
    reply = account_call(session, "account_delete", {"DeleteItem": [{"UserID": a}]})
    if not session.judge(free_trial, "delete_answer", reply, item=0):
        return
    observed = seen(reply, item=0)
    deleted = observed.code == 0
    check_reply, statuses = _statuses(session, [a])
    # What account_check should show follows from account_delete's answer: kept as where it came from, so a
    # replay judges it against the replayed answer (oracle/derived.py).
    want = Derived("after_delete", (reply,), (a, NOT_IMPORTED, IMPORTED))
    session.judge(free_trial, "status", check_reply, statuses=statuses, want=want,
                  note=f"account_check to agree with account_delete's answer ({observed.describe()})")
    if not deleted:
        session.judge(cascade, "cascaded", unreached=f"account_delete was refused ({observed.describe()}): only a "
                                                      "Free Trial app deletes accounts, so no deletion could cascade")
        return
    reply = account_call(session, "account_import", {"UserID": a})
    session.require(cascade, "succeeded", reply, note=f"account_import of the deleted {a} (an account can be "
                                                      "imported again)")
    session.judge(cascade, "cascaded", account=b, owner=a, relation=session.relation_of(a, b))


@scenario("support-batch-limits", rules=("SUPPORT-BATCH-LIMITS", ENVELOPE), needs=("large",))
def batch_limits(session: Session) -> None:
    """One item over each companion batch limit is refused as a whole."""
    rule = "SUPPORT-BATCH-LIMITS"
    limit = session.spec.limit
    (owner,) = session.accounts(1)
    accounts = session.names(limit("multiaccount_import_accounts") + 1)
    reply = account_call(session, "multiaccount_import", {"Accounts": accounts})
    session.judge(rule, "refused", reply, note=f"multiaccount_import of {len(accounts)} accounts")
    if not reply.ok:
        _, statuses = _statuses(session, accounts[:1])
        session.judge(rule, "status", statuses=statuses, want={accounts[0]: NOT_IMPORTED},
                      note="the refused multiaccount_import to import nothing")
    for operation, key, size in (("account_check", "CheckItem", "account_check_items"),
                                 ("account_delete", "DeleteItem", "account_delete_items")):
        names = session.names(limit(size) + 1)
        reply = account_call(session, operation, {key: [{"UserID": n} for n in names]})
        session.judge(rule, "refused", reply, note=f"{operation} of {len(names)} items")
    for operation, size, extra in (("friend_check", "friend_check_items", {"CheckType": "CheckResult_Type_Both"}),
                                   ("friend_delete", "friend_delete_items", {"DeleteType": "Delete_Type_Single"})):
        names = session.names(limit(size) + 1)
        reply = session.client.call(operation, {"From_Account": owner, "To_Account": names, **extra})
        session.judge(rule, "refused", reply, note=f"{operation} of {len(names)} To_Accounts")


@scenario("support-friend-operations",
          rules=RESPONSE_RULES + ("SUPPORT-FRIEND-CHECK-RELATION", "SUPPORT-FRIEND-GET-LIST-NOT-FRIEND",
                                  "SUPPORT-FRIEND-DELETE-NOT-FRIEND"))
def friend_operations(session: Session) -> None:
    """friend_check's four relations, friend_get_list and friend_delete of a non-friend, and a real delete."""
    delete_rule = "SUPPORT-FRIEND-DELETE-NOT-FRIEND"
    a, only_a, only_c, both, none = session.accounts(5)  # a->only_a, only_c->a, a<->both, none
    session.import_valid(a, [item(only_a), item(both)])
    session.import_valid(only_c, [item(a)])
    session.import_valid(both, [item(a)])
    others = [only_a, only_c, both, none]
    for check_type, want in (("CheckResult_Type_Both", [A_WITH_B, B_WITH_A, BOTH, NO_RELATION]),
                             ("CheckResult_Type_Single", [A_WITH_B, NO_RELATION, A_WITH_B, NO_RELATION])):
        reply = session.client.call("friend_check", {"From_Account": a, "To_Account": others, "CheckType": check_type})
        session.judge("SUPPORT-FRIEND-CHECK-RELATION", "expected_relations", reply, expected=dict(zip(others, want)),
                      note=check_type)
    reply = session.client.call("friend_get_list", {"From_Account": a, "To_Account": [none, only_a],
                                                    "TagList": ["Tag_SNS_IM_AddSource"]})
    session.judge("SUPPORT-FRIEND-GET-LIST-NOT-FRIEND", "not_friend_listed", reply, stranger=none, friend=only_a)
    reply = session.client.call("friend_delete", {"From_Account": a, "To_Account": [none, only_a],
                                                  "DeleteType": "Delete_Type_Single"})
    session.judge(delete_rule, "refused", reply, account=none, note=f"friend_delete of non-friend {none}")
    session.judge(delete_rule, "deleted", reply, account=only_a, relation=session.relation_of(a, only_a))
