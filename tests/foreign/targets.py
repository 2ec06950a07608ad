"""Targets nobody on the team wrote the suite beside: mocks of the kinds users point it at.

Each is an ASGI app served in-process (the suite reaches it through the same httpx client it uses for a
URL). None of them shares code with the emulator's logic: the two wrappers around the faithful emulator
only rewrite what goes in or comes out, the way a gateway or a sloppy front end would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.mutants.base import Answer, Exchange, Wrapped, fresh_emulator
from timconform import spec as spec_module

JSON = "application/json; charset=utf-8"


async def _read(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(send, status: int, body: Any, content_type: str = JSON) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


# -- a Prism-like mock ----------------------------------------------------------------------------------


def sample(schema: dict[str, Any], here: Path) -> Any:
    """A value of ``schema`` the way a schema-driven mock makes one: examples first, then the first enum
    value, then every declared property (arrays of one item, "string", 0). $refs are files beside ``here``."""
    if "$ref" in schema:
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        if siblings:  # the referenced schema and its siblings, each read relative to its own file
            return sample({"allOf": [{"$ref": schema["$ref"]}, siblings]}, here)
        target, _, pointer = schema["$ref"].partition("#")
        path = (here.parent / target).resolve() if target else here
        node: Any = json.loads(path.read_text(encoding="utf-8"))
        for part in filter(None, pointer.split("/")):
            node = node[part]
        return sample(node, path)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    out: dict[str, Any] = {}
    for part in schema.get("allOf", ()):
        value = sample(part, here)
        if isinstance(value, dict):
            out.update(value)
    kind = schema.get("type", "object" if "properties" in schema or out else None)
    if kind == "object":
        out.update({name: sample(sub, here) for name, sub in schema.get("properties", {}).items()})
        return out
    if kind == "array":
        return [sample(schema.get("items", {}), here)]
    if kind == "string":
        return "string"
    if kind == "integer":
        return schema.get("minimum", 0)
    if kind == "boolean":
        return True
    return out or None


class SchemaExamples:
    """`prism mock openapi.yaml` without Node: each operation of openapi.yaml answers HTTP 200 with its first
    response example (friend_import's is the seed's "basic" sample) or a body sampled from its response
    schema, whatever was asked. Stateless; unknown paths are HTTP 404."""

    def __init__(self) -> None:
        spec = spec_module.load()
        self.answers: dict[str, Any] = {}
        for path, item in spec.openapi["paths"].items():
            content = item["post"]["responses"]["200"]["content"]["application/json"]
            examples = content.get("examples")
            if examples:
                self.answers[path] = next(iter(examples.values()))["value"]
            else:
                self.answers[path] = sample(content["schema"], spec.root / "openapi.yaml")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        await _read(receive)
        if scope["path"] in self.answers:
            await _answer(send, 200, self.answers[scope["path"]])
        else:
            await _answer(send, 404, b"Not Found", "text/plain")


# -- a stateless mock that says OK ----------------------------------------------------------------------

OK = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "ErrorDisplay": ""}


class SaysOk:
    """The naive hand-written mock: every request, on any path and with any method, is answered OK in the
    shape of its operation, and nothing is stored (so nobody is ever anybody's friend)."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = _json(await _read(receive))
        body = body if isinstance(body, dict) else {}
        await _answer(send, 200, {**OK, **self._items(scope["path"].rsplit("/", 1)[-1], body)})

    @staticmethod
    def _items(command: str, body: dict[str, Any]) -> dict[str, Any]:
        def names(key: str, field: str | None = None) -> list[Any]:
            entries = body.get(key)
            entries = entries if isinstance(entries, list) else []
            return [e.get(field) if field and isinstance(e, dict) else e for e in entries]

        if command == "friend_import":
            return {"ResultItem": [{"To_Account": a, "ResultCode": 0, "ResultInfo": ""}
                                   for a in names("AddFriendItem", "To_Account")]}
        if command == "friend_check":
            return {"InfoItem": [{"To_Account": a, "Relation": "CheckResult_Type_NoRelation", "ResultCode": 0,
                                  "ResultInfo": ""} for a in names("To_Account")]}
        if command == "friend_get_list":
            return {"InfoItem": [{"To_Account": a, "SnsProfileItem": [], "ResultCode": 0, "ResultInfo": ""}
                                 for a in names("To_Account")]}
        if command == "friend_delete":
            return {"ResultItem": [{"To_Account": a, "ResultCode": 0, "ResultInfo": ""} for a in names("To_Account")]}
        if command == "account_check":
            return {"ResultItem": [{"UserID": a, "ResultCode": 0, "ResultInfo": "", "AccountStatus": "Imported"}
                                   for a in names("CheckItem", "UserID")]}
        if command == "account_delete":
            return {"ResultItem": [{"UserID": a, "ResultCode": 0, "ResultInfo": ""}
                                   for a in names("DeleteItem", "UserID")]}
        if command == "multiaccount_import":
            return {"FailAccounts": []}
        return {}


# -- the live service's gateway bodies --------------------------------------------------------------------

# ErrorInfo texts the live service was seen to send (shared/reference/real-evidence.md).
REAL_TEXTS = {
    60002: "HTTP parse Error",
    60008: "service timeout or request format error,please check and try again",
    60015: "body account invalid",
    70003: "The UserSig in use is illegal. Please regenerate UserSig through official API. "
           "(FYI: https://cloud.tencent.com/document/product/269/32688 )",
    70032: "",
}
UNKNOWN_APP = 70020  # what the emulator answers for an SDKAppID that is no app
UNKNOWN_APP_REAL = 70032  # what the live service answered sdkappid=88888888 (real-evidence.md)


def real_gateway():
    """The faithful emulator behind the live service's gateway: every gateway refusal (a code listed for all
    operations) is re-answered in the three-field shape the live service sends (no ErrorDisplay), with the
    real ErrorInfo text where one is on record, and an unknown SDKAppID gets 70032 with an empty ErrorInfo."""
    emulator = fresh_emulator()
    codes = spec_module.load().codes

    def gateway_shape(exchange: Exchange, status: int, body: Any):
        if not isinstance(body, dict) or body.get("ActionStatus") != "FAIL":
            return None
        code = body.get("ErrorCode")
        if code not in codes or "*" not in codes[code].operations:
            return None  # the SNS service's own refusal keeps its full envelope
        code = UNKNOWN_APP_REAL if code == UNKNOWN_APP else code
        return status, {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": REAL_TEXTS.get(code, body["ErrorInfo"])}

    return Wrapped(emulator, on_response=gateway_shape, paths=None)


# -- a sloppy UserID limit ----------------------------------------------------------------------------------

ACCOUNT_IMPORTS = ("/v4/im_open_login_svc/multiaccount_import", "/v4/im_open_login_svc/account_import")


def short_user_ids():
    """The faithful emulator behind an account front end that checks `len(UserID) < 32` instead of `<= 32`:
    a documented-valid 32-byte UserID cannot be created (multiaccount_import lists it in FailAccounts,
    account_import refuses it with 70402)."""
    emulator = fresh_emulator()

    def refuse_32(exchange: Exchange) -> Answer | None:
        body = exchange.json() if exchange.path in ACCOUNT_IMPORTS else None
        if not isinstance(body, dict):
            return None
        names = body.get("Accounts") if "Accounts" in body else [body.get("UserID") or body.get("Identifier")]
        refused = [n for n in names or () if isinstance(n, str) and len(n.encode("utf-8")) >= 32]
        if not refused:
            return None
        if "Accounts" not in body:
            answer = {"ActionStatus": "FAIL", "ErrorCode": 70402, "ErrorInfo": "param invalid"}
            return Answer(200, json.dumps(answer).encode(), JSON)
        exchange.body = json.dumps({**body, "Accounts": [n for n in names if n not in refused]}).encode()
        exchange.refused = refused
        return None

    def report_refused(exchange: Exchange, status: int, body: Any):
        refused = getattr(exchange, "refused", None)
        if not refused or not isinstance(body, dict):
            return None
        return status, {**body, "FailAccounts": list(body.get("FailAccounts") or []) + refused}

    return Wrapped(emulator, on_request=refuse_32, on_response=report_refused, paths=ACCOUNT_IMPORTS)


# -- HTTPS and plain HTTP ------------------------------------------------------------------------------


class RedirectsPlainHttp:
    """The faithful emulator behind a TLS front end that answers plain http:// with a redirect to https://,
    as the live service's FI-HTTPS-ONLY promises. Served in-process at an https:// base URL."""

    def __init__(self) -> None:
        self.emulator = fresh_emulator()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("scheme") == "http":
            await _read(receive)
            location = f"https://{dict(scope['headers']).get(b'host', b'').decode()}{scope['path']}"
            await send({"type": "http.response.start", "status": 301,
                        "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.emulator(scope, receive, send)


def serves_plain_http_too():
    """The faithful emulator answering the API on http:// as well as https:// (the same app on both)."""
    return fresh_emulator()
