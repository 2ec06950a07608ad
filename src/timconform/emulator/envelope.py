"""The one envelope writer: every OK and FAIL body the emulator sends is built here.

Key order follows the seed's samples (ResultItem, Fail_Account, ActionStatus, ErrorCode, ErrorInfo,
ErrorDisplay); SNS operations carry ErrorDisplay, account operations do not (api-facts §1.3).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from timconform.spec import Spec

SNS_OPERATIONS = frozenset({"friend_import", "friend_check", "friend_get_list", "friend_delete"})


class Envelopes:
    def __init__(self, spec: Spec) -> None:
        self._spec = spec

    def info(self, code: int, operation: str) -> str:
        entry = self._spec.codes.get(code)
        return entry.info(operation) if entry is not None else f"Error {code}"

    def ok(self, operation: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        body = dict(payload or {})
        body.update(ActionStatus="OK", ErrorCode=0, ErrorInfo="")
        if operation in SNS_OPERATIONS:
            body["ErrorDisplay"] = ""
        return body

    def fail(self, operation: str, code: int, info: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info or self.info(code, operation)}
        if operation in SNS_OPERATIONS or operation == "":
            body["ErrorDisplay"] = ""
        return body

    def result_items(self, operation: str, results: Iterable[tuple[str, int]], *, key: str = "To_Account",
                     fail_key: str | None = "Fail_Account") -> dict[str, Any]:
        """ResultItem in request order and, only when an item failed, the list of failed accounts."""
        items, failed = [], []
        for account, code in results:
            items.append({key: account, "ResultCode": code, "ResultInfo": self.info(code, operation) if code else ""})
            if code:
                failed.append(account)
        payload: dict[str, Any] = {"ResultItem": items}
        if failed and fail_key:
            payload[fail_key] = failed
        return payload


def dumps(body: dict[str, Any]) -> bytes:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a request's "\ud800" echoed back as an account) has no UTF-8 form; JSON's
        # \uXXXX escape carries it unchanged.
        return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
