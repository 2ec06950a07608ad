"""Checks every friend_import answer must pass, whatever was asked. One rule, one small function.

Each check takes the request body that was sent and the reply, asserts one property, and raises
:class:`CheckFailed` with an Expected/Received message; it returns ``NOT_APPLICABLE`` when the
property says nothing about this reply (a guard, not a pass).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from timconform.oracle.recorder import CheckFailed, Recorder
from timconform.report.model import Verdict
from timconform.spec import Spec

NOT_APPLICABLE = object()
CHECKS: dict[str, Callable[..., Any]] = {}


def check(rule_id: str):
    """Register a check under the catalogue id of the rule it enforces (not under its function name)."""

    def register(fn):
        CHECKS[rule_id] = fn
        return fn

    return register


def _fail(rule_id: str, expected: str, received: Any) -> CheckFailed:
    return CheckFailed(rule_id, f"Expected {expected}. Received {received!r}.")


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


@check("FI-HTTP-200")
def http_200(spec: Spec, request: Any, reply) -> Any:
    if reply.status != 200:
        raise _fail("FI-HTTP-200", "HTTP status 200", reply.status)


@check("FI-ENVELOPE-SHAPE")
def envelope_shape(spec: Spec, request: Any, reply) -> Any:
    if reply.status != 200:
        return NOT_APPLICABLE
    if _body(reply) is None:
        raise _fail("FI-ENVELOPE-SHAPE", "a JSON object body", reply.exchange.response_body[:200])
    error = next(iter(spec.validator("friend_import.response.json").iter_errors(reply.body)), None)
    if error is not None:
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        raise _fail("FI-ENVELOPE-SHAPE", f"a body matching friend_import.response.json (at {where}: {error.message})",
                    error.instance)


@check("FI-ENVELOPE-CONSISTENT")
def envelope_consistent(spec: Spec, request: Any, reply) -> Any:
    body = _body(reply)
    if body is None or "ActionStatus" not in body or "ErrorCode" not in body:
        return NOT_APPLICABLE
    if (body["ActionStatus"] == "OK") != (body["ErrorCode"] == 0):
        raise _fail("FI-ENVELOPE-CONSISTENT", "ActionStatus OK exactly when ErrorCode is 0",
                    {"ActionStatus": body["ActionStatus"], "ErrorCode": body["ErrorCode"]})


@check("FI-ERRORINFO-ON-FAIL")
def errorinfo_on_fail(spec: Spec, request: Any, reply) -> Any:
    body = _body(reply)
    if body is None or body.get("ActionStatus") != "FAIL" or not _own_code(spec, body.get("ErrorCode")):
        return NOT_APPLICABLE  # the gateway's own refusals may carry an empty ErrorInfo (a real 70032 did)
    if not isinstance(body.get("ErrorInfo"), str) or not body["ErrorInfo"]:
        raise _fail("FI-ERRORINFO-ON-FAIL", "a non-empty ErrorInfo on a FAIL answer", body.get("ErrorInfo"))


def _own_code(spec: Spec, code: Any) -> bool:
    """One of the service's own codes (listed for named operations), not a gateway code (listed for "*")."""
    entry = spec.codes.get(code) if type(code) is int else None
    return entry is not None and "*" not in entry.operations


@check("FI-FAIL-NO-RESULTITEM")
def fail_no_result_item(spec: Spec, request: Any, reply) -> Any:
    body = _body(reply)
    if body is None or body.get("ActionStatus") != "FAIL":
        return NOT_APPLICABLE
    present = [k for k in ("ResultItem", "Fail_Account") if k in body]  # even empty: "no ResultItem"
    if present:
        raise _fail("FI-FAIL-NO-RESULTITEM", "no ResultItem or Fail_Account on a FAIL answer", present)


@check("FI-RESULTITEM-PER-ACCOUNT")
def result_item_per_account(spec: Spec, request: Any, reply) -> Any:
    body, requested = _body(reply), _requested(request)
    if body is None or body.get("ActionStatus") != "OK" or requested is None:
        return NOT_APPLICABLE
    items = _result_items(body)
    answered = [i.get("To_Account") for i in items] if items is not None else None
    if answered is None or Counter(answered) != Counter(requested):
        raise _fail("FI-RESULTITEM-PER-ACCOUNT", f"one ResultItem for each of {len(requested)} requested To_Account",
                    answered)


@check("FI-RESULTITEM-ORDER")
def result_item_order(spec: Spec, request: Any, reply) -> Any:
    body, requested = _body(reply), _requested(request)
    items = _result_items(body) if body is not None and body.get("ActionStatus") == "OK" else None
    if items is None or requested is None or Counter(i.get("To_Account") for i in items) != Counter(requested):
        return NOT_APPLICABLE
    answered = [i.get("To_Account") for i in items]
    if answered != requested:
        raise _fail("FI-RESULTITEM-ORDER", f"ResultItem in request order {requested[:10]}", answered[:10])


@check("FI-RESULTINFO-EMPTY-ON-SUCCESS")
def result_info_empty_on_success(spec: Spec, request: Any, reply) -> Any:
    items = _result_items(_body(reply) or {})
    if not items:
        return NOT_APPLICABLE
    bad = [i for i in items if i.get("ResultCode") == 0 and i.get("ResultInfo") != ""]
    if bad:
        raise _fail("FI-RESULTINFO-EMPTY-ON-SUCCESS", "ResultInfo \"\" for every item with ResultCode 0", bad[0])


@check("FI-RESULTINFO-SET-ON-FAILURE")
def result_info_set_on_failure(spec: Spec, request: Any, reply) -> Any:
    items = [i for i in _result_items(_body(reply) or {}) or () if i.get("ResultCode") not in (0, None)]
    if not items:
        return NOT_APPLICABLE
    bad = [i for i in items if not isinstance(i.get("ResultInfo"), str) or not i["ResultInfo"]]
    if bad:
        raise _fail("FI-RESULTINFO-SET-ON-FAILURE", "a non-empty ResultInfo for every failed item", bad[0])


def _failed_accounts(items: list[dict]) -> list[Any]:
    return [i.get("To_Account") for i in items if i.get("ResultCode") != 0]


@check("FI-FAIL-ACCOUNT-PRESENCE")
def fail_account_presence(spec: Spec, request: Any, reply) -> Any:
    body = _body(reply)
    items = _result_items(body) if body is not None and body.get("ActionStatus") == "OK" else None
    if items is None:
        return NOT_APPLICABLE
    failed = _failed_accounts(items)
    if failed and "Fail_Account" not in body:
        raise _fail("FI-FAIL-ACCOUNT-PRESENCE", f"Fail_Account present ({len(failed)} item(s) failed)", "absent")
    if not failed and "Fail_Account" in body:
        raise _fail("FI-FAIL-ACCOUNT-PRESENCE", "no Fail_Account when every item succeeded", body["Fail_Account"])


@check("FI-FAIL-ACCOUNT-CONTENT")
def fail_account_content(spec: Spec, request: Any, reply) -> Any:
    body = _body(reply)
    items = _result_items(body) if body is not None else None
    if items is None or not isinstance(body.get("Fail_Account"), list) or not body["Fail_Account"]:
        return NOT_APPLICABLE
    failed = _failed_accounts(items)
    if Counter(body["Fail_Account"]) != Counter(failed):
        raise _fail("FI-FAIL-ACCOUNT-CONTENT", f"Fail_Account equal to the failed To_Accounts {failed[:10]}",
                    body["Fail_Account"][:10])


@check("FI-PARTIAL-SUCCESS")
def partial_success(spec: Spec, request: Any, reply) -> Any:
    body = _body(reply)
    items = _result_items(body) if body is not None else None
    if not items or not any(i.get("ResultCode") != 0 for i in items):
        return NOT_APPLICABLE
    if body.get("ActionStatus") != "OK" or body.get("ErrorCode") != 0:
        raise _fail("FI-PARTIAL-SUCCESS", "ActionStatus OK and ErrorCode 0 beside per-item failures",
                    {"ActionStatus": body.get("ActionStatus"), "ErrorCode": body.get("ErrorCode")})


def _codes(body: dict) -> list[tuple[str, Any]]:
    codes = []
    if body.get("ErrorCode") not in (0, None):
        codes.append(("request", body["ErrorCode"]))
    for item in _result_items(body) or ():
        if item.get("ResultCode") not in (0, None):
            codes.append(("item", item["ResultCode"]))
    return codes


@check("FI-CODE-KNOWN")
def code_known(spec: Spec, request: Any, reply) -> Any:
    body = _body(reply)
    codes = _codes(body) if body is not None else []
    if not codes:
        return NOT_APPLICABLE
    unknown = [code for _, code in codes if code not in spec.codes]
    if unknown:
        raise _fail("FI-CODE-KNOWN", "codes listed in schemas/error-codes.json", unknown)


@check("FI-CODE-LEVEL")
def code_level(spec: Spec, request: Any, reply) -> Any:
    body = _body(reply)
    codes = [(level, code) for level, code in (_codes(body) if body is not None else []) if code in spec.codes]
    if not codes:
        return NOT_APPLICABLE
    wrong = [(level, code) for level, code in codes if spec.codes[code].level not in (level, "both")]
    if wrong:
        level, code = wrong[0]
        raise _fail("FI-CODE-LEVEL", f"{code} at its catalogue level ({spec.codes[code].level})", f"{code} at {level} level")


def run_all(spec: Spec, recorder: Recorder, request: Any, reply) -> None:
    """Run every registered check on one friend_import reply and record the verdicts."""
    if reply.exchange.error is not None:
        return
    body = _body(reply)
    for _, code in (_codes(body) if body is not None else []):
        if isinstance(code, int):
            recorder.saw_code(code)
    for rule_id, fn in CHECKS.items():
        if not recorder.enabled(rule_id):
            continue
        try:
            if fn(spec, request, reply) is not NOT_APPLICABLE:
                recorder.passed(rule_id)
        except CheckFailed as failure:
            failure.exchange = reply.exchange
            if rule_id == "FI-CODE-KNOWN":
                failure.severity = Verdict.WARN  # unknown codes are a finding, reported as Warn (issue #4)
            recorder.failed(failure)
        except Exception as exc:  # noqa: BLE001 - a check that crashes is the harness's Error, for its rule only
            recorder.errored([rule_id], f"the check of {rule_id} crashed ({type(exc).__name__}: "
                                        f"{' '.join(str(exc).split())[:200]}) on the answer to {reply.exchange.url}")
