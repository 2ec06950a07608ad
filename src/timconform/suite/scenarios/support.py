"""The companion operations the suite relies on for setup, read-back and cleanup (rules SUPPORT-*).

These answers get no automatic checks (those are friend_import's), so every property is verified
here with its rule. Scenarios that create accounts beyond the run's own, delete accounts, or send
oversized account batches do not run in the staging profile: a shared tenant keeps its accounts
(71000 on paid apps, at most 100 on Free Trial ones).
"""

from __future__ import annotations

from typing import Any

from timconform.oracle.expect import seen
from timconform.suite.registry import ALL_PROFILES, scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.session import Session, SetupFailed, item
from timconform.target import Reply

UNSHARED = ALL_PROFILES - {"staging"}
ENVELOPE = "SUPPORT-ACCOUNT-ENVELOPE"
IMPORTED, NOT_IMPORTED = "Imported", "NotImported"
BOTH, A_WITH_B, B_WITH_A, NO_RELATION = ("CheckResult_Type_BothWay", "CheckResult_Type_AWithB",
                                         "CheckResult_Type_BWithA", "CheckResult_Type_NoRelation")


def _excerpt(reply: Reply) -> str:
    return reply.exchange.response_body[:200] if reply.exchange.response_body else f"HTTP {reply.status}, no body"


def account_call(session: Session, operation: str, body: dict[str, Any]) -> Reply:
    """An account operation, with its answer's envelope checked (ErrorDisplay is not required of it)."""
    reply = session.client.call(operation, body)
    env = reply.envelope or {}
    status, code, info = env.get("ActionStatus"), env.get("ErrorCode"), env.get("ErrorInfo")
    good = (status in ("OK", "FAIL") and type(code) is int and isinstance(info, str)
            and (status == "OK") == (code == 0))
    session.verify(ENVELOPE, good, f"Expected {operation} to answer ActionStatus \"OK\" with ErrorCode 0 or \"FAIL\" "
                   f"with a non-zero ErrorCode, and a string ErrorInfo. Received {_excerpt(reply)}.", reply)
    return reply


def _succeeded(reply: Reply) -> bool:
    return reply.ok and reply.error_code == 0


def _statuses(session: Session, user_ids: list[str]) -> tuple[Reply, dict[str, Any]]:
    """account_check: UserID -> AccountStatus; one CheckItem per UserID is SUPPORT-ACCOUNT-CHECK-STATUS's to judge."""
    reply = account_call(session, "account_check", {"CheckItem": [{"UserID": u} for u in user_ids]})
    items = reply.envelope.get("ResultItem") if reply.ok else None
    if not isinstance(items, list):
        raise SetupFailed("SUPPORT-ACCOUNT-CHECK-STATUS", f"Expected account_check of {len(user_ids)} UserIDs to "
                                                          f"answer ActionStatus OK with a ResultItem array. "
                                                          f"Received {reply.describe()}.", reply)
    return reply, {i.get("UserID"): i.get("AccountStatus") for i in items if isinstance(i, dict)}


def _import_friends(session: Session, from_account: str, to_accounts: list[str]) -> None:
    session.import_valid(from_account, [item(to) for to in to_accounts])


@scenario("support-account-import", profiles=UNSHARED,
          rules=RESPONSE_RULES + ("SUPPORT-ACCOUNT-IMPORT-IDEMPOTENT", "SUPPORT-ACCOUNT-IMPORT-KEY", ENVELOPE,
                                  "SUPPORT-ACCOUNT-CHECK-STATUS"))
