"""Where the suite's requests go: the embedded emulator, a base URL, or a region of openapi.yaml.

Credentials come from the TIMCONFORM_* environment variables (DESIGN.md), never from options. The
client makes a UserSig for the run and renews it before it expires, sends a fresh ``random`` with
every request, paces remote targets below the documented rate limit, counts calls against a budget,
and retries what the network, not the target, got wrong.
"""

from __future__ import annotations

import itertools
import json
import secrets
import socket
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from timconform import usersig
from timconform.report.model import Exchange
from timconform.report.redact import Redactor
from timconform.spec import Spec
from timconform.transport import AsgiBridge

ENV_TARGET, ENV_SDKAPPID, ENV_IDENTIFIER = "TIMCONFORM_TARGET", "TIMCONFORM_SDKAPPID", "TIMCONFORM_IDENTIFIER"
ENV_SECRET_KEY, ENV_CUSTOM_TAGS = "TIMCONFORM_SECRET_KEY", "TIMCONFORM_CUSTOM_TAGS"
EMBEDDED_CUSTOM_TAGS = ("Tag_SNS_Custom_Demo", "Tag_SNS_Custom_Level")
DEFAULT_QPS = 100.0  # remote targets; never above the documented 200 calls/s (rule FI-RATE-LIMIT-200)
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_DELAYS = (0.2, 0.5, 1.0)
USERSIG_LIFETIME = 86400  # the docs recommend at least 24 h (api-facts §5.3)
USERSIG_RENEW_BEFORE = 600
PACER_MARGIN = 0.010  # seconds added to the pacer's window: see Pacer


class ConfigurationError(ValueError):
    """Missing credentials or an unknown target: one line for the user, exit code 2."""


class TargetUnavailable(Exception):
    """The network or the target's front end failed after retries: an Error, never the target's Fail."""


class BudgetExhausted(TargetUnavailable):
    """The run reached its call budget (shared tenants)."""


@dataclass(frozen=True)
class Credentials:
    sdkappid: int
    identifier: str
    secret_key: str = field(repr=False)


@dataclass
class Target:
    kind: str  # "emulator", "url" or "region"
    name: str
    base_url: str
    transport: httpx.BaseTransport | None = None
    emulator: Any = None  # the embedded emulator, for the few controls the suite needs (rate-limit burst)
    custom_tags: tuple[str, ...] | None = None  # known when the suite configured the target itself

    @property
    def remote(self) -> bool:
        return self.kind != "emulator"

    def describe(self) -> str:
        return self.name if self.kind == "emulator" else f"{self.name} ({self.base_url})"


def credentials_from_env(env: Mapping[str, str], *, defaults: Credentials | None = None) -> Credentials:
    sdkappid, identifier, key = env.get(ENV_SDKAPPID), env.get(ENV_IDENTIFIER), env.get(ENV_SECRET_KEY)
    if defaults is not None:
        sdkappid = sdkappid or str(defaults.sdkappid)
        identifier = identifier or defaults.identifier
        key = key or defaults.secret_key
    missing = [name for name, value in ((ENV_SDKAPPID, sdkappid), (ENV_IDENTIFIER, identifier), (ENV_SECRET_KEY, key))
               if not value]
    if missing:
        raise ConfigurationError(f"missing credentials: set {', '.join(missing)} in the environment")
    if not sdkappid.isdigit() or not 0 < int(sdkappid) < 2**64:
        raise ConfigurationError(f"{ENV_SDKAPPID} must be an unsigned integer of at most 64 bits")
    return Credentials(int(sdkappid), identifier, key)


def base_url(text: str) -> str:
    """A target's base URL, checked: http or https, a host, a port that is a port, no query, fragment or
    credentials (the suite appends /v4/... and its own query). ConfigurationError otherwise."""
    from urllib.parse import urlsplit

    problem = None
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port that is no number or out of range
    except ValueError as exc:
        parts, port, problem = None, None, str(exc)
    if problem is None:
        if text != text.strip() or any(c.isspace() for c in text):
            problem = "it contains white space"
        elif parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "expected http(s)://HOST[:PORT][/PATH]"
        elif parts.query or parts.fragment or "?" in text or "#" in text:
            problem = "a base URL has no query or fragment"
        elif parts.username is not None or parts.password is not None:
            problem = "credentials go in the environment, not in the URL"
        elif port == 0:
            problem = "port 0 is no port to connect to"
    if problem is not None:
        raise ConfigurationError(f"--target {text!r}: {problem}")
    return text.rstrip("/")


def tls_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx's ``verify`` for a --ca-bundle path: a context that trusts it (httpx deprecates a path string).
    A file that holds no certificate is a ConfigurationError naming it."""
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(f"--ca-bundle {verify}: not a usable CA bundle ({exc})") from None


def custom_tags_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(t.strip() for t in env.get(ENV_CUSTOM_TAGS, "").split(",") if t.strip())


def resolve(name: str, spec: Spec, env: Mapping[str, str]) -> tuple[Target, Credentials]:
    """The target named on the command line (or $TIMCONFORM_TARGET) and its credentials."""
    if name == "emulator":
        return _embedded(env)
    if name.startswith(("http://", "https://")):
        return Target("url", name, base_url(name)), credentials_from_env(env)
    if name in spec.servers:
        return Target("region", name, spec.servers[name]), credentials_from_env(env)
    regions = ", ".join(sorted(spec.servers))
    raise ConfigurationError(f"unknown target {name!r}: use emulator, an http(s):// URL, or a region ({regions})")


def in_process(app: Any, env: Mapping[str, str], *, name: str = "in-process app",
               base_url: str = "http://emulator") -> tuple[Target, Credentials]:
    """Any ASGI app as a target, served in this process (an emulator under test, a mutant, a fake).

    ``base_url`` is the address the app is reached at (https:// for an app standing in for a TLS endpoint);
    the app is told the scheme, as a server behind it would be. The suite may switch the rate limit of a
    timconform emulator it finds in (or behind) the app; any other app is only sent requests."""
    from timconform.emulator import Emulator

    emulator = getattr(app, "emulator", app)
    return Target("emulator", name, base_url.rstrip("/"), AsgiBridge(app),
                  emulator if isinstance(emulator, Emulator) else None), credentials_from_env(env)


def _embedded(env: Mapping[str, str]) -> tuple[Target, Credentials]:
    # The one place the suite touches the emulator: to start it. The oracle never imports it.
    from timconform.emulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig

    creds = credentials_from_env(env, defaults=Credentials(DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY))
    # The suite configures this emulator itself, so it knows its custom tags: demo ones unless the user names some.
    tags = custom_tags_from_env(env) or EMBEDDED_CUSTOM_TAGS
    try:
        emulator = Emulator(EmulatorConfig(sdkappid=creds.sdkappid, admins=(creds.identifier,),
                                           secret_key=creds.secret_key, custom_tags=tags, rate_limit=None))
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_CUSTOM_TAGS}: {exc}") from None
    return Target("emulator", "emulator", "http://emulator", AsgiBridge(emulator), emulator, tags), creds


class Pacer:
    """Client-side sliding window: never more than ``qps`` calls in any window of one second plus a margin.

    The margin absorbs the difference between when a call leaves here and when the target counts it (a
    fresh connection's first call took 7 ms on loopback): without it, bench/rate_limit_precision.py saw 4-6
    rate-limit answers per 2,000 calls at 200/s; with 10 ms, none in 6,000, at 99% of the ceiling.
    """

    def __init__(self, qps: float | None, *, margin: float = PACER_MARGIN) -> None:
        # Under 1 call/s (e.g. 0.5), one call per 1/qps seconds; never 0, which would turn pacing off.
        self._qps = max(1, int(qps)) if qps else 0
        self._window = (max(1.0, 1.0 / qps) if qps else 1.0) + margin
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._qps:
            return
        with self._lock:
            now = time.monotonic()
            while self._calls and now - self._calls[0] >= self._window:
                self._calls.popleft()
            if len(self._calls) >= self._qps:
                time.sleep(self._window - (now - self._calls[0]))
                now = time.monotonic()
                self._calls.popleft()
            self._calls.append(now)


class UserSigSource:
    """The run's UserSig: made once, renewed ahead of expiry, registered with the redactor."""

    def __init__(self, creds: Credentials, redactor: Redactor, *, lifetime: int = USERSIG_LIFETIME) -> None:
        self._creds, self._redactor, self._lifetime = creds, redactor, lifetime
        self._sig, self._expires = "", 0.0
        self._lock = threading.Lock()
        # A target that refuses a UserSig it has seen (FI-AUTH-USERSIG-REUSE) gets a new one for every call;
        # the lifetime differs by a second each time, so two made within one second differ too.
        self.fresh_per_call = False
        self._made = itertools.count(1)  # never the lifetime of the shared UserSig
        # How each UserSig was made, never what it is: a cassette names these, and a replay makes their like.
        self.described: dict[str, dict[str, Any]] = {}

    def current(self) -> str:
        with self._lock:
            if self.fresh_per_call:
                return self.make(self._creds.identifier, lifetime=self._lifetime + next(self._made))
            if time.time() > self._expires - USERSIG_RENEW_BEFORE:
                self._sig = self.make(self._creds.identifier, lifetime=self._lifetime)
                self._expires = time.time() + self._lifetime
            return self._sig

    def make(self, identifier: str, *, sdkappid: int | None = None, key: str | None = None,
             lifetime: int = USERSIG_LIFETIME, now: int | None = None) -> str:
        sig = usersig.generate(sdkappid if sdkappid is not None else self._creds.sdkappid, identifier,
                               key if key is not None else self._creds.secret_key, expire=lifetime, now=now)
        self._redactor.add(sig)
        self.described[sig] = {"identifier": identifier, "sdkappid": sdkappid, "expire": lifetime,
                               "key": "app" if key is None or key == self._creds.secret_key else "other",
                               "age": None if now is None else max(0, int(time.time()) - now)}
        return sig


@dataclass(frozen=True)
class Sent:
    """One request as it left, secrets and all: only a tap that knows how to redact it sees this."""

    operation: str
    method: str
    path: str
    query: str
    content: bytes
    headers: dict[str, str]
    elsewhere: str | None  # a base URL other than the target's (FI-HTTPS-ONLY's plain-HTTP probe)
    fresh_random: bool  # the client drew ``random`` itself (a replay draws its own)
    body: Any = None  # the object the body was made from, when it was made from one


@dataclass
class Reply:
    """What came back, with the redacted exchange kept as evidence."""

    exchange: Exchange
    status: int
    body: Any  # parsed JSON, or None when the body is not JSON
    raw: httpx.Response | None = None

    @property
    def envelope(self) -> dict | None:
        """The body when it is the REST envelope inside HTTP 200 (ActionStatus OK or FAIL, an integer
        ErrorCode); None otherwise. Only an envelope is an acceptance or a refusal with a code: an HTTP 422
        with some JSON object is neither (FI-HTTP-200, FI-ENVELOPE-SHAPE judge it)."""
        body = self.body
        if self.status != 200 or not isinstance(body, dict):
            return None
        if body.get("ActionStatus") not in ("OK", "FAIL") or type(body.get("ErrorCode")) is not int:
            return None
        return body

    @property
    def ok(self) -> bool:
        envelope = self.envelope
        return envelope is not None and envelope["ActionStatus"] == "OK" and envelope["ErrorCode"] == 0

    @property
    def error_code(self) -> int | None:
        envelope = self.envelope
        return envelope["ErrorCode"] if envelope is not None else None

    def describe(self) -> str:
        """What came back, in a few words, for a Received: clause."""
        if self.exchange.error is not None:
            return f"no answer ({self.exchange.error})"
        envelope = self.envelope
        if envelope is not None:
            return f"ActionStatus {envelope['ActionStatus']}, ErrorCode {envelope['ErrorCode']}"
        excerpt = " ".join(self.exchange.response_body[:120].split()) or "an empty body"
        kind = "a JSON body that is not the envelope" if self.body is not None else "a body that is not JSON"
        return f"HTTP {self.status} with {kind}: {excerpt!r}"


class Client:
    """Sends operations of openapi.yaml to the target the way a careful client would."""

    def __init__(self, target: Target, creds: Credentials, spec: Spec, redactor: Redactor, *,
                 qps: float | None = None, budget: int | None = None, timeout: float = 10.0,
                 verify: bool | str = True) -> None:
        self.target, self.creds, self.spec, self.redactor = target, creds, spec, redactor
        redactor.add(creds.secret_key)
        self.usersigs = UserSigSource(creds, redactor)
        self._pacer = Pacer(qps if target.remote else None)
        self._budget = budget
        self.calls = 0
        self.codes: Counter[int] = Counter()  # every non-zero code answered, by code
        self._calls_lock = threading.Lock()
        self._unreachable: str | None = None
        self.tap: Any = None  # sees every request as sent and its reply (a cassette: parity/cassette.py)
        self._rate_codes = frozenset(c.code for c in spec.codes.values() if c.klass == "rate-limit")
        # TCP_NODELAY: httpcore writes headers and body separately, and Nagle's algorithm meeting the
        # server's delayed ACK stalls every call by ~40 ms (measured on loopback).
        transport = target.transport or httpx.HTTPTransport(
            verify=tls_verify(verify), socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(base_url=target.base_url, transport=transport, timeout=timeout,
                                  headers={"Content-Type": "application/json"})

    def close(self) -> None:
        self._http.close()
        if self.target.transport is not None:
            self.target.transport.close()

    def query(self, **overrides: Any) -> dict[str, Any]:
        query = {"sdkappid": self.creds.sdkappid, "identifier": self.creds.identifier,
                 "usersig": self.usersigs.current(), "random": secrets.randbelow(2**32), "contenttype": "json"}
        query.update(overrides)
        return {k: v for k, v in query.items() if v is not None}

    def call(self, operation: str, body: Any = None, *, raw: bytes | None = None, query: Mapping[str, Any] | None = None,
             raw_query: str | None = None, method: str = "POST", path: str | None = None,
             headers: Mapping[str, str] | None = None, retry_rate_limit: bool = True,
             base_url: str | None = None) -> Reply:
        """Send one request; retry network trouble and rate-limit answers; raise TargetUnavailable past that.

        ``base_url`` sends this one request elsewhere than the target (FI-HTTPS-ONLY's plain-HTTP probe):
        it is sent once, and whatever happens to it is returned, never retried nor held against the target."""
        if self._unreachable is not None:
            raise TargetUnavailable(self._unreachable)
        path = path or self.spec.operations[operation].path
        content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempt = 0
        while True:
            query_string = raw_query if raw_query is not None else urlencode(self.query(**(query or {})))
            sent = Sent(operation, method, path, query_string, content, {"Content-Type": "application/json", **(headers or {})},
                        base_url,
                        fresh_random=raw_query is None and "random" not in (query or {}), body=body)
            reply = self._send(operation, method, f"{path}?{query_string}", content, headers, base_url)
            retryable = reply.status in RETRY_STATUSES or reply.exchange.error is not None or (
                retry_rate_limit and reply.error_code in self._rate_codes)
            if self.tap is not None:  # an attempt that is retried is told apart: a replay sends only the last
                self.tap(sent, reply, retried=retryable and base_url is None and attempt < len(RETRY_DELAYS))
            if not retryable or base_url is not None:
                return reply
            if attempt >= len(RETRY_DELAYS):
                why = f"{operation}: {reply.exchange.error or self._why(reply)} after {attempt + 1} attempts"
                if reply.exchange.error is not None or reply.status in RETRY_STATUSES:
                    # The network or the front end is down: later calls fail at once instead of retrying again.
                    self._unreachable = f"target unreachable ({why})"
                raise TargetUnavailable(why)
            time.sleep(RETRY_DELAYS[attempt])
            attempt += 1

    def send(self, operation: str, method: str, path_and_query: str, content: bytes,
             headers: Mapping[str, str] | None = None) -> Reply:
        """One request exactly as given (a replay's): paced and counted, never retried. No answer at all (nothing
        listening, a timeout) is TargetUnavailable: the network's fault, never the target's answer."""
        if self._unreachable is not None:
            raise TargetUnavailable(self._unreachable)
        reply = self._send(operation, method, path_and_query, content, headers)
        if reply.exchange.error is not None:
            self._unreachable = f"target unreachable ({operation}: {reply.exchange.error})"
            raise TargetUnavailable(self._unreachable)
        return reply

    def _why(self, reply: Reply) -> str:
        if reply.status in RETRY_STATUSES:
            return f"HTTP {reply.status}"
        return f"rate-limit code {reply.error_code}"

    def _send(self, operation: str, method: str, url: str, content: bytes, headers: Mapping[str, str] | None,
              base_url: str | None = None) -> Reply:
        with self._calls_lock:
            if self._budget is not None and self.calls >= self._budget:
                raise BudgetExhausted(f"the call budget of {self._budget} calls is spent")
            self.calls += 1
        self._pacer.wait()
        request_headers = dict(self._http.headers)
        request_headers.update(headers or {})
        base_url = base_url or self.target.base_url
        exchange = Exchange(operation=operation, method=method, url=self.redactor.url(f"{base_url}{url}"),
                            headers={k: v for k, v in request_headers.items() if k.lower() == "content-type"},
                            body=self.redactor.text(content.decode("utf-8", "replace")))
        started = time.perf_counter()
        try:
            # An absolute URL: httpx parses a relative one and then the merged one again (~10% of an in-process call).
            response = self._http.request(method, f"{base_url}{url}", content=content, headers=headers)
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {self.redactor.text(str(exc)) or 'no detail'}"
            exchange.elapsed_ms = (time.perf_counter() - started) * 1000
            return Reply(exchange, 0, None)
        exchange.elapsed_ms = (time.perf_counter() - started) * 1000
        exchange.status = response.status_code
        exchange.response_headers = {k: v for k, v in response.headers.items() if k.lower() == "content-type"}
        exchange.response_body = self.redactor.text(response.text)
        try:
            parsed = response.json()
        except (ValueError, RecursionError):
            parsed = None
        reply = Reply(exchange, response.status_code, parsed, response)
        self._count_codes(reply)
        return reply

    def _count_codes(self, reply: Reply) -> None:
        """Every code the target answered, request level and per item, whatever the operation: the report's
        coverage counts a code as elicited whichever rule's call drew it."""
        envelope = reply.envelope
        if envelope is None:
            return
        found = [envelope["ErrorCode"]] if envelope["ErrorCode"] else []
        for key in ("ResultItem", "InfoItem"):
            entries = envelope.get(key)
            found += [e["ResultCode"] for e in entries if isinstance(e, dict) and type(e.get("ResultCode")) is int
                      and e["ResultCode"]] if isinstance(entries, list) else []
        if found:
            with self._calls_lock:
                self.codes.update(found)

    @contextmanager
    def unpaced(self):
        """Lift the client-side pacing (the rate-limit burst must exceed the documented limit)."""
        pacer, self._pacer = self._pacer, Pacer(None)
        try:
            yield
        finally:
            self._pacer = pacer
