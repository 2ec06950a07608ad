"""The rules every friend_import answer must keep, whatever was asked: one check each, on the evidence "answer".

Each judgement takes the request body that was sent (``observation.request``) and the reply, asserts one
property, and raises the rule's failure with an Expected/Received message; it returns ``NOT_APPLICABLE``
when the property says nothing about this reply (a guard, not a pass).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

try:
    BaseExceptionGroup  # novermin: guarded below
except NameError:  # Python 3.10: Hypothesis depends on the backport there
    from exceptiongroup import BaseExceptionGroup

from timconform.oracle.recorder import Recorder
from timconform.oracle.answers import imported
from timconform.oracle.registry import CHECKS, NOT_APPLICABLE, Observation, check, failure, judge
from timconform.oracle.tables import reads_back
from timconform.report.model import Verdict
from timconform.spec import Rule, Spec


def _fail(rule: Rule, observation: Observation, expected: str, received: Any, **kw: Any):
    return failure(rule, observation, f"Expected {expected}. Received {received!r}.", **kw)


def _body(reply) -> dict | None:
    """The JSON object answered inside HTTP 200; any other status is FI-HTTP-200's alone to judge."""
    return reply.body if reply.status == 200 and isinstance(reply.body, dict) else None


def _requested(request: Any) -> list[str] | None:
    items = request.get("AddFriendItem") if isinstance(request, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("To_Account"), str) for i in items):
        return None
    return [i["To_Account"] for i in items]


def _result_items(body: dict) -> list[dict] | None:
    items = body.get("ResultItem")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return None
    return items


