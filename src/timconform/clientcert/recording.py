"""What a client sent and what it got back, one :class:`Recorded` per HTTP request.

Two sources fill the same record: :class:`RecordingApp`, an ASGI wrapper around the emulator
(``certify-client``), and the validating reverse proxy (``timconform proxy``). The raw query string
is kept (URL-encoding is graded on it) with the usersig value replaced; the UserSig itself is
never stored, only its verdict, a short hash (to tell a renewed UserSig from the old one) and the
characters in it that would have needed escaping.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from timconform import usersig as usersig_module
from timconform.report.model import Exchange
from timconform.report.redact import PLACEHOLDER

# RFC 3986: a query may hold unreserved, sub-delims, ':', '@', '/', '?' and percent escapes. '&' and '='
# delimit the parameters, so inside a value they (and everything else) must be escaped.
_QUERY_VALUE_OK = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$'()*+,;:@/?%")
_UNPARSED = object()
BODY_KEEP = 4000  # characters of a request or answer body shown in evidence (the record keeps it whole)
MAX_BODY = 64 * 1024 * 1024
DISCONNECT_POLL_S = 0.005


@dataclass
class Recorded:
    """One request and its answer, without any secret."""

    index: int
    started: float  # time.monotonic() when the request arrived
    ended: float | None  # when the answer was sent (None: no answer)
    wall: float  # time.time() when the request arrived
    method: str
    path: str
    query: str  # the raw query string, usersig value replaced by the placeholder
    params: list[tuple[str, str]]  # the query parsed (usersig replaced)
    headers: dict[str, str]  # header names lower-case; repeated headers joined with ", "
    body_bytes: bytes = field(repr=False, default=b"")
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    usersig_verdict: str = ""  # "valid", a usersig.Reason name, "missing" or "" (not checked)
    usersig_hash: str = ""  # first 16 hex digits of sha256(usersig); "" when absent
    usersig_bad_chars: str = ""  # characters of the raw usersig value that needed escaping
    usersig_made: tuple[int, int] | None = None  # the UserSig's (TLS.time, TLS.expire): what it says, not a secret
    error: str | None = None  # the harness's or the network's failure (no answer)
    client_gone: bool = False  # the client left before the answer was sent (e.g. its timeout)
    base_url: str = ""
    response_raw: bytes = field(default=b"", repr=False)  # the answer's bytes (the proxy passes them on)
    _parsed: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._parsed = _UNPARSED

    # -- derived ------------------------------------------------------------------------------

    @property
    def operation(self) -> str:
        return self.path.rsplit("/", 1)[-1] if self.path.startswith("/v4/") else ""

    @property
    def body_text(self) -> str:
        return self.body_bytes.decode("utf-8", "replace")

    def json_body(self) -> Any:
        """The request body parsed as JSON, or None when it is not JSON (parsed once)."""
        if self._parsed is _UNPARSED:
            try:
                self._parsed = json.loads(self.body_bytes.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                self._parsed = None
        return self._parsed

    def items(self) -> list[dict[str, Any]]:
        body = self.json_body()
        items = body.get("AddFriendItem") if isinstance(body, dict) else None
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def from_account(self) -> Any:
        body = self.json_body()
        return body.get("From_Account") if isinstance(body, dict) else None

    def to_accounts(self) -> list[Any]:
        return [i.get("To_Account") for i in self.items()]

    def answer(self) -> Any:
        """The response body parsed as JSON, or None."""
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None

    def error_code(self) -> int | None:
        answer = self.answer()
        code = answer.get("ErrorCode") if isinstance(answer, dict) else None
        return code if isinstance(code, int) and not isinstance(code, bool) else None

    def item_codes(self) -> dict[Any, int]:
        """To_Account -> ResultCode of an OK answer."""
        answer = self.answer()
        items = answer.get("ResultItem") if isinstance(answer, dict) else None
        out = {}
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and isinstance(item.get("ResultCode"), int):
                out[_hashable(item.get("To_Account"))] = item["ResultCode"]
        return out

    def param(self, name: str) -> str | None:
        values = [v for k, v in self.params if k == name]
        return values[0] if values else None

    def exchange(self, *, keep: int = BODY_KEEP) -> Exchange:
        """The redacted exchange for a report (long bodies shortened)."""
        url = f"{self.base_url}{self.path}" + (f"?{self.query}" if self.query else "")
        elapsed = (self.ended - self.started) * 1000 if self.ended is not None else 0.0
        return Exchange(operation=self.operation or self.path, method=self.method, url=url,
                        headers=dict(self.headers), body=_shorten(self.body_text, keep), status=self.status,
                        response_headers=dict(self.response_headers),
                        response_body=_shorten(self.response_body, keep), elapsed_ms=round(elapsed, 1),
                        error=self.error or ("the client closed the connection before the answer" if
                                             self.client_gone else None))

    def describe(self) -> str:
        """One line naming the request, for evidence messages."""
        n = len(self.items())
        what = f"{self.method} {self.path}" + (f" ({n} item(s))" if self.operation == "friend_import" else "")
        return f"request #{self.index + 1} {what}"


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else json.dumps(value, sort_keys=True)


async def _disconnected(receive) -> bool:
    """Whether the client has left before its answer starts (its timeout was shorter than the delay).

    The body is read, so the server's next message can only be a disconnect: one already there means the
    client is gone; none within a few milliseconds means it is still waiting for the answer."""
    try:
        message = await asyncio.wait_for(receive(), timeout=DISCONNECT_POLL_S)
    except asyncio.TimeoutError:
        return False
    return message.get("type") == "http.disconnect"


def _shorten(text: str, keep: int) -> str:
    if len(text) <= keep:
        return text
    return text[:keep] + f"... [{len(text) - keep} more characters not shown]"


def redact_query(raw: bytes) -> tuple[str, list[tuple[str, str]], str, str]:
    """(query with the usersig value replaced, parsed pairs likewise, the usersig, its characters needing escape)."""
    text = raw.decode("latin-1")
    parts, sig, bad = [], "", ""
    for part in text.split("&") if text else ():
        name, sep, value = part.partition("=")
        if unquote_to_bytes(name) == b"usersig":
            raw_value = value.encode("latin-1")
            bad = "".join(sorted({chr(b) for b in raw_value if b not in _QUERY_VALUE_OK}))
            sig = unquote_to_bytes(value.replace("+", " ")).decode("utf-8", "replace")
            part = f"{name}{sep}{PLACEHOLDER}"
        parts.append(part)
    redacted = "&".join(parts)
    pairs = parse_qsl(redacted.encode("latin-1").decode("utf-8", "replace"), keep_blank_values=True)
    return redacted, pairs, sig, bad


def query_value_bad_chars(raw: bytes) -> str:
    """Characters of a raw query string (delimiters aside) that should have been percent-encoded."""
    allowed = _QUERY_VALUE_OK | frozenset(b"&=")
    return "".join(sorted({chr(b) for b in raw if b not in allowed}))


def sig_made(sig: str) -> tuple[int, int] | None:
    """(TLS.time, TLS.expire) of a v2 UserSig, or None when it does not decode: when and for how long it was
    made, which tells a renewed UserSig from a re-sent one whatever its encoding."""
    try:
        document = usersig_module.decode(sig)
        return int(document["TLS.time"]), int(document["TLS.expire"])
    except (usersig_module.UserSigError, KeyError, TypeError, ValueError):
        return None


def sig_hash(sig: str) -> str:
    return hashlib.sha256(sig.encode("utf-8", "surrogatepass")).hexdigest()[:16] if sig else ""


class SigJudge:
    """Verifies a UserSig for a record (verdict only; the sig is dropped afterwards)."""

    def __init__(self, secret_key: str | None, *, sdkappid: int | None, clock: Callable[[], float] = time.time):
        self.secret_key, self.sdkappid = secret_key, sdkappid
        self._verifier = usersig_module.Verifier(lambda _: secret_key, clock) if secret_key else None

    def verdict(self, sig: str, params: Iterable[tuple[str, str]]) -> str:
        if self._verifier is None:
            return ""
        if not sig:
            return "missing"
        values = dict(params)
        try:
            sdkappid = int(values.get("sdkappid", ""))
        except ValueError:
            return usersig_module.Reason.SDKAPPID_MISMATCH.name
        if self.sdkappid is not None and sdkappid != self.sdkappid:
            return usersig_module.Reason.SDKAPPID_MISMATCH.name
        try:
            self._verifier.verify(sig, sdkappid, values.get("identifier", ""))
        except usersig_module.UserSigError as error:
            return error.reason.name
        except (TypeError, ValueError):
            return usersig_module.Reason.MALFORMED.name
        return "valid"


class Journal:
    """A thread-safe list of records with their numbering."""

    def __init__(self) -> None:
        self._records: list[Recorded] = []
        self._next = 0
        self._lock = threading.Lock()

    def reserve(self) -> int:
        """The number of a request that just arrived (requests are numbered in arrival order)."""
        with self._lock:
            self._next += 1
            return self._next - 1

    def add(self, record: Recorded) -> Recorded:
        with self._lock:
            self._records.append(record)
        return record

    def in_flight(self) -> int:
        """Requests that arrived and are not answered (recorded) yet."""
        with self._lock:
            return self._next - len(self._records)

    def records(self) -> list[Recorded]:
        with self._lock:
            return sorted(self._records, key=lambda r: r.index)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._next = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


class RecordingApp:
    """ASGI wrapper: every /v4/ request to the wrapped app (the emulator) becomes a :class:`Recorded`."""

    def __init__(self, app: Any, judge: SigJudge, journal: Journal | None = None, *, base_url: str = "") -> None:
        self.app, self.judge = app, judge
        self.journal = journal if journal is not None else Journal()
        self.base_url = base_url

    def _base_for(self, host: str) -> str:
        """The base URL the client used: a Host that is not loopback came through the CONNECT proxy (HTTPS)."""
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        name = name.strip("[]").lower()
        if not name or name == "localhost" or name.startswith("127.") or name == "::1":
            return self.base_url
        return f"https://{host}"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v4/"):
            await self.app(scope, receive, send)
            return
        started, wall = time.monotonic(), time.time()
        index = self.journal.reserve()
        body, gone = await _read_body(receive)
        query, params, sig, bad = redact_query(scope.get("query_string", b""))
        headers = _headers(scope)
        record = Recorded(index=index, started=started, ended=None, wall=wall, method=scope["method"],
                          path=scope["path"], query=query, params=params, headers=headers, body_bytes=body,
                          usersig_verdict=self.judge.verdict(sig, params), usersig_hash=sig_hash(sig),
                          usersig_made=sig_made(sig),
                          usersig_bad_chars=bad, client_gone=gone, base_url=self._base_for(headers.get("host", "")))
        del sig
        await self._serve(scope, receive, send, record)

    async def _serve(self, scope, receive, send, record: Recorded) -> None:
        """Hand the request to the app with its body replayed; record the answer as it passes to the client."""
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": record.body_bytes, "more_body": False}
            return await receive()

        response: list[bytes] = []

        async def capture(message):
            if message["type"] == "http.response.start":
                record.client_gone = record.client_gone or await _disconnected(receive)
                record.status = message["status"]
                record.response_headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                                           for k, v in message.get("headers", ())}
            elif message["type"] == "http.response.body":
                response.append(message.get("body", b""))
                if not message.get("more_body", False):
                    record.ended = time.monotonic()
            try:
                await send(message)
            except Exception:  # noqa: BLE001 - the client left; the emulator's work still counts
                record.client_gone = True

        try:
            await self.app(scope, replay, capture)
        except Exception as exc:  # noqa: BLE001 - recorded, then re-raised for the server to log
            record.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record.response_body = b"".join(response).decode("utf-8", "replace")
            if record.ended is None and record.status is not None:
                record.ended = time.monotonic()
            self.journal.add(record)


async def _read_body(receive) -> tuple[bytes, bool]:
    """(the request body, up to MAX_BODY; whether the client left before it was whole)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        body = message.get("body", b"")
        size += len(body)
        if size <= MAX_BODY:
            chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _headers(scope) -> dict[str, str]:
    """Header names lower-case; a repeated header's values joined with ", "."""
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers
