"""The one envelope writer: every OK and FAIL body the emulator sends is built here.

Key order follows the seed's samples (ResultItem, Fail_Account, ActionStatus, ErrorCode, ErrorInfo,
ErrorDisplay); SNS operations carry ErrorDisplay, account operations do not (api-facts §1.3). A refusal with
a gateway code (one the catalogue lists for every operation, "*") has the three fields alone, on SNS paths
too: the live gateway's 60002, 60008, 60015 and 70032 bodies have no ErrorDisplay (real-evidence.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from timconform.spec import Spec

SNS_OPERATIONS = frozenset({"friend_import", "friend_check", "friend_get_list", "friend_delete"})
# ResultInfo of a successful item: "" (the seed's friend_import sample), but "OK" for friend_delete, as a public
# Go client's tests expect of the live service (real-evidence.md, OBS: GitHub 5xxxx/TencentIM).
SUCCESS_INFO = {"friend_delete": "OK"}


class Envelopes:
    def __init__(self, spec: Spec) -> None:
        self._spec = spec
        self._infos: dict[tuple[int, str], str] = {}  # the catalogue does not change: one lookup per (code, op)
        self._gateway = frozenset(code for code, entry in spec.codes.items() if "*" in entry.operations)
        # A text the live service was seen to send (or the docs print) is sent as it is, "" included (the real
        # 70032); the emulator's own explanation is used only where the catalogue's text is a guess.
        self._documented = frozenset(code for code, entry in spec.codes.items() if entry.error_info_documented)

    def info(self, code: int, operation: str) -> str:
        key = (code, operation)
        text = self._infos.get(key)
        if text is None:
            entry = self._spec.codes.get(code)
            text = self._infos[key] = entry.info(operation) if entry is not None else f"Error {code}"
        return text

    def ok(self, operation: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        body = dict(payload or {})
        body.update(ActionStatus="OK", ErrorCode=0, ErrorInfo="")
        if operation in SNS_OPERATIONS:
            body["ErrorDisplay"] = ""
        return body

    def fail(self, operation: str, code: int, info: str | None = None) -> dict[str, Any]:
        text = self.info(code, operation) if info is None or code in self._documented else info
        body: dict[str, Any] = {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": text}
        if (operation in SNS_OPERATIONS or operation == "") and code not in self._gateway:
            body["ErrorDisplay"] = ""
        return body

    def result_items(self, operation: str, results: Iterable[tuple[str, int]], *, key: str = "To_Account",
                     fail_key: str | None = "Fail_Account") -> dict[str, Any]:
        """ResultItem in request order and, only when an item failed, the list of failed accounts."""
        items, failed = [], []
        success = SUCCESS_INFO.get(operation, "")
        for account, code in results:
            items.append({key: account, "ResultCode": code, "ResultInfo": self.info(code, operation) if code else success})
            if code:
                failed.append(account)
        payload: dict[str, Any] = {"ResultItem": items}
        if failed and fail_key:
            payload[fail_key] = failed
        return payload


# What json.dumps(body, ensure_ascii=False, separators=(",", ":")) does, without building a JSONEncoder per call:
# JSONEncoder.encode runs the C encoder with a fresh circular-reference memo and these settings.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)


def _encode(body: dict[str, Any]) -> str:
    if _C_ENCODER is None:
        return _ENCODER.encode(body)
    encoder = _C_ENCODER({}, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return "".join(encoder(body, 0))


def dumps(body: dict[str, Any]) -> bytes:
    text = _encode(body)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a request's "\ud800" echoed back as an account) has no UTF-8 form; JSON's
        # \uXXXX escape carries it unchanged.
        return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
