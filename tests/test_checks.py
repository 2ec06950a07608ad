"""Every target rule's check on answers built from data, without a network: one it passes, one it fails.

Each case goes through the registry (``evaluate``), never the judgement function itself, so that replacing a
rule's check by one that passes everything (``scripts/disable_checks.py``) makes a case here fail. Cases come
from three places: the catalogue (every rule judged on a refusal gets its own code at its own level, an
acceptance and a wrong code), the bodies the real service was seen to send (../shared/reference/real-evidence.md,
quoted inline) and the seed page's samples, and hand-made answers for the read-backs. The CL- rules have theirs
in test_checks_client.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from timconform import spec as spec_module
from timconform.oracle.rate import Shot
from timconform.oracle.registry import CHECKS, Check, Observation, Outcome, UnknownEvidence, check, evaluate, \
    failed_first, load_all
from timconform.report.model import Exchange
from timconform.target import Reply

SPEC = spec_module.load()
load_all()
A_WITH_B, B_WITH_A, BOTH_WAY, NO_RELATION = ("CheckResult_Type_AWithB", "CheckResult_Type_BWithA",
                                             "CheckResult_Type_BothWay", "CheckResult_Type_NoRelation")
ITEM = {"To_Account": "bob", "AddSource": "AddSource_Type_Web"}
REQUEST = {"From_Account": "alice", "AddFriendItem": [ITEM, {"To_Account": "carol", "AddSource": "AddSource_Type_Web"}]}


def reply(body: Any, status: int = 200, operation: str = "friend_import", raw: httpx.Response | None = None) -> Reply:
    text = json.dumps(body) if body is not None else "<html>Bad Gateway</html>"
    exchange = Exchange(operation, "POST", f"https://console.tim.qq.com/v4/x/{operation}", {}, "{}", status=status,
                        response_body=text)
    return Reply(exchange, status, body, raw)


def ok(*results: tuple[str, int], fail: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An OK friend_import answer with one ResultItem per (To_Account, ResultCode)."""
    body: dict[str, Any] = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "ErrorDisplay": "",
                            "ResultItem": [{"To_Account": to, "ResultCode": code,
                                            "ResultInfo": "" if code == 0 else "Err_SNS_FriendImport_Failed"}
                                           for to, code in results]}
    if fail is not None:
        body["Fail_Account"] = fail
    return {**body, **extra}


def refusal(code: int, info: str = "Err_SNS_FriendImport_Failed") -> dict[str, Any]:
    return {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info}


# The seed page's own success sample, with one item failed (its sample failure) and Fail_Account for it.
SEED_OK = ok(("id1", 0), ("id2", 30001), ("id3", 0), fail=["id2"])
SEED_REQUEST = {"From_Account": "id", "AddFriendItem": [{"To_Account": t, "AddSource": "AddSource_Type_XXXXXXXX"}
                                                        for t in ("id1", "id2", "id3")]}
# real-evidence.md, gateway-level FAIL bodies (REAL / DOC): no ErrorDisplay, ErrorInfo may be empty.
REAL_70032 = {"ActionStatus": "FAIL", "ErrorCode": 70032, "ErrorInfo": ""}
REAL_60002 = {"ActionStatus": "FAIL", "ErrorCode": 60002, "ErrorInfo": "HTTP parse Error"}
REAL_60015 = {"ActionStatus": "FAIL", "ErrorCode": 60015, "ErrorInfo": "body account invalid"}
REAL_70003 = {"ActionStatus": "FAIL", "ErrorCode": 70003, "ErrorInfo": "The UserSig in use is illegal. Please "
              "regenerate UserSig through official API. (FYI: https://cloud.tencent.com/document/product/269/32688 )"}
REAL_70009 = refusal(70009, "usersig check failed")


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    observation: Observation
    expect: str  # "pass", "fail", "skip", "error" or "outcome:<id>"
    says: str = ""  # a piece of the failure (or skip) message


CASES: list[Case] = []


def case(rule: str, kind: str, expect: str, label: str, *, says: str = "", **observation: Any) -> None:
    facts = {k: observation.pop(k) for k in list(observation)
             if k not in ("reply", "request", "item", "account", "note", "unreached")}
    CASES.append(Case(f"{rule}:{kind}:{label}", rule, Observation(kind, facts=facts, **observation), expect, says))


# -- the answer rules, on every friend_import answer ----------------------------------------------------------

for rule_id, good, bad, says in [
    ("FI-HTTP-200", reply(SEED_OK), reply(None, status=502), "HTTP status 200"),
    ("FI-ENVELOPE-SHAPE", reply(SEED_OK), reply({"ActionStatus": "OK", "ErrorCode": "0"}), "friend_import.response"),
    ("FI-ENVELOPE-CONSISTENT", reply(REAL_60015), reply({**refusal(30001), "ActionStatus": "OK"}), "exactly when"),
    ("FI-ERRORINFO-ON-FAIL", reply(refusal(30001)), reply(refusal(30001, "")), "non-empty ErrorInfo"),
    ("FI-FAIL-NO-RESULTITEM", reply(REAL_60002), reply({**refusal(30001), "ResultItem": []}), "ResultItem"),
    ("FI-RESULTITEM-PER-ACCOUNT", reply(SEED_OK), reply(ok(("id1", 0), ("id3", 0))), "one ResultItem for each"),
    ("FI-RESULTITEM-ORDER", reply(SEED_OK), reply(ok(("id3", 0), ("id2", 30001), ("id1", 0), fail=["id2"])),
     "request order"),
    ("FI-RESULTINFO-EMPTY-ON-SUCCESS", reply(SEED_OK),
     reply({**SEED_OK, "ResultItem": [{"To_Account": "id1", "ResultCode": 0, "ResultInfo": "OK"}]}), 'ResultInfo ""'),
    ("FI-RESULTINFO-SET-ON-FAILURE", reply(SEED_OK),
     reply(ok(("id1", 0), ("id3", 0), fail=["id2"], ResultItem=[{"To_Account": "id2", "ResultCode": 30001,
                                                                 "ResultInfo": ""}])), "non-empty ResultInfo"),
    ("FI-FAIL-ACCOUNT-PRESENCE", reply(SEED_OK), reply(ok(("id1", 0), ("id2", 30001), ("id3", 0))),
     "Fail_Account present"),
    ("FI-FAIL-ACCOUNT-CONTENT", reply(SEED_OK), reply(ok(("id1", 0), ("id2", 30001), ("id3", 0), fail=["id3"])),
     "failed To_Accounts"),
    ("FI-PARTIAL-SUCCESS", reply(SEED_OK),
     reply({**refusal(30001), "ResultItem": SEED_OK["ResultItem"]}), "beside per-item failures"),
    ("FI-CODE-KNOWN", reply(SEED_OK), reply(ok(("id1", 0), ("id2", 39999), ("id3", 0), fail=["id2"])),
     "error-codes.json"),
    ("FI-CODE-LEVEL", reply(SEED_OK), reply(ok(("id1", 0), ("id2", 60003), ("id3", 0), fail=["id2"])),
     "catalogue level"),
]:
    case(rule_id, "answer", "pass", "seed-or-real", reply=good, request=SEED_REQUEST)
    case(rule_id, "answer", "fail", "broken", says=says, reply=bad, request=SEED_REQUEST)
# A second way to break each answer rule, so that no check rests on one example.
SEED_ITEMS = SEED_OK["ResultItem"]
for rule_id, bad, says in [
    ("FI-HTTP-200", reply(refusal(60003), status=400), "400"),
    ("FI-ENVELOPE-SHAPE", reply({k: v for k, v in SEED_OK.items() if k != "ErrorInfo"}), "ErrorInfo"),
    ("FI-ENVELOPE-CONSISTENT", reply({"ActionStatus": "FAIL", "ErrorCode": 0, "ErrorInfo": "x"}), "'FAIL'"),
    ("FI-ERRORINFO-ON-FAIL", reply({"ActionStatus": "FAIL", "ErrorCode": 30001}), "None"),
    ("FI-FAIL-NO-RESULTITEM", reply({**refusal(30001), "Fail_Account": []}), "Fail_Account"),
    ("FI-RESULTITEM-PER-ACCOUNT", reply(ok(("id1", 0), ("id2", 30001), ("id3", 0), ("id4", 0), fail=["id2"])),
     "'id4'"),
    ("FI-RESULTITEM-ORDER", reply(ok(("id1", 0), ("id3", 0), ("id2", 30001), fail=["id2"])), "'id3', 'id2'"),
    ("FI-RESULTINFO-EMPTY-ON-SUCCESS", reply({**SEED_OK, "ResultItem": [{"To_Account": "id1", "ResultCode": 0}]}),
     "'id1'"),
    ("FI-RESULTINFO-SET-ON-FAILURE", reply({**SEED_OK, "ResultItem": [{"To_Account": "id2", "ResultCode": 30001}]}),
     "'id2'"),
    ("FI-FAIL-ACCOUNT-PRESENCE", reply(ok(("id1", 0), ("id2", 0), ("id3", 0), fail=[])), "no Fail_Account"),
    ("FI-FAIL-ACCOUNT-CONTENT", reply(ok(("id1", 0), ("id2", 30001), ("id3", 0), fail=["id2", "id2"])), "['id2']"),
    ("FI-PARTIAL-SUCCESS", reply({**SEED_OK, "ErrorCode": 30001}), "30001"),
    ("FI-CODE-KNOWN", reply(refusal(99999)), "99999"),
    ("FI-CODE-LEVEL", reply(refusal(30010)), "30010 at request level"),
]:
    case(rule_id, "answer", "fail", "broken-otherwise", says=says, reply=bad, request=SEED_REQUEST)
# A gateway refusal such as the real 70032 (ErrorInfo "") owes no ErrorInfo, and says nothing of the items.
case("FI-ERRORINFO-ON-FAIL", "answer", "skip", "real-70032-gateway-code", reply=reply(REAL_70032),
     request=SEED_REQUEST)
case("FI-RESULTITEM-PER-ACCOUNT", "answer", "skip", "real-70032-is-no-item-answer", reply=reply(REAL_70032),
     request=SEED_REQUEST)


# -- rules judged on a refusal: each one's own code at its own level, an acceptance, another code ------------

def _own_refusal(rule) -> tuple[dict[str, Any], int | None, str]:
    """An answer refusing with the rule's first code at its level, the item to read, and what it must show."""
    outcome = next((o for o in rule.outcomes if o.codes), None)
    code = outcome.codes[0] if outcome is not None else rule.codes[0]
    level = (outcome.level if outcome is not None else rule.level) or "request"
    expected = f"outcome:{outcome.id}" if outcome is not None else "pass"
    if level == "item":
        return ok(("bob", code)), 0, expected
    return refusal(code), None, expected


def _other_code(rule) -> int:
    listed = set(rule.codes) | {c for o in rule.outcomes for c in o.codes}
    return next(c for c in (60002, 30001, 70001, 60003) if c not in listed)


def _accepts(rule) -> str | None:
    return next((o.id for o in rule.outcomes if not o.codes and o.level is None), None)


REFUSAL_RULES = [r for r, c in CHECKS.items() if "refused" in c.judgements]
for rule_id in REFUSAL_RULES:
    rule = SPEC.rules[rule_id]
    operation = {"account_delete": "account_delete", "friend_delete": "friend_delete"}.get(rule.operation,
                                                                                            "friend_import")
    body, item, expected = _own_refusal(rule)
    case(rule_id, "refused", expected, "own-code", reply=reply(body, operation=operation), item=item)
    accepting = _accepts(rule)
    case(rule_id, "refused", f"outcome:{accepting}" if accepting else "fail", "acceptance",
         says="" if accepting else ("accepted (code 0)" if rule.outcomes else "Received an acceptance"),
         reply=reply(ok(("bob", 0)), operation=operation), item=0)
    other = _other_code(rule)
    any_refusal = next((o.id for o in rule.outcomes if not o.codes and o.level == "request"), None)
    case(rule_id, "refused", f"outcome:{any_refusal}" if any_refusal else "fail", "another-code",
         says="" if any_refusal else str(other), reply=reply(refusal(other), operation=operation))
    case(rule_id, "refused", "skip" if operation == "friend_import" else "fail", "http-502", says="HTTP 502",
         reply=reply(None, status=502, operation=operation))

# real-evidence.md: what the real gateway answered, each the outcome (or code) its rule lists.
case("FI-AUTH-SDKAPPID-UNKNOWN", "refused", "outcome:real-70032", "real-70032", reply=reply(REAL_70032))
case("FI-AUTH-USERSIG-MALFORMED", "refused", "outcome:sig-70003", "real-70003", reply=reply(REAL_70003))
case("FI-AUTH-USERSIG-WRONG-KEY", "refused", "outcome:sig-70009", "real-70009", reply=reply(REAL_70009))
case("FI-ACCOUNT-TYPE-60015", "refused", "pass", "real-60015", reply=reply(REAL_60015))
case("FI-METHOD-POST", "refused", "pass", "real-60002", reply=reply(REAL_60002))
case("OPEN-TIME-FIELD-RANGE", "refused", "outcome:per-item-30001", "per-item-by-account",
     reply=reply(ok(("carol", 0), ("bob", 30001))), account="bob")
# A rule about how a refusal looks is not reached when the refusal it builds on did not come.
case("OPEN-BATCH-OVERSIZE-CODE", "refused", "skip", "premise-accepted", says="FI-LIMIT-BATCH-1000 failed first",
     reply=reply(ok(("bob", 0))), premise="FI-LIMIT-BATCH-1000")
case("OPEN-BATCH-OVERSIZE-CODE", "refused", "outcome:request-70206", "premise-refused",
     reply=reply(refusal(70206)), premise="FI-LIMIT-BATCH-1000")


# -- the friend table, read back -------------------------------------------------------------------------------

def _kinds(kind: str) -> list[str]:
    return [r for r, c in CHECKS.items() if kind in c.judgements]


for rule_id in _kinds("not_kept"):
    case(rule_id, "not_kept", "pass", "empty-table", account="bob", owner="alice", friends=set())
    case(rule_id, "not_kept", "fail", "stored-anyway", says="alice -> ['bob']", account="bob", owner="alice",
         friends={"bob"})
for rule_id in _kinds("kept"):
    case(rule_id, "kept", "pass", "stored", accounts=["bob", "carol"], owner="alice", friends={"bob", "carol"})
    case(rule_id, "kept", "fail", "lost", says="['carol']", accounts=["bob", "carol"], owner="alice", friends={"bob"})
for rule_id in _kinds("any_kept"):
    case(rule_id, "any_kept", "pass", "one-of-two", accounts=["bob", "carol"], owner="alice", friends={"carol"})
    case(rule_id, "any_kept", "fail", "none", accounts=["bob", "carol"], owner="alice", friends=set())
for rule_id in _kinds("table"):
    case(rule_id, "table", "pass", "exact", owner="alice", friends={"bob"}, expected={"bob"})
    case(rule_id, "table", "fail", "one-too-many", says="unexpected ['carol']", owner="alice",
         friends={"bob", "carol"}, expected={"bob"})
for rule_id in _kinds("reads_back"):
    case(rule_id, "reads_back", "pass", "same", reply=reply({}, operation="friend_get_list"),
         sent={"Tag_SNS_IM_Remark": "好 é", "Tag_SNS_IM_Group": ["a", "b"]},
         read={"Tag_SNS_IM_Remark": "好 é", "Tag_SNS_IM_Group": ["b", "a"]})
    case(rule_id, "reads_back", "fail", "trimmed", says="'好 é '", reply=reply({}, operation="friend_get_list"),
         sent={"Tag_SNS_IM_Remark": "好 é "}, read={"Tag_SNS_IM_Remark": "好 é"})


# -- items within their limits: imported ---------------------------------------------------------------------

for rule_id in _kinds("imported"):
    case(rule_id, "imported", "pass", "code-0", reply=reply(ok(("carol", 30001), ("bob", 0))), account="bob")
    case(rule_id, "imported", "fail", "refused", says="30001 at item level", reply=reply(ok(("bob", 30001))),
         account="bob")
    case(rule_id, "imported", "skip", "no-result-for-it", says="FI-RESULTITEM-PER-ACCOUNT and FI-ENVELOPE-SHAPE",
         reply=reply(ok(("carol", 0))), account="bob")
for rule_id in _kinds("all_imported"):
    items = REQUEST["AddFriendItem"]
    case(rule_id, "all_imported", "pass", "each-0", reply=reply(ok(("carol", 0), ("bob", 0))), request=items)
    case(rule_id, "all_imported", "fail", "one-refused", says="[30001] for 1", request=items,
         reply=reply(ok(("bob", 0), ("carol", 30001))))
    case(rule_id, "all_imported", "fail", "whole-refused", says="ErrorCode 70206", request=items,
         reply=reply(refusal(70206)))
    case(rule_id, "all_imported", "skip", "http-502", request=items, reply=reply(None, status=502))
# ResultCode as a string (the resultcode-string mutant): the envelope's fault, not the items' count or the import's.
STRING_CODES = {**ok(("bob", 0), ("carol", 0)), "ResultItem": [{"To_Account": t, "ResultCode": "0", "ResultInfo": ""}
                                                               for t in ("bob", "carol")]}
case("FI-VALID-ITEM-IMPORTED", "all_imported", "skip", "string-result-codes", says="FI-ENVELOPE-SHAPE",
     reply=reply(STRING_CODES), request=REQUEST["AddFriendItem"])
case("FI-RESULTITEM-PER-ACCOUNT", "answer", "pass", "string-result-codes", reply=reply(STRING_CODES), request=REQUEST)
case("FI-ENVELOPE-SHAPE", "answer", "fail", "string-result-codes", says="ResultCode", reply=reply(STRING_CODES),
     request=REQUEST)
for rule_id in _kinds("accepted_call"):
    case(rule_id, "accepted_call", "pass", "ok", reply=reply(ok(("bob", 0))), note="a valid request")
    case(rule_id, "accepted_call", "fail", "real-70003", says="ErrorCode 70003", reply=reply(REAL_70003),
         note="a valid request")
for rule_id in _kinds("refused_call"):
    case(rule_id, "refused_call", "pass", "refused", reply=reply(refusal(70402), operation="account_import"),
         note="account_import of a 33-byte UserID")
    case(rule_id, "refused_call", "fail", "created", reply=reply(refusal(0) | {"ActionStatus": "OK"},
                                                                  operation="account_import"), note="x")
case("FI-LIMIT-CUSTOM-TAG-FORM", "tag_dropped", "pass", "dropped", tag="Tag_SNS_Custom_", read={"Tag_SNS_IM_AddSource": "x"},
     note="CustomItem Tag 'Tag_SNS_Custom_'")
case("FI-LIMIT-CUSTOM-TAG-FORM", "tag_dropped", "fail", "stored", says="'v'", tag="Tag_SNS_Custom_",
     read={"Tag_SNS_Custom_": "v"}, note="CustomItem Tag 'Tag_SNS_Custom_'")


# -- the companion operations -----------------------------------------------------------------------------------

ACCOUNT_OK = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
case("SUPPORT-ACCOUNT-ENVELOPE", "envelope", "pass", "three-fields", reply=reply(ACCOUNT_OK, operation="account_import"))
case("SUPPORT-ACCOUNT-ENVELOPE", "envelope", "fail", "no-errorinfo", says="account_import",
     reply=reply({"ActionStatus": "OK", "ErrorCode": 0}, operation="account_import"))
case("SUPPORT-ACCOUNT-ENVELOPE", "envelope", "fail", "ok-with-a-code", reply=reply(
    {"ActionStatus": "OK", "ErrorCode": 70107, "ErrorInfo": ""}, operation="account_delete"))
for rule_id in _kinds("succeeded"):
    case(rule_id, "succeeded", "pass", "ok", reply=reply(ACCOUNT_OK, operation="account_import"), note="x")
    case(rule_id, "succeeded", "fail", "refused", says="70402", reply=reply(refusal(70402), operation="account_import"),
         note="account_import of a fresh UserID")
for rule_id in _kinds("status"):
    case(rule_id, "status", "pass", "as-wanted", statuses={"a": "Imported", "b": "NotImported"},
         want={"a": "Imported", "b": "NotImported"})
    case(rule_id, "status", "fail", "not-imported", says="'a': 'NotImported'", statuses={"a": "NotImported"},
         want={"a": "Imported"})
CHECKED = {**ACCOUNT_OK, "ResultItem": [{"UserID": "a", "AccountStatus": "Imported", "ResultCode": 0},
                                        {"UserID": "b", "AccountStatus": "NotImported", "ResultCode": 0}]}
case("SUPPORT-ACCOUNT-CHECK-STATUS", "listed", "pass", "one-each", reply=reply(CHECKED, operation="account_check"),
     asked=["a", "b"])
case("SUPPORT-ACCOUNT-CHECK-STATUS", "listed", "fail", "one-missing", says="one ResultItem per UserID",
     reply=reply(CHECKED, operation="account_check"), asked=["a", "b", "c"])
case("SUPPORT-ACCOUNT-CHECK-STATUS", "listed", "fail", "odd-status", asked=["a"], reply=reply(
    {**ACCOUNT_OK, "ResultItem": [{"UserID": "a", "AccountStatus": "Deleted"}]}, operation="account_check"))
case("SUPPORT-ACCOUNT-CHECK-STATUS", "has_result_items", "pass", "array", asked=["a"],
     reply=reply(CHECKED, operation="account_check"))
case("SUPPORT-ACCOUNT-CHECK-STATUS", "has_result_items", "fail", "none", asked=["a"],
     reply=reply(ACCOUNT_OK, operation="account_check"))
DELETED = {**ACCOUNT_OK, "ResultItem": [{"UserID": "a", "ResultCode": 0, "ResultInfo": ""}]}
case("SUPPORT-ACCOUNT-DELETE-FREE-TRIAL", "delete_answer", "pass", "deleted", reply=reply(DELETED, operation="account_delete"),
     item=0)
case("SUPPORT-ACCOUNT-DELETE-FREE-TRIAL", "delete_answer", "pass", "paid-app-71000", item=0, reply=reply(
    {**ACCOUNT_OK, "ResultItem": [{"UserID": "a", "ResultCode": 71000, "ResultInfo": "x"}]}, operation="account_delete"))
case("SUPPORT-ACCOUNT-DELETE-FREE-TRIAL", "delete_answer", "fail", "other-code", says="70107", item=0, reply=reply(
    {**ACCOUNT_OK, "ResultItem": [{"UserID": "a", "ResultCode": 70107, "ResultInfo": "x"}]}, operation="account_delete"))
case("SUPPORT-ACCOUNT-DELETE-CASCADE", "cascaded", "pass", "no-relation", account="b", owner="a", relation=NO_RELATION)
case("SUPPORT-ACCOUNT-DELETE-CASCADE", "cascaded", "fail", "kept-friend", says=A_WITH_B, account="b", owner="a",
     relation=A_WITH_B)
case("SUPPORT-ACCOUNT-DELETE-CASCADE", "cascaded", "skip", "paid-app", says="only a Free Trial app",
     unreached="account_delete was refused (71000 at item level): only a Free Trial app deletes accounts",
     account="b", owner="a", relation=A_WITH_B)
for rule_id in _kinds("multiaccount"):
    case(rule_id, "multiaccount", "pass", "none-failed", chunk=["a", "b"],
         reply=reply({**ACCOUNT_OK, "FailAccounts": []}, operation="multiaccount_import"))
    case(rule_id, "multiaccount", "fail", "one-failed", says="FailAccounts ['b']", chunk=["a", "b"],
         reply=reply({**ACCOUNT_OK, "FailAccounts": ["b"]}, operation="multiaccount_import"))
RELATIONS = {**ACCOUNT_OK, "InfoItem": [{"To_Account": "b", "Relation": A_WITH_B, "ResultCode": 0},
                                        {"To_Account": "c", "Relation": NO_RELATION, "ResultCode": 0}]}
case("SUPPORT-FRIEND-CHECK-RELATION", "relations", "pass", "each", owner="a", asked=["b", "c"],
     reply=reply(RELATIONS, operation="friend_check"))
case("SUPPORT-FRIEND-CHECK-RELATION", "relations", "fail", "one-left-out", says="no Relation for ['d']", owner="a",
     asked=["b", "c", "d"], reply=reply(RELATIONS, operation="friend_check"))
case("SUPPORT-FRIEND-CHECK-RELATION", "expected_relations", "pass", "as-expected", note="Both",
     expected={"b": A_WITH_B, "c": NO_RELATION}, reply=reply(RELATIONS, operation="friend_check"))
case("SUPPORT-FRIEND-CHECK-RELATION", "expected_relations", "fail", "swapped", note="Both", says="'b'",
     expected={"b": BOTH_WAY, "c": NO_RELATION}, reply=reply(RELATIONS, operation="friend_check"))
case("SUPPORT-FRIEND-CHECK-RELATION", "relations_are", "pass", "as-expected", note="x",
     got={"b": A_WITH_B}, expected={"b": A_WITH_B})
case("SUPPORT-FRIEND-CHECK-RELATION", "relations_are", "fail", "another's", note="x", says="1 of them",
     got={"b": NO_RELATION, "c": A_WITH_B}, expected={"b": A_WITH_B, "c": A_WITH_B})
LISTED = {**ACCOUNT_OK, "InfoItem": [
    {"To_Account": "stranger", "ResultCode": 30001, "ResultInfo": SPEC.code(30001).info("friend_get_list")},
    {"To_Account": "friend", "ResultCode": 0, "ResultInfo": "",
     "SnsProfileItem": [{"Tag": "Tag_SNS_IM_AddSource", "Value": "AddSource_Type_Web"}]}]}
case("SUPPORT-FRIEND-GET-LIST-INFOITEM", "info_items", "pass", "one-each", owner="a", asked=["stranger", "friend"],
     reply=reply(LISTED, operation="friend_get_list"))
case("SUPPORT-FRIEND-GET-LIST-INFOITEM", "info_items", "fail", "one-left-out", says="['nobody']", owner="a",
     asked=["friend", "nobody"], reply=reply(LISTED, operation="friend_get_list"))
case("SUPPORT-FRIEND-GET-LIST-NOT-FRIEND", "not_friend_listed", "pass", "documented", stranger="stranger",
     friend="friend", reply=reply(LISTED, operation="friend_get_list"))
case("SUPPORT-FRIEND-GET-LIST-NOT-FRIEND", "not_friend_listed", "fail", "stranger-as-friend", stranger="friend",
     friend="stranger", says="non-friend friend", reply=reply(LISTED, operation="friend_get_list"))
DELETE = {**ACCOUNT_OK, "ResultItem": [{"To_Account": "none", "ResultCode": 31704, "ResultInfo": "x"},
                                       {"To_Account": "only_a", "ResultCode": 0, "ResultInfo": "OK"}]}
case("SUPPORT-FRIEND-DELETE-NOT-FRIEND", "deleted", "pass", "gone", account="only_a", relation=NO_RELATION,
     reply=reply(DELETE, operation="friend_delete"))
case("SUPPORT-FRIEND-DELETE-NOT-FRIEND", "deleted", "fail", "still-there", account="only_a", relation=A_WITH_B,
     says=A_WITH_B, reply=reply(DELETE, operation="friend_delete"))


# -- direction, round trip, concurrency -------------------------------------------------------------------------

case("FI-ONE-WAY", "forward", "pass", "a-with-b", account="b", owner="a", relation=A_WITH_B)
case("FI-ONE-WAY", "forward", "fail", "both-way", says=BOTH_WAY, account="b", owner="a", relation=BOTH_WAY)
case("FI-ONE-WAY", "backward", "pass", "b-with-a", account="a", owner="b", relation=B_WITH_A)
case("FI-ONE-WAY", "backward", "fail", "both-way", account="a", owner="b", relation=BOTH_WAY)
case("FI-ONE-WAY", "not_listed", "pass", "30001", account="a", owner="b", reply=reply(
    {**ACCOUNT_OK, "InfoItem": [{"To_Account": "a", "ResultCode": 30001, "ResultInfo": "x"}]}, operation="friend_get_list"))
case("FI-ONE-WAY", "not_listed", "fail", "listed", says="Received 0", account="a", owner="b", reply=reply(
    {**ACCOUNT_OK, "InfoItem": [{"To_Account": "a", "ResultCode": 0, "ResultInfo": ""}]}, operation="friend_get_list"))
SENT = {"To_Account": "bob", "AddSource": "AddSource_Type_Web", "Remark": "同事", "GroupName": ["朋友", "Work"],
        "CustomItem": [{"Tag": "Tag_SNS_Custom_XXXX", "Value": "v"}, {"Tag": "Tag_SNS_Custom_YYYY", "Value": 7}]}
READ = {"Tag_SNS_IM_AddSource": "AddSource_Type_Web", "Tag_SNS_IM_Remark": "同事", "Tag_SNS_IM_Group": ["Work", "朋友"],
        "Tag_SNS_Custom_XXXX": "v", "Tag_SNS_Custom_YYYY": "7"}
case("FI-ROUND-TRIP", "round_trip", "pass", "every-field", sent=SENT, read=READ)
case("FI-ROUND-TRIP", "round_trip", "fail", "group-lost", says="Tag_SNS_IM_Group", sent=SENT,
     read={**READ, "Tag_SNS_IM_Group": ["Work"]})
case("FI-ROUND-TRIP", "round_trip", "fail", "no-friend", says="read back as a friend", sent=SENT, read=None)
CONFLICT = ok(("w1", 30008))
WRITES = {"accounts": ["w1", "w2"], "replies": [reply(refusal(30008)), reply(ok(("w2", 0)))]}
case("FI-WRITE-CONFLICT", "writes", "outcome:conflict-30008", "one-conflicted", friends={"w2"}, **WRITES)
case("FI-WRITE-CONFLICT", "writes", "outcome:serialised", "both-applied", friends={"w1", "w2"},
     accounts=["w1", "w2"], replies=[reply(ok(("w1", 0))), reply(ok(("w2", 0)))])
case("FI-WRITE-CONFLICT", "writes", "fail", "conflict-applied-anyway", says="not applied", friends={"w1", "w2"},
     **WRITES)
case("FI-WRITE-CONFLICT", "writes", "fail", "lost-update", says="stored", friends={"w1"},
     accounts=["w1", "w2"], replies=[reply(ok(("w1", 0))), reply(ok(("w2", 0)))])
case("FI-WRITE-CONFLICT", "writes", "fail", "other-code", says="30001", friends=set(), accounts=["w1"],
     replies=[reply(ok(("w1", 30001)))])
case("FI-WRITE-CONFLICT", "writes", "skip", "nothing-stored", says="FI-VALID-ITEM-IMPORTED failed first",
     unreached=failed_first("FI-VALID-ITEM-IMPORTED", "no acknowledged concurrent import was stored"),
     friends=set(), accounts=["w1"], replies=[reply(ok(("w1", 0)))])


# -- the transport and the rate limits ---------------------------------------------------------------------------

case("FI-HTTPS-ONLY", "plain_http", "pass", "redirect", url="http://console.tim.qq.com/v4/sns/friend_import",
     reply=reply(None, status=301))
case("FI-HTTPS-ONLY", "plain_http", "fail", "served-in-clear", says="envelope", url="http://x/v4/sns/friend_import",
     reply=reply(REAL_70032))


def _burst(count: int, refused: int, *, code: int = 60007, status: int = 200, spread: float = 0.5) -> list[Shot]:
    shots = []
    for n in range(count):
        body = refusal(code) if n >= count - refused else ok(("to", 0))
        at = spread * n / count
        shots.append(Shot(at, at + 0.01, reply(body, status=status), {"From_Account": f"s{n}", "AddFriendItem": []}))
    return shots


for rule_id, limit, operation in (("FI-RATE-LIMIT-200", 200, "friend_import"),
                                  ("SUPPORT-RATE-LIMIT-100", 100, "account_check")):
    over = int(limit * 1.3)
    case(rule_id, "burst", "pass", "limited-past-the-limit", shots=_burst(over, over - limit), operation=operation)
    case(rule_id, "burst", "fail", "never-limited", says="refused with", shots=_burst(over, 0), operation=operation)
    case(rule_id, "burst", "fail", "http-429", says="429", shots=_burst(over, over - limit, status=429),
         operation=operation)
    case(rule_id, "burst", "fail", "limited-too-early", says="at least", shots=_burst(over, over - limit + 20),
         operation=operation)
    case(rule_id, "burst", "error", "client-too-slow", says="too slow", shots=_burst(over, 0, spread=3.0),
         operation=operation)
    case(rule_id, "burst", "pass", "held-clock", shots=_burst(over, over - limit, spread=3.0), operation=operation,
         one_window=True)
LIMITED = _burst(260, 60)
case("FI-RATE-LIMIT-200", "refused_not_kept", "pass", "nothing-stored", account="to", shots=LIMITED,
     relations={s.body["From_Account"]: NO_RELATION for s in LIMITED})
case("FI-RATE-LIMIT-200", "refused_not_kept", "fail", "stored-anyway", says="1 stored", account="to", shots=LIMITED,
     relations={"s259": B_WITH_A})
case("OPEN-RATE-LIMIT-CODE", "burst", "outcome:common-60007", "60007", shots=LIMITED)
case("OPEN-RATE-LIMIT-CODE", "burst", "outcome:common-60018", "60018", shots=_burst(260, 60, code=60018))
case("OPEN-RATE-LIMIT-CODE", "burst", "skip", "never-limited", shots=_burst(260, 0))



# -- open questions: the outcome each answer and read-back shows ---------------------------------------------

LIST_REPLY = reply({}, operation="friend_get_list")
case("FI-LIMIT-CUSTOM-TAG-CONFIGURED", "ignored", "outcome:ignored", "friend-without-it", reply=LIST_REPLY,
     tag="Tag_SNS_Custom_Zq", read={"Tag_SNS_IM_AddSource": "x"})
case("FI-LIMIT-CUSTOM-TAG-CONFIGURED", "ignored", "fail", "stored", says="Tag_SNS_Custom_Zq='v'", reply=LIST_REPLY,
     tag="Tag_SNS_Custom_Zq", read={"Tag_SNS_Custom_Zq": "v"})
for label, copies, expected in [
    ("last-wins", [(True, reply(REAL_70003)), (False, reply(ok(("b", 0))))], "outcome:last-wins"),
    ("reject", [(True, reply(refusal(60002))), (False, reply(refusal(60002)))], "outcome:reject-60002"),
    ("inconsistent", [(True, reply(ok(("b", 0)))), (False, reply(refusal(60002)))], "fail"),
    ("unknown-code", [(True, reply(refusal(60007))), (False, reply(refusal(60007)))], "fail"),
    ("accepts-any-usersig", [(True, reply(ok(("b", 0)))), (False, reply(ok(("b", 0))))], "skip"),
]:
    case("FI-QUERY-REPEATED", "copies", expected, label, copies=copies)
for label, refused, read, expected in [("refused-kept-first", True, "one", "pass"),
                                       ("refused-but-overwritten", True, "two", "fail"),
                                       ("overwrite", False, "two", "outcome:overwrite"),
                                       ("keep", False, "one", "outcome:keep"), ("lost", False, None, "fail")]:
    case("OPEN-EXISTING-FRIEND", "read", expected, label, reply=LIST_REPLY, first="one", second="two", read=read,
         refused=refused)
DUPLICATES = [{"To_Account": "b", "AddSource": "AddSource_Type_Web", "Remark": r} for r in ("first", "second")]
for label, body, expected in [("both-imported", ok(("b", 0), ("b", 0)), "pass"),
                              ("later-refused", ok(("b", 0), ("b", 30001)), "outcome:later-duplicate-30001"),
                              ("whole-refused", refusal(30001), "outcome:request-30001"),
                              ("first-refused", ok(("b", 30001), ("b", 0)), "fail"),
                              ("one-result", ok(("b", 0)), "skip")]:
    case("OPEN-DUPLICATE-TO-ACCOUNT", "duplicates", expected, label, reply=reply(body), request=DUPLICATES)
for label, later_refused, read, expected in [("last-wins", False, "second", "outcome:last-wins"),
                                             ("first-wins", False, "first", "outcome:first-wins"),
                                             ("refused-kept-first", True, "first", "pass"),
                                             ("refused-but-stored", True, "second", "fail"),
                                             ("neither", False, "third", "fail")]:
    case("OPEN-DUPLICATE-TO-ACCOUNT", "read", expected, label, reply=LIST_REPLY, first="first", second="second",
         read=read, later_refused=later_refused)
case("OPEN-EMPTY-ADDFRIENDITEM", "empty", "outcome:ok-empty", "ok-empty", reply=reply(ok()))
case("OPEN-EMPTY-ADDFRIENDITEM", "empty", "outcome:request-30001", "refused", reply=reply(refusal(30001)))
case("OPEN-EMPTY-ADDFRIENDITEM", "empty", "fail", "other-code", reply=reply(refusal(60003)))
case("OPEN-EMPTY-ADDFRIENDITEM", "empty", "skip", "items-for-nothing", reply=reply(ok(("x", 0))))
case("OPEN-RANDOM-REUSE", "repeat", "outcome:rejected", "refused", reply=reply(refusal(60002)), stored=False)
case("OPEN-RANDOM-REUSE", "repeat", "outcome:accepted", "stored", reply=reply(ok(("b", 0))), stored=True)
case("OPEN-RANDOM-REUSE", "repeat", "outcome:deduplicated", "replayed", reply=reply(ok(("b", 0))), stored=False)
case("OPEN-REMARKTIME-READBACK", "read", "outcome:not-exposed", "nothing-more", reply=LIST_REPLY, exposed={},
     tag="Tag_SNS_IM_RemarkTime", sent=1563867420)
case("OPEN-REMARKTIME-READBACK", "read", "outcome:not-exposed", "tag-refused", reply=LIST_REPLY, exposed=None,
     tag="Tag_SNS_IM_RemarkTime", sent=1563867420)
case("OPEN-REMARKTIME-READBACK", "read", "outcome:exposed-verbatim", "verbatim", reply=LIST_REPLY,
     exposed={"Tag_SNS_IM_RemarkTime": 1563867420}, tag="Tag_SNS_IM_RemarkTime", sent=1563867420)
case("OPEN-REMARKTIME-READBACK", "read", "fail", "another-value", says="1563867421", reply=LIST_REPLY,
     exposed={"Tag_SNS_IM_RemarkTime": 1563867421}, tag="Tag_SNS_IM_RemarkTime", sent=1563867420)
for label, read, expected in [("verbatim", 1563867480, "outcome:verbatim"),
                              ("server-time", 1700000100, "outcome:server-time"),
                              ("a-year-off", 1700000100 + 365 * 86400, "fail"), ("text", "1563867480", "fail")]:
    case("OPEN-ADDTIME-READBACK", "read", expected, label, reply=LIST_REPLY, sent=1563867480, read=read,
         started=1700000000, now=1700000200)
case("OPEN-ADDTIME-READBACK", "read", "skip", "round-trip-failed", says="FI-ROUND-TRIP failed first",
     unreached=failed_first("FI-ROUND-TRIP", "x"), sent=1, read=2, started=0, now=0)
for label, sent, read, expected in [("integer", 2**31, 2**31, "outcome:accepted"),
                                    ("text", 2**63, str(2**63), "outcome:stringified"),
                                    ("float", 7, 7.0, "fail"), ("dropped", 7, None, "fail")]:
    case("OPEN-CUSTOM-VALUE-INTEGER", "read", expected, label, reply=LIST_REPLY, account="b", sent=sent, read=read)
case("OPEN-REQUEST-SIZE-LIMIT", "oversize", "outcome:http-413", "front-end-413", reply=reply(None, status=413))
case("OPEN-REQUEST-SIZE-LIMIT", "oversize", "outcome:processed", "processed", reply=reply(ok(("b", 0))))
case("OPEN-REQUEST-SIZE-LIMIT", "oversize", "outcome:request-fail", "real-60008", reply=reply(
    refusal(60008, "service timeout or request format error,please check and try again")))
case("OPEN-REQUEST-SIZE-LIMIT", "oversize", "fail", "other-code", reply=reply(refusal(30001)))
for label, outcome, stored, expected in [("distinct-not-stored", "distinct", False, "pass"),
                                         ("same-and-stored", "same-account", True, "pass"),
                                         ("distinct-but-stored", "distinct", True, "fail"),
                                         ("same-but-not-stored", "same-account", False, "fail")]:
    case("OPEN-USERID-CASE", "agrees", expected, label, reply=reply(ok(("B", 0))), account="b", owner="a",
         outcome=outcome, stored=stored)
for rule_id, shown, expected in (("OPEN-TEXT-CONTROL-CHARS", "a\u0000b", "outcome:stored-verbatim"),
                                 ("OPEN-TEXT-LONE-SURROGATE", "a\ufffdb", "outcome:stored-replaced")):
    case(rule_id, "read", expected, "as-the-outcome-shows", reply=LIST_REPLY, account="b", tag="Tag_SNS_IM_Remark",
         sent="a\u0000b" if "CONTROL" in rule_id else "a\ud800b", read=shown)
    case(rule_id, "read", "fail", "mangled", says="'ab'", reply=LIST_REPLY, account="b", tag="Tag_SNS_IM_Remark",
         sent="a\u0000b" if "CONTROL" in rule_id else "a\ud800b", read="ab")
case("OPEN-TEXT-CONTROL-CHARS", "read", "outcome:stored-verbatim", "group-name-list", reply=LIST_REPLY, account="b",
     tag="Tag_SNS_IM_Group", sent=["tab\tx"], read=["tab\tx"])
case("OPEN-RESULTINFO-TEXT", "text", "outcome:identifier", "real-style", text="Err_SNS_FriendDelete_Not_Friend")
case("OPEN-RESULTINFO-TEXT", "text", "outcome:free-text", "real-70003", text=REAL_70003["ErrorInfo"])
case("OPEN-SELF-IMPORT", "refused", "outcome:accepted", "self-accepted", reply=reply(ok(("a", 0), ("b", 0))),
     account="a")


# -- the tests --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_the_check_finds_what_the_evidence_shows(c: Case):
    found = evaluate(SPEC, c.rule, c.observation)
    shown = f"outcome:{found.outcome}" if found.status == "outcome" else found.status
    assert shown == c.expect, found.message
    if c.says:
        assert c.says in found.message, found.message


def test_every_target_check_has_a_case_it_passes_and_a_case_it_fails():
    """So that a new rule, or a check disabled by mistake, cannot go unnoticed: see scripts/disable_checks.py."""
    target = [r for r in CHECKS if not r.startswith("CL-")]
    passing = {c.rule for c in CASES if c.expect == "pass" or c.expect.startswith("outcome:")}
    failing = {c.rule for c in CASES if c.expect == "fail"}
    assert [r for r in target if r not in passing] == []
    assert [r for r in target if r not in failing and not SPEC.rules[r].outcomes] == []
    # An open rule whose outcomes cover every answer is still told apart from a check that passes everything.
    assert [r for r in target if not {c.expect for c in CASES if c.rule == r} - {"pass"}] == []


def test_every_kind_of_evidence_a_check_takes_is_exercised():
    exercised = {(c.rule, c.observation.kind) for c in CASES}
    missing = [(r, k) for r, found in CHECKS.items() if not r.startswith("CL-") for k in found.judgements
               if (r, k) not in exercised and k != "schemathesis"]
    assert missing == []


def test_schemathesis_conformance_judges_the_answer_schemathesis_validates():
    import schemathesis

    operation = schemathesis.openapi.from_path(str(SPEC.openapi_path))["/v4/sns/friend_import"]["POST"]
    good = operation.Case(body=SEED_REQUEST)

    def answered(body: Any) -> httpx.Response:
        response = httpx.Response(200, json=body, request=httpx.Request("POST", "https://console.tim.qq.com/x"))
        response.elapsed = timedelta(milliseconds=40)  # as a transport would have timed it
        return response

    fine, broken = answered(SEED_OK), answered({"ActionStatus": "OK", "ErrorCode": "0"})
    passed = evaluate(SPEC, "FI-ENVELOPE-SHAPE", Observation("schemathesis", reply=reply(SEED_OK, raw=fine),
                                                             facts={"case": good}))
    failed = evaluate(SPEC, "FI-ENVELOPE-SHAPE", Observation("schemathesis", reply=reply({}, raw=broken),
                                                             facts={"case": good}))
    assert passed.status == "pass", passed.message
    assert failed.status == "fail" and "response_schema_conformance" in failed.message


def test_an_observation_whose_premise_failed_is_not_judged():
    found = evaluate(SPEC, "FI-LIMIT-REMARK-BYTES", Observation("not_kept", account="b", facts={
        "owner": "a", "friends": {"b"}}, unreached=failed_first("FI-VALID-ITEM-IMPORTED", "nothing stored")))
    assert found.status == "skip" and found.message.startswith("not reached: FI-VALID-ITEM-IMPORTED failed first")


def test_evidence_a_check_does_not_take_is_a_harness_error():
    with pytest.raises(UnknownEvidence, match="FI-HTTP-200"):
        evaluate(SPEC, "FI-HTTP-200", Observation("kept", facts={"friends": set()}))


def test_a_rule_has_one_check_only():
    with pytest.raises(ValueError, match="already has a check"):
        check("FI-HTTP-200", answer=lambda spec, rule, observation: None)
    assert isinstance(CHECKS["FI-HTTP-200"], Check)


def test_a_check_returns_outcomes_only_the_rule_lists():
    """An outcome id a check reports is one of its rule's, so the behaviour profile names real outcomes."""
    for c in CASES:
        if c.expect.startswith("outcome:"):
            assert c.expect.split(":", 1)[1] in {o.id for o in SPEC.rules[c.rule].outcomes}, c.id
    assert Outcome("x").id == "x"