def http_200(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    if reply.status != 200:
        raise _fail(rule, observation, "HTTP status 200", reply.status)


def envelope_shape(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    if reply.status != 200:
        return NOT_APPLICABLE
    if _body(reply) is None:
        raise _fail(rule, observation, "a JSON object body", reply.exchange.response_body[:200])
    error = next(iter(spec.validator("friend_import.response.json").iter_errors(reply.body)), None)
    if error is not None:
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        raise _fail(rule, observation, f"a body matching friend_import.response.json (at {where}: {error.message})",
                    error.instance)


def envelope_consistent(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    body = _body(reply)
    if body is None or "ActionStatus" not in body or "ErrorCode" not in body:
        return NOT_APPLICABLE
    if (body["ActionStatus"] == "OK") != (body["ErrorCode"] == 0):
        raise _fail(rule, observation, "ActionStatus OK exactly when ErrorCode is 0",
                    {"ActionStatus": body["ActionStatus"], "ErrorCode": body["ErrorCode"]})


def errorinfo_on_fail(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    body = _body(reply)
    if body is None or body.get("ActionStatus") != "FAIL" or not _own_code(spec, body.get("ErrorCode")):
        return NOT_APPLICABLE  # the gateway's own refusals may carry an empty ErrorInfo (a real 70032 did)
    if not isinstance(body.get("ErrorInfo"), str) or not body["ErrorInfo"]:
        raise _fail(rule, observation, "a non-empty ErrorInfo on a FAIL answer", body.get("ErrorInfo"))


def _own_code(spec: Spec, code: Any) -> bool:
    """One of the service's own codes (listed for named operations), not a gateway code (listed for "*")."""
    entry = spec.codes.get(code) if type(code) is int else None
    return entry is not None and "*" not in entry.operations


def fail_no_result_item(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    body = _body(reply)
    if body is None or body.get("ActionStatus") != "FAIL":
        return NOT_APPLICABLE
    present = [k for k in ("ResultItem", "Fail_Account") if k in body]  # even empty: "no ResultItem"
    if present:
        raise _fail(rule, observation, "no ResultItem or Fail_Account on a FAIL answer", present)


def result_item_per_account(spec: Spec, rule: Rule, observation: Observation) -> Any:
    request, reply = observation.request, observation.reply
    body, requested = _body(reply), _requested(request)
    if body is None or body.get("ActionStatus") != "OK" or requested is None:
        return NOT_APPLICABLE
    items = _result_items(body)
    answered = [i.get("To_Account") for i in items] if items is not None else None
    if answered is None or Counter(answered) != Counter(requested):
        raise _fail(rule, observation, f"one ResultItem for each of {len(requested)} requested To_Account",
                    answered)


def result_item_order(spec: Spec, rule: Rule, observation: Observation) -> Any:
    request, reply = observation.request, observation.reply
    body, requested = _body(reply), _requested(request)
    items = _result_items(body) if body is not None and body.get("ActionStatus") == "OK" else None
    if items is None or requested is None or Counter(i.get("To_Account") for i in items) != Counter(requested):
        return NOT_APPLICABLE
    answered = [i.get("To_Account") for i in items]
    if answered != requested:
        raise _fail(rule, observation, f"ResultItem in request order {requested[:10]}", answered[:10])


def result_info_empty_on_success(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    items = _result_items(_body(reply) or {})
    if not items:
        return NOT_APPLICABLE
    bad = [i for i in items if i.get("ResultCode") == 0 and i.get("ResultInfo") != ""]
    if bad:
        raise _fail(rule, observation, "ResultInfo \"\" for every item with ResultCode 0", bad[0])


def result_info_set_on_failure(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    items = [i for i in _result_items(_body(reply) or {}) or () if i.get("ResultCode") not in (0, None)]
    if not items:
        return NOT_APPLICABLE
    bad = [i for i in items if not isinstance(i.get("ResultInfo"), str) or not i["ResultInfo"]]
    if bad:
        raise _fail(rule, observation, "a non-empty ResultInfo for every failed item", bad[0])


def _failed_accounts(items: list[dict]) -> list[Any]:
    return [i.get("To_Account") for i in items if i.get("ResultCode") != 0]


def fail_account_presence(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    body = _body(reply)
    items = _result_items(body) if body is not None and body.get("ActionStatus") == "OK" else None
    if items is None:
        return NOT_APPLICABLE
    failed = _failed_accounts(items)
    if failed and "Fail_Account" not in body:
        raise _fail(rule, observation, f"Fail_Account present ({len(failed)} item(s) failed)", "absent")
    if not failed and "Fail_Account" in body:
        raise _fail(rule, observation, "no Fail_Account when every item succeeded", body["Fail_Account"])


def fail_account_content(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    body = _body(reply)
    items = _result_items(body) if body is not None else None
    if items is None or not isinstance(body.get("Fail_Account"), list) or not body["Fail_Account"]:
        return NOT_APPLICABLE
    failed = _failed_accounts(items)
    if Counter(body["Fail_Account"]) != Counter(failed):
        raise _fail(rule, observation, f"Fail_Account equal to the failed To_Accounts {failed[:10]}",
                    body["Fail_Account"][:10])


def partial_success(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    body = _body(reply)
    items = _result_items(body) if body is not None else None
    if not items or not any(i.get("ResultCode") != 0 for i in items):
        return NOT_APPLICABLE
    if body.get("ActionStatus") != "OK" or body.get("ErrorCode") != 0:
        raise _fail(rule, observation, "ActionStatus OK and ErrorCode 0 beside per-item failures",
                    {"ActionStatus": body.get("ActionStatus"), "ErrorCode": body.get("ErrorCode")})


def _codes(body: dict) -> list[tuple[str, Any]]:
    codes = []
    if body.get("ErrorCode") not in (0, None):
        codes.append(("request", body["ErrorCode"]))
    for item in _result_items(body) or ():
        if item.get("ResultCode") not in (0, None):
            codes.append(("item", item["ResultCode"]))
    return codes


def code_known(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    body = _body(reply)
    codes = _codes(body) if body is not None else []
    if not codes:
        return NOT_APPLICABLE
    unknown = [code for _, code in codes if code not in spec.codes]
    if unknown:
        # an unknown code is a finding for the catalogue, reported as Warn (issue #4)
        raise _fail(rule, observation, "codes listed in schemas/error-codes.json", unknown, severity=Verdict.WARN)


def code_level(spec: Spec, rule: Rule, observation: Observation) -> Any:
    reply = observation.reply
    body = _body(reply)
    codes = [(level, code) for level, code in (_codes(body) if body is not None else []) if code in spec.codes]
    if not codes:
        return NOT_APPLICABLE
    wrong = [(level, code) for level, code in codes if spec.codes[code].level not in (level, "both")]
    if wrong:
        level, code = wrong[0]
        raise _fail(rule, observation, f"{code} at its catalogue level ({spec.codes[code].level})", f"{code} at {level} level")


def schemathesis_conformance(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Schemathesis's own response_schema_conformance on the answer to the case it generated (``facts["case"]``)."""
    from schemathesis.specs.openapi.checks import response_schema_conformance  # schemathesis loads slowly

    reply, case = observation.reply, observation["case"]
    if reply.raw is None:
        return NOT_APPLICABLE
    try:
        case.validate_response(reply.raw, checks=[response_schema_conformance])
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis raises a FailureGroup
        raise failure(rule, observation, "schemathesis response_schema_conformance: "
                                         f"{str(exc).strip().splitlines()[0][:300]}") from None
    return None


check("FI-HTTP-200", answer=http_200)
check("FI-ENVELOPE-SHAPE", answer=envelope_shape, schemathesis=schemathesis_conformance)
check("FI-ENVELOPE-CONSISTENT", answer=envelope_consistent)
check("FI-ERRORINFO-ON-FAIL", answer=errorinfo_on_fail)
check("FI-FAIL-NO-RESULTITEM", answer=fail_no_result_item)
check("FI-RESULTITEM-PER-ACCOUNT", answer=result_item_per_account)
check("FI-RESULTITEM-ORDER", answer=result_item_order)
check("FI-RESULTINFO-EMPTY-ON-SUCCESS", answer=result_info_empty_on_success)
check("FI-RESULTINFO-SET-ON-FAILURE", answer=result_info_set_on_failure)
check("FI-FAIL-ACCOUNT-PRESENCE", answer=fail_account_presence)
check("FI-FAIL-ACCOUNT-CONTENT", answer=fail_account_content)
check("FI-PARTIAL-SUCCESS", answer=partial_success, imported=imported, reads_back=reads_back)
check("FI-CODE-KNOWN", answer=code_known)
check("FI-CODE-LEVEL", answer=code_level)
# The rules every friend_import answer is judged by, in the order they are reported.
ANSWER_RULES = tuple(rule_id for rule_id, found in CHECKS.items() if "answer" in found.judgements)


def run_all(spec: Spec, recorder: Recorder, request: Any, reply) -> None:
    """Run the check of every answer rule on one friend_import reply and record the verdicts."""
    if reply.exchange.error is not None:
        return
    body = _body(reply)
    for _, code in (_codes(body) if body is not None else []):
        if isinstance(code, int):
            recorder.saw_code(code)
    observation = Observation("answer", reply=reply, request=request)
    for rule_id in ANSWER_RULES:
        judge(spec, recorder, rule_id, observation)
