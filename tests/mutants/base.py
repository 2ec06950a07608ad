"""The machinery of the mutant gallery: the Mutant record, the registry, and two generic ASGI wrappers.

A mutant is one defect a real friend_import implementation could have, applied to a fresh
:class:`timconform.emulator.Emulator`: either a switch on that one instance (an attribute or a method of
the emulator or of its ``model``, ``validator``, ``verifier``, ``limiter``, ``codes``, ``envelopes``) or an
ASGI wrapper around it that rewrites requests or responses. Nothing here touches shipped code or any
module-level state, so mutants never leak into each other or into the faithful emulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.envelope import dumps

CUSTOM_TAGS = ("Tag_SNS_Custom_XXXX", "Tag_SNS_Custom_YYYY")
FRIEND_IMPORT = "/v4/sns/friend_import"


def fresh_emulator() -> Emulator:
    """The faithful emulator every mutant starts from: the suite's custom tags, no rate limit between bursts
    (the suite's rate-limit scenario switches the documented limit on for its burst)."""
    return Emulator(EmulatorConfig(custom_tags=CUSTOM_TAGS, rate_limit=None))


@dataclass(frozen=True)
class Mutant:
    name: str
    rules: tuple[str, ...]  # the rule ids of schemas/rules.yaml this defect breaks
    defect: str  # one line: what a real implementation gets wrong
    factory: Callable[[], Any]  # no arguments -> an ASGI app (with .emulator when it wraps one)


REGISTRY: list[Mutant] = []


def mutant(name: str, *rules: str) -> Callable:
    """Register ``apply(emulator) -> app | None`` as a mutant; None means the patched emulator is the app.

    The function's docstring (first line) is the defect it models."""

    def register(apply: Callable[[Emulator], Any]) -> Callable:
        def factory() -> Any:
            emulator = fresh_emulator()
            app = apply(emulator)
            return emulator if app is None else app

        defect = (apply.__doc__ or name).strip().splitlines()[0]
        REGISTRY.append(Mutant(name, tuple(rules), defect, factory))
        return apply

    return register


# -- the wrappers -------------------------------------------------------------------------------------


class Exchange:
    """One REST request as the wrapper saw it: method, path, query parameters, body."""

    def __init__(self, scope: dict, body: bytes) -> None:
        self.scope = scope
        self.body = body

    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def path(self) -> str:
        return self.scope["path"]

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.scope.get("query_string", b"").decode("utf-8", "replace"), keep_blank_values=True)

    def set_query(self, pairs: list[tuple[str, str]]) -> None:
        self.scope = {**self.scope, "query_string": urlencode(pairs).encode("ascii")}

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None


@dataclass
class Answer:
    """A response the wrapper sends instead of asking the emulator (a crash, a front-end refusal)."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


RequestHook = Callable[[Exchange], "Answer | None"]  # may change exchange.scope/.body, or answer itself
ResponseHook = Callable[[Exchange, int, Any], "tuple[int, Any] | None"]  # (status, JSON) -> new pair or None


class Wrapped:
    """An ASGI app around an emulator that rewrites REST requests before it and responses after it.

    ``on_request`` sees every /v4/ request; ``on_response`` sees the parsed JSON answer of requests to
    ``paths`` (friend_import by default) and returns a new (status, JSON) pair, or None to leave it.
    Content-Length is recomputed; the control plane and lifespan pass straight through.
    """

    def __init__(self, emulator: Emulator, *, on_request: RequestHook | None = None,
                 on_response: ResponseHook | None = None, paths: tuple[str, ...] | None = (FRIEND_IMPORT,)) -> None:
        self.emulator = emulator
        self.on_request, self.on_response, self.paths = on_request, on_response, paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v4/"):
            return await self.emulator(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        exchange = Exchange(scope, b"".join(chunks))
        if self.on_request is not None:
            answer = self.on_request(exchange)
            if answer is not None:
                return await _send(send, answer.status, answer.content_type.encode(), answer.body, [])
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": exchange.body, "more_body": False}
            return await receive()

        if self.on_response is None or (self.paths is not None and exchange.path not in self.paths):
            return await self.emulator(exchange.scope, replay, send)
        start: dict = {}
        body = []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.emulator(exchange.scope, replay, capture)
        status, raw = start["status"], b"".join(body)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
        content_type = dict(start.get("headers", [])).get(b"content-type", b"application/json; charset=utf-8")
        try:
            parsed = json.loads(raw)
        except ValueError:
            return await _send(send, status, content_type, raw, headers)
        changed = self.on_response(exchange, status, parsed)
        if changed is not None:
            status, parsed = changed
            raw = dumps(parsed)
        await _send(send, status, content_type, raw, headers)


async def _send(send, status: int, content_type: bytes, body: bytes, headers: list) -> None:
    headers = [*headers, (b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def rewrite_ok(fn: Callable[[Exchange, dict], None]) -> ResponseHook:
    """A response hook that edits, in place, the JSON object of every OK friend_import answer."""

    def hook(exchange: Exchange, status: int, body: Any):
        if isinstance(body, dict) and body.get("ActionStatus") == "OK":
            fn(exchange, body)
            return status, body
        return None

    return hook


def rewrite_fail(fn: Callable[[Exchange, dict], "dict | None"]) -> ResponseHook:
    """A response hook that edits (or replaces, when ``fn`` returns a dict) every FAIL friend_import answer."""

    def hook(exchange: Exchange, status: int, body: Any):
        if isinstance(body, dict) and body.get("ActionStatus") == "FAIL":
            return status, fn(exchange, body) or body
        return None

    return hook