def account_import(session: Session) -> None:
    """account_import twice, with either key, keeps friends; account_check tells imported from not."""
    idempotent, key = "SUPPORT-ACCOUNT-IMPORT-IDEMPOTENT", "SUPPORT-ACCOUNT-IMPORT-KEY"
    status = "SUPPORT-ACCOUNT-CHECK-STATUS"
    a, b = session.names(2)
    session.import_accounts([a, b])
    _import_friends(session, a, [b])
    fresh, old_key, never = session.names(3)
    for attempt in ("first", "second"):
        reply = account_call(session, "account_import", {"UserID": fresh})
        session.verify(idempotent, _succeeded(reply), f"Expected the {attempt} account_import of {fresh} to answer "
                       f"ActionStatus OK, ErrorCode 0. Received {_excerpt(reply)}.", reply)
    reply = account_call(session, "account_import", {"UserID": a})
    session.verify(idempotent, _succeeded(reply), f"Expected re-importing {a}, who has a friend, to answer "
                   f"ActionStatus OK, ErrorCode 0. Received {_excerpt(reply)}.", reply)
    kept = session.friends_among(a, [b])
    session.verify(idempotent, kept == {b}, f"Expected {a} to keep friend {b} after being re-imported. "
                   f"Received friends {sorted(kept)}.")
    key_reply = account_call(session, "account_import", {"Identifier": old_key})
    session.verify(key, _succeeded(key_reply), "Expected account_import with the older key Identifier to answer "
                   f"ActionStatus OK, ErrorCode 0. Received {_excerpt(key_reply)}.", key_reply)
    asked = [fresh, old_key, never, a]
    reply, statuses = _statuses(session, asked)
    items = reply.body.get("ResultItem")
    session.verify(status, set(statuses) == set(asked) and len(items) == len(asked)
                   and all(s in (IMPORTED, NOT_IMPORTED) for s in statuses.values()),
                   f"Expected one ResultItem per UserID {asked}, each with AccountStatus Imported or NotImported. "
                   f"Received {statuses}.", reply)
    session.verify(status, statuses.get(never) == NOT_IMPORTED and statuses.get(a) == IMPORTED,
                   f"Expected never-imported {never} NotImported and imported {a} Imported. Received "
                   f"{statuses.get(never)!r} and {statuses.get(a)!r}.", reply)
    session.verify(idempotent, statuses.get(fresh) == IMPORTED, f"Expected {fresh}, imported twice, to be Imported. "
                   f"Received {statuses.get(fresh)!r}.", reply)
    if _succeeded(key_reply):
        session.verify(key, statuses.get(old_key) == IMPORTED, f"Expected {old_key}, imported with the key "
                       f"Identifier, to be Imported. Received {statuses.get(old_key)!r}.", reply)


@scenario("support-account-delete", profiles=UNSHARED,
          rules=RESPONSE_RULES + ("SUPPORT-ACCOUNT-DELETE-MISSING", "SUPPORT-ACCOUNT-DELETE-FREE-TRIAL",
                                  "SUPPORT-ACCOUNT-DELETE-CASCADE", ENVELOPE))
def account_delete(session: Session) -> None:
    """account_delete: 70107 for a missing account; deleted (Free Trial) or 71000, as account_check agrees."""
    free_trial, cascade = "SUPPORT-ACCOUNT-DELETE-FREE-TRIAL", "SUPPORT-ACCOUNT-DELETE-CASCADE"
    (never,) = session.names(1)
    reply = account_call(session, "account_delete", {"DeleteItem": [{"UserID": never}]})
    session.expect("SUPPORT-ACCOUNT-DELETE-MISSING", reply, item=0)
    a, b = session.accounts(2)
    _import_friends(session, a, [b])
    reply = account_call(session, "account_delete", {"DeleteItem": [{"UserID": a}]})
    observed = seen(reply, item=0)
    deleted = observed is not None and observed.code == 0
    refused = observed is not None and observed.code in session.spec.rules[free_trial].codes
    if not (deleted or refused):
        session.expect(free_trial, reply, item=0)
        return
    if refused:
        session.expect(free_trial, reply, item=0)
    check_reply, statuses = _statuses(session, [a])
    want = NOT_IMPORTED if deleted else IMPORTED
    session.verify(free_trial, statuses.get(a) == want, f"Expected account_check to agree with account_delete's "
                   f"answer ({'deleted' if deleted else observed.describe()}): {a} {want}. Received "
                   f"{statuses.get(a)!r}.", check_reply)
    if not deleted:
        session.recorder.skipped((cascade,), f"account_delete was refused ({observed.describe()}): only a Free Trial "
                                 "app deletes accounts, so no deletion could cascade")
        return
    reply = account_call(session, "account_import", {"UserID": a})
    if not _succeeded(reply):
        raise SetupFailed(cascade, f"Expected account_import of the deleted {a} to answer ActionStatus OK, ErrorCode 0 "
                                   f"(an account can be imported again). Received {reply.describe()}.", reply)
    relation = session.relations(a, [b]).get(b)
    session.verify(cascade, relation in (NO_RELATION, B_WITH_A), f"Expected the re-imported {a} to start without "
                   f"friend {b} (NoRelation from {a}'s side). Received {relation!r}.")


@scenario("support-batch-limits", rules=("SUPPORT-BATCH-LIMITS", ENVELOPE), needs=("large",))
def batch_limits(session: Session) -> None:
    """One item over each companion batch limit is refused as a whole."""
    rule = "SUPPORT-BATCH-LIMITS"
    limit = session.spec.limit
    (owner,) = session.accounts(1)
    accounts = session.names(limit("multiaccount_import_accounts") + 1)
    reply = account_call(session, "multiaccount_import", {"Accounts": accounts})
    session.expect(rule, reply, note=f"multiaccount_import of {len(accounts)} accounts")
    if not reply.ok:
        _, statuses = _statuses(session, accounts[:1])
        session.verify(rule, statuses.get(accounts[0]) == NOT_IMPORTED, f"Expected the refused multiaccount_import "
                       f"to import nothing: {accounts[0]} NotImported. Received {statuses.get(accounts[0])!r}.")
    for operation, key, size in (("account_check", "CheckItem", "account_check_items"),
                                 ("account_delete", "DeleteItem", "account_delete_items")):
        names = session.names(limit(size) + 1)
        reply = account_call(session, operation, {key: [{"UserID": n} for n in names]})
        session.expect(rule, reply, note=f"{operation} of {len(names)} items")
    for operation, size, extra in (("friend_check", "friend_check_items", {"CheckType": "CheckResult_Type_Both"}),
                                   ("friend_delete", "friend_delete_items", {"DeleteType": "Delete_Type_Single"})):
        names = session.names(limit(size) + 1)
        reply = session.client.call(operation, {"From_Account": owner, "To_Account": names, **extra})
        session.expect(rule, reply, note=f"{operation} of {len(names)} To_Accounts")


@scenario("support-friend-operations",
          rules=RESPONSE_RULES + ("SUPPORT-FRIEND-CHECK-RELATION", "SUPPORT-FRIEND-GET-LIST-NOT-FRIEND",
                                  "SUPPORT-FRIEND-DELETE-NOT-FRIEND"))
def friend_operations(session: Session) -> None:
    """friend_check's four relations, friend_get_list and friend_delete of a non-friend, and a real delete."""
    relation_rule, get_rule, delete_rule = ("SUPPORT-FRIEND-CHECK-RELATION", "SUPPORT-FRIEND-GET-LIST-NOT-FRIEND",
                                            "SUPPORT-FRIEND-DELETE-NOT-FRIEND")
    a, only_a, only_c, both, none = session.accounts(5)  # a->only_a, only_c->a, a<->both, none
    _import_friends(session, a, [only_a, both])
    _import_friends(session, only_c, [a])
    _import_friends(session, both, [a])
    others = [only_a, only_c, both, none]
    for check_type, want in (("CheckResult_Type_Both", [A_WITH_B, B_WITH_A, BOTH, NO_RELATION]),
                             ("CheckResult_Type_Single", [A_WITH_B, NO_RELATION, A_WITH_B, NO_RELATION])):
        reply = session.client.call("friend_check", {"From_Account": a, "To_Account": others, "CheckType": check_type})
        infos = (reply.body or {}).get("InfoItem") if isinstance(reply.body, dict) else None
        infos = infos if isinstance(infos, list) else []
        got = {i.get("To_Account"): i.get("Relation") for i in infos if isinstance(i, dict)}
        expected = dict(zip(others, want))
        session.verify(relation_rule, reply.ok and len(infos) == len(others) and got == expected,
                       f"Expected friend_check {check_type} to answer one InfoItem per To_Account with {expected}. "
                       f"Received {got or _excerpt(reply)}.", reply)
    codes = session.spec.rules[get_rule].codes
    text = session.spec.code(codes[0]).info("friend_get_list")
    reply = session.client.call("friend_get_list", {"From_Account": a, "To_Account": [none, only_a],
                                                    "TagList": ["Tag_SNS_IM_AddSource"]})
    infos = (reply.body or {}).get("InfoItem") if isinstance(reply.body, dict) else None
    by_account = {i.get("To_Account"): i for i in infos if isinstance(i, dict)} if isinstance(infos, list) else {}
    stranger, friend = by_account.get(none) or {}, by_account.get(only_a) or {}
    session.verify(get_rule, reply.ok and stranger.get("ResultCode") in codes and stranger.get("ResultInfo") == text
                   and friend.get("ResultCode") == 0,
                   f"Expected friend_get_list to answer OK with non-friend {none} at ResultCode {codes[0]}, ResultInfo "
                   f"{text!r} and friend {only_a} at ResultCode 0. Received {by_account or _excerpt(reply)}.", reply)
    reply = session.client.call("friend_delete", {"From_Account": a, "To_Account": [none, only_a],
                                                  "DeleteType": "Delete_Type_Single"})
    session.expect(delete_rule, reply, account=none, note=f"friend_delete of non-friend {none}")
    observed = seen(reply, account=only_a)
    relation = session.relations(a, [only_a]).get(only_a)
    session.verify(delete_rule, observed is not None and observed.code == 0 and relation == NO_RELATION,
                   f"Expected friend_delete of friend {only_a} to answer ResultCode 0 and friend_check afterwards "
                   f"NoRelation. Received {observed.describe() if observed else 'no ResultItem'}, {relation!r}.", reply)

