"""The companion operations the suite relies on (rules SUPPORT-*): account_import, multiaccount_import,
account_check, account_delete, friend_check, friend_get_list, friend_delete.

No response rule judges their answers as answers, so each property is a rule here, judged on the answer
(and on the state read back after it).
"""

from __future__ import annotations

from typing import Any

from timconform.oracle.answers import accepted_call, refused, seen
from timconform.oracle.registry import PASS, Observation, check, failure
from timconform.oracle.tables import kept
from timconform.spec import Rule, Spec

IMPORTED, NOT_IMPORTED = "Imported", "NotImported"
NO_RELATION, B_WITH_A = "CheckResult_Type_NoRelation", "CheckResult_Type_BWithA"


def _excerpt(reply) -> str:
    return reply.exchange.response_body[:200] if reply.exchange.response_body else f"HTTP {reply.status}, no body"


def envelope(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """An account operation's answer: ActionStatus OK with ErrorCode 0, or FAIL with a non-zero one, and a string
    ErrorInfo (ErrorDisplay is not required of it)."""
    reply = observation.reply
    env = reply.envelope or {}
    status, code, info = env.get("ActionStatus"), env.get("ErrorCode"), env.get("ErrorInfo")
    if not (status in ("OK", "FAIL") and type(code) is int and isinstance(info, str) and (status == "OK") == (code == 0)):
        raise failure(rule, observation, f"Expected {reply.exchange.operation} to answer ActionStatus \"OK\" with "
                                         f"ErrorCode 0 or \"FAIL\" with a non-zero ErrorCode, and a string ErrorInfo. "
                                         f"Received {_excerpt(reply)}.")
    return PASS


def status(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """account_check's AccountStatus (``statuses``) is the one ``want`` names for each account."""
    statuses, want = observation["statuses"], observation["want"]
    wrong = {a: statuses.get(a) for a, s in want.items() if statuses.get(a) != s}
    if wrong:
        raise failure(rule, observation, f"Expected {observation.note or 'account_check'}: {want}. "
                                         f"Received {wrong}.")
    return PASS


def listed(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """account_check answers one ResultItem per UserID asked (``asked``), each Imported or NotImported."""
    reply, asked = observation.reply, observation["asked"]
    items = reply.envelope.get("ResultItem") if reply.ok else None
    if not isinstance(items, list):
        raise failure(rule, observation, f"Expected account_check of {len(asked)} UserIDs to answer ActionStatus OK "
                                         f"with a ResultItem array. Received {reply.describe()}.")
    statuses = {i.get("UserID"): i.get("AccountStatus") for i in items if isinstance(i, dict)}
    if set(statuses) != set(asked) or len(items) != len(asked) or \
            not all(s in (IMPORTED, NOT_IMPORTED) for s in statuses.values()):
        raise failure(rule, observation, f"Expected one ResultItem per UserID {asked}, each with AccountStatus "
                                         f"Imported or NotImported. Received {statuses}.")
    return PASS


def has_result_items(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """account_check answers OK with a ResultItem array, whatever is in it (the setup read of statuses)."""
    reply = observation.reply
    if not (reply.ok and isinstance(reply.envelope.get("ResultItem"), list)):
        raise failure(rule, observation, f"Expected account_check of {len(observation['asked'])} UserIDs to answer "
                                         f"ActionStatus OK with a ResultItem array. Received {reply.describe()}.")
    return PASS


def multiaccount_imported(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """multiaccount_import of valid UserIDs (``chunk``): ActionStatus OK, none of them in FailAccounts."""
    reply, chunk = observation.reply, observation["chunk"]
    listed_fail = (reply.envelope or {}).get("FailAccounts")
    failed = [n for n in chunk if n in listed_fail] if isinstance(listed_fail, list) else []
    if not reply.ok or failed:
        longest = max(chunk, key=lambda n: len(n.encode("utf-8")))
        got = reply.describe() + (f", FailAccounts {failed[:5]!r}" if failed else "")
        raise failure(rule, observation, f"Expected multiaccount_import of {len(chunk)} valid UserIDs (the longest "
                                         f"{longest!r}, {len(longest.encode('utf-8'))} bytes) to answer ActionStatus "
                                         f"OK with none of them in FailAccounts. Received {got}.")
    return PASS


def relations(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_check answers OK with a string Relation for every To_Account asked (``asked``)."""
    reply, asked = observation.reply, observation["asked"]
    infos = reply.envelope.get("InfoItem") if reply.ok else None
    answered = {i.get("To_Account"): i.get("Relation") for i in infos if isinstance(i, dict)} \
        if isinstance(infos, list) else {}
    missing = [a for a in asked if not isinstance(answered.get(a), str)]
    if missing:
        got = reply.describe() + (f", no Relation for {missing[:3]}" if reply.ok else "")
        raise failure(rule, observation, f"Expected friend_check (CheckResult_Type_Both) of {len(asked)} accounts for "
                                         f"{observation['owner']} to answer ActionStatus OK with a Relation for each. "
                                         f"Received {got}.")
    return PASS


def expected_relations(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_check answers OK, one InfoItem per To_Account, each with the relation ``expected`` names."""
    reply, expected = observation.reply, observation["expected"]
    infos = reply.body.get("InfoItem") if isinstance(reply.body, dict) else None
    infos = infos if isinstance(infos, list) else []
    got = {i.get("To_Account"): i.get("Relation") for i in infos if isinstance(i, dict)}
    if not (reply.ok and len(infos) == len(expected) and got == expected):
        wrong = {a: got.get(a) for a in expected if got.get(a) != expected[a]}
        raise failure(rule, observation, f"Expected friend_check {observation.note} to answer one InfoItem per "
                                         f"To_Account with the relation of each ({len(expected)}). Received, for "
                                         f"{len(wrong)} of them, e.g. {dict(list(wrong.items())[:3]) or _excerpt(reply)}.")
    return PASS


def relations_are(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_check's relations read back (``got``, over as many calls as it took) are the ``expected`` ones."""
    got, expected = observation["got"], observation["expected"]
    wrong = {a: got.get(a) for a in expected if got.get(a) != expected[a]}
    if wrong:
        raise failure(rule, observation, f"Expected {observation.note}: the relation of each of {len(expected)} "
                                         f"accounts. Received, for {len(wrong)} of them, e.g. "
                                         f"{dict(list(wrong.items())[:3])}.")
    return PASS


def info_items(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_get_list answers OK with one InfoItem with an integer ResultCode per To_Account asked."""
    reply, asked = observation.reply, observation["asked"]
    infos = reply.envelope.get("InfoItem") if reply.ok else None
    answered = {i.get("To_Account") for i in infos if isinstance(i, dict) and type(i.get("ResultCode")) is int} \
        if isinstance(infos, list) else set()
    missing = [a for a in asked if a not in answered]
    if missing:
        got = reply.describe() + (f", no InfoItem with a ResultCode for {missing[:3]}" if reply.ok else "")
        raise failure(rule, observation, f"Expected friend_get_list of {len(asked)} accounts for {observation['owner']} "
                                         f"to answer ActionStatus OK with one InfoItem per To_Account. Received {got}.")
    return PASS


def not_friend_listed(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_get_list of a non-friend (``stranger``) and a friend (``friend``): the non-friend at this rule's code
    with its documented ResultInfo, the friend at ResultCode 0."""
    reply, stranger, friend = observation.reply, observation["stranger"], observation["friend"]
    text = spec.code(rule.codes[0]).info("friend_get_list")
    infos = reply.body.get("InfoItem") if isinstance(reply.body, dict) else None
    by_account = {i.get("To_Account"): i for i in infos if isinstance(i, dict)} if isinstance(infos, list) else {}
    other, mine = by_account.get(stranger) or {}, by_account.get(friend) or {}
    if not (reply.ok and other.get("ResultCode") in rule.codes and other.get("ResultInfo") == text
            and mine.get("ResultCode") == 0):
        raise failure(rule, observation, f"Expected friend_get_list to answer OK with non-friend {stranger} at "
                                         f"ResultCode {rule.codes[0]}, ResultInfo {text!r} and friend {friend} at "
                                         f"ResultCode 0. Received {by_account or _excerpt(reply)}.")
    return PASS


def deleted(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_delete of a friend (``account``): ResultCode 0, and friend_check afterwards NoRelation (``relation``)."""
    observed = seen(observation.reply, account=observation.account)
    relation = observation["relation"]
    if not (observed is not None and observed.code == 0 and relation == NO_RELATION):
        raise failure(rule, observation, f"Expected friend_delete of friend {observation.account} to answer ResultCode "
                                         f"0 and friend_check afterwards NoRelation. Received "
                                         f"{observed.describe() if observed else 'no ResultItem'}, {relation!r}.")
    return PASS


def delete_answer(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """account_delete of an existing account: deleted (ResultCode 0), or refused with this rule's code."""
    observed = seen(observation.reply, item=observation.item)
    if observed is not None and observed.code == 0:
        return PASS
    return refused(spec, rule, observation)


def cascaded(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """A deleted account imported again starts without the friends it had (``relation`` from its side)."""
    relation = observation["relation"]
    if relation not in (NO_RELATION, B_WITH_A):
        raise failure(rule, observation, f"Expected the re-imported {observation['owner']} to start without friend "
                                         f"{observation.account} (NoRelation from its side). Received {relation!r}.")
    return PASS


check("SUPPORT-ACCOUNT-ENVELOPE", envelope=envelope)
check("SUPPORT-ACCOUNT-IMPORT-IDEMPOTENT", succeeded=accepted_call, status=status,
      kept=kept)
check("SUPPORT-ACCOUNT-IMPORT-KEY", succeeded=accepted_call, status=status)
check("SUPPORT-ACCOUNT-CHECK-STATUS", listed=listed, status=status, has_result_items=has_result_items)
check("SUPPORT-ACCOUNT-DELETE-MISSING", refused=refused)
check("SUPPORT-ACCOUNT-DELETE-FREE-TRIAL", delete_answer=delete_answer, status=status)
check("SUPPORT-ACCOUNT-DELETE-CASCADE", succeeded=accepted_call, cascaded=cascaded)
check("SUPPORT-BATCH-LIMITS", refused=refused, status=status)
check("SUPPORT-MULTIACCOUNT-IMPORT", multiaccount=multiaccount_imported)
check("SUPPORT-FRIEND-CHECK-RELATION", relations=relations, expected_relations=expected_relations,
      relations_are=relations_are)
check("SUPPORT-FRIEND-GET-LIST-INFOITEM", info_items=info_items)
check("SUPPORT-FRIEND-GET-LIST-NOT-FRIEND", not_friend_listed=not_friend_listed)
check("SUPPORT-FRIEND-DELETE-NOT-FRIEND", refused=refused, deleted=deleted)
