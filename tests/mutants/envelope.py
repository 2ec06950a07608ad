"""Mutants that answer friend_import in a wrong envelope: each rewrites the emulator's (correct) answer."""

from __future__ import annotations

from tests.mutants.base import Exchange, Wrapped, mutant, rewrite_fail, rewrite_ok


def _failed(body: dict) -> list[dict]:
    return [i for i in body.get("ResultItem", ()) if i.get("ResultCode")]


@mutant("fail-account-left-out", "FI-FAIL-ACCOUNT-PRESENCE")
def fail_account_left_out(emulator):
    """Fail_Account is never written: a partly failed batch only has the failures in ResultItem."""

    def edit(exchange: Exchange, body: dict) -> None:
        body.pop("Fail_Account", None)

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("fail-account-empty-on-success", "FI-FAIL-ACCOUNT-PRESENCE")
def fail_account_empty_on_success(emulator):
    """Fail_Account is always written, as [] when every item succeeded."""

    def edit(exchange: Exchange, body: dict) -> None:
        body.setdefault("Fail_Account", [])

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("fail-account-all-requested", "FI-FAIL-ACCOUNT-CONTENT")
def fail_account_all_requested(emulator):
    """When any item fails, Fail_Account lists every requested To_Account, the imported ones too."""

    def edit(exchange: Exchange, body: dict) -> None:
        if "Fail_Account" in body:
            body["Fail_Account"] = [i["To_Account"] for i in body["ResultItem"]]

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("resultinfo-on-success", "FI-RESULTINFO-EMPTY-ON-SUCCESS")
def resultinfo_on_success(emulator):
    """A successful item carries ResultInfo "OK" instead of the documented empty string."""

    def edit(exchange: Exchange, body: dict) -> None:
        for entry in body.get("ResultItem", ()):
            if entry.get("ResultCode") == 0:
                entry["ResultInfo"] = "OK"

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("resultinfo-empty-on-failure", "FI-RESULTINFO-SET-ON-FAILURE")
def resultinfo_empty_on_failure(emulator):
    """A failed item carries its ResultCode but an empty ResultInfo."""

    def edit(exchange: Exchange, body: dict) -> None:
        for entry in _failed(body):
            entry["ResultInfo"] = ""

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("refusal-with-actionstatus-ok", "FI-ENVELOPE-CONSISTENT")
def refusal_with_actionstatus_ok(emulator):
    """A whole-request refusal keeps its ErrorCode but says ActionStatus "OK" (the status is hard-coded)."""

    def edit(exchange: Exchange, body: dict) -> None:
        body["ActionStatus"] = "OK"

    return Wrapped(emulator, on_response=rewrite_fail(edit))


@mutant("failed-items-left-out", "FI-RESULTITEM-PER-ACCOUNT")
def failed_items_left_out(emulator):
    """ResultItem lists only the imported items; the failed ones appear in Fail_Account alone."""

    def edit(exchange: Exchange, body: dict) -> None:
        body["ResultItem"] = [i for i in body.get("ResultItem", ()) if not i.get("ResultCode")]

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("resultitem-sorted", "FI-RESULTITEM-ORDER")
def resultitem_sorted(emulator):
    """ResultItem comes out of a sorted map: ordered by To_Account, not in request order."""

    def edit(exchange: Exchange, body: dict) -> None:
        body.get("ResultItem", []).sort(key=lambda i: str(i.get("To_Account")))

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("resultcode-string", "FI-ENVELOPE-SHAPE")
def resultcode_string(emulator):
    """ResultCode is serialised as a string ("0", "30001")."""

    def edit(exchange: Exchange, body: dict) -> None:
        for entry in body.get("ResultItem", ()):
            entry["ResultCode"] = str(entry["ResultCode"])

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("errordisplay-missing", "FI-ENVELOPE-SHAPE")
def errordisplay_missing(emulator):
    """The SNS envelope is written without ErrorDisplay (the account-service envelope reused)."""

    def hook(exchange: Exchange, status: int, body):
        if isinstance(body, dict):
            body.pop("ErrorDisplay", None)
            return status, body
        return None

    return Wrapped(emulator, on_response=hook)


@mutant("partial-failure-as-fail", "FI-PARTIAL-SUCCESS")
def partial_failure_as_fail(emulator):
    """A batch with any failed item is answered ActionStatus FAIL with the first item's code (items kept)."""

    def edit(exchange: Exchange, body: dict) -> None:
        failed = _failed(body)
        if failed:
            body.update(ActionStatus="FAIL", ErrorCode=failed[0]["ResultCode"], ErrorInfo=failed[0]["ResultInfo"])

    return Wrapped(emulator, on_response=rewrite_ok(edit))


@mutant("admin-refusal-per-item", "FI-AUTH-ADMIN-REQUIRED", "FI-CODE-LEVEL")
def admin_refusal_per_item(emulator):
    """A non-admin caller is refused per item (60010 in each ResultItem) inside an OK envelope."""
    admin_code = emulator.codes.admin

    def edit(exchange: Exchange, body: dict):
        request = exchange.json()
        if body.get("ErrorCode") != admin_code or not isinstance(request, dict):
            return None
        accounts = [i.get("To_Account") for i in request.get("AddFriendItem") or () if isinstance(i, dict)]
        info = body["ErrorInfo"]
        return {"ResultItem": [{"To_Account": a, "ResultCode": admin_code, "ResultInfo": info} for a in accounts],
                "Fail_Account": accounts, "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "ErrorDisplay": ""}

    return Wrapped(emulator, on_response=rewrite_fail(edit))
