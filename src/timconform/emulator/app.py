"""The HTTP layer: Starlette requests in, HTTP 200 envelopes out. It only translates.

Everything under /v4/ is the REST API; /_timconform/ is the control plane (reset, fault plan,
recorded requests, health), for loopback clients holding the start's token only (control.py).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from timconform import spec as spec_module
from timconform import usersig
from timconform.emulator import behaviour as behaviour_module
from timconform.emulator import control
from timconform.emulator import faults as faults_module
from timconform.emulator import preload
from timconform.emulator.codes import BAD_URL, SDKAPPID_MISMATCH
from timconform.emulator.config import DOCUMENTED, EmulatorConfig
from timconform.emulator.envelope import Envelopes, dumps
from timconform.emulator.errors import ApiError
from timconform.emulator.gateway import (RANDOM_MEMORY, GatewayCodes, Query, RandomMemory, decode_body, parse_query,
                                         refuse_unknown_params)
from timconform.emulator.model import App, Limits, Model
from timconform.emulator.operations import HANDLERS, WRITES, Call
from timconform.emulator.ratelimit import SlidingWindowLimiter
from timconform.emulator.redis_shared import (MemoryHolds, RedisFaultPlans, RedisHolds, RedisLimiter,
                                              RedisRandomMemory, RedisRecordings)
from timconform.emulator.redis_store import PREFIX
from timconform.emulator.validation import ImportValidator

log = logging.getLogger("timconform.emulator")
JSON_TYPE = "application/json; charset=utf-8"
_JSON_TYPE_BYTES = JSON_TYPE.encode("latin-1")
_CONTENT_TYPE_HEADER = behaviour_module.SEMANTIC_SWITCHES["content_type_header"]
_CONCURRENT_WRITE = behaviour_module.SEMANTIC_SWITCHES["concurrent_write"]
CONTROL_PREFIX = control.CONTROL_PREFIX
_REST_PATH = re.compile(r"/v4/[^/]+/[^/]+")  # /v4/<service>/<command>: routed after the signature
MAX_PLAN_BYTES = 1 << 20  # a fault plan sent to the control plane
RECORD_TEXT_BYTES = 16 * 1024  # --record keeps this much of each body and answer
SECOND_MARGIN = 0.02  # past the second boundary, so that a clock read at once afterwards is in the next second


class Emulator:
    """A faithful friend_import service: state model, gateway checks, faults; an ASGI app."""

    def __init__(self, config: EmulatorConfig | None = None, *, spec: spec_module.Spec | None = None,
                 load_state: bool = True) -> None:
        """``load_state=False``: a worker of a shared store, whose parent put ``config.accounts`` and
        ``config.faults`` there once before the workers started (a reset loads the accounts again)."""
        self.config = config = config or EmulatorConfig()
        self.spec = spec = spec or spec_module.load()
        self.behaviour = behaviour_module.load(spec, config.behaviour)
        limit = spec.limit
        batch = {"multiaccount_import": limit("multiaccount_import_accounts"),
                 "account_check": limit("account_check_items"), "account_delete": limit("account_delete_items"),
                 "friend_check": limit("friend_check_items"), "friend_get_list": limit("friend_check_items"),
                 "friend_delete": limit("friend_delete_items")}
        self.model = Model(self.behaviour, Limits(friends_per_user=limit("friends_per_user"),
                                                  friend_lists_per_user=limit("friend_lists_per_user"),
                                                  free_trial_accounts=limit("free_trial_accounts"), batch=batch),
                           store=_store(config.store))
        _check_custom_tags(spec, config.custom_tags)
        self.app_state = self.model.add_app(App(config.sdkappid, config.secret_key, config.admins,
                                                custom_tags=config.custom_tags, edition=config.edition))
        for extra in config.apps:  # each app's state apart, as moto keeps one backend per account
            if extra.sdkappid in self.model.apps:
                raise ValueError(f"--app {extra.sdkappid}: that SDKAppID is served already")
            self.model.add_app(App(extra.sdkappid, extra.secret_key, extra.admins, custom_tags=config.custom_tags,
                                   edition=config.edition))
        self.verifier = usersig.Verifier(self._secret_key, clock=config.clock)
        self.envelopes = Envelopes(spec)
        self.validator = ImportValidator(spec, self.behaviour)
        self.codes = GatewayCodes(spec, self.behaviour)
        self._operations = {op.path: op for op in spec.operations.values()}  # spec.operation_by_path's index
        self.control_token = config.control_token or control.new_token()
        shared = getattr(self.model.store, "redis", None)
        self._threaded = shared is not None  # a Redis store's calls block: off the event loop
        if shared is None:
            self.limiter = SlidingWindowLimiter(clock=config.monotonic)
            self.randoms = RandomMemory()
            self.recorded = collections.deque(maxlen=config.record_limit)
            self._holds = MemoryHolds()
            self._shared_faults = None
        else:  # one service over many processes: what the gateway remembers is in Redis too (redis_shared.py)
            service = f"{PREFIX}-service:{config.sdkappid}:"
            self.limiter = RedisLimiter(shared, f"{PREFIX}:", clock=config.clock)
            self.randoms = RedisRandomMemory(shared, f"{PREFIX}:", RANDOM_MEMORY)
            self.recorded = RedisRecordings(shared, service, config.record_limit)
            self._holds = RedisHolds(shared, f"{PREFIX}:")
            self._shared_faults = RedisFaultPlans(shared, service, self._parse_faults)
        if load_state or self._shared_faults is None:
            self.faults = self._fault_plan(config.faults)
        if config.accounts is not None and load_state:
            preload.load(self.model, self.app_state, config.accounts, self.validator)

    # -- public helpers -------------------------------------------------------------------------

    def usersig(self, identifier: str | None = None, *, expire: int = 86400, sdkappid: int | None = None) -> str:
        """A valid UserSig for one of this emulator's apps (its own by default; its first admin by default), dated
        by the emulator's clock."""
        app = self.model.apps[self.config.sdkappid if sdkappid is None else sdkappid]
        first_admins = {extra.sdkappid: extra.admins[0] for extra in self.config.apps}
        admin = identifier or first_admins.get(app.sdkappid, self.config.admins[0])
        return usersig.generate(app.sdkappid, admin, app.secret_key, expire=expire, now=int(self.config.clock()))

    def reset(self, sdkappid: int | None = None) -> None:
        """Forget the accounts, friendships, rate windows and randoms of one app (this emulator's own, or
        ``sdkappid``: never another's), and keep the configuration. Without ``sdkappid``, the service's
        recordings and fault counts are forgotten too."""
        app = self.model.apps[self.config.sdkappid if sdkappid is None else sdkappid]
        self.model.store.clear(app)
        self.limiter.forget(app.sdkappid)
        self.randoms.forget(app.sdkappid)
        if sdkappid is None:
            self.recorded.clear()
            self.faults = faults_module.FaultPlan(self.faults.faults)
        if self.config.accounts is not None and app is self.app_state:
            preload.load(self.model, self.app_state, self.config.accounts, self.validator)

    @property
    def faults(self) -> faults_module.FaultPlan:
        return self._faults if self._shared_faults is None else self._shared_faults.current()

    @faults.setter
    def faults(self, plan: faults_module.FaultPlan) -> None:
        if self._shared_faults is None:
            self._faults = plan
        else:
            self._shared_faults.install(plan, plan.data())

    def install_faults(self, data: Any) -> None:
        self.faults = self._parse_faults(data)

    def _parse_faults(self, data: Any) -> faults_module.FaultPlan:
        return faults_module.parse(data, known_codes=self.spec.codes, operations=self.spec.operations)

    def _fault_plan(self, source: Any) -> faults_module.FaultPlan:
        if source is None:
            return faults_module.FaultPlan()
        if isinstance(source, faults_module.FaultPlan):
            return source
        return faults_module.load(source, known_codes=self.spec.codes, operations=self.spec.operations)

    def _secret_key(self, sdkappid: int) -> str | None:
        app = self.model.apps.get(sdkappid)
        return app.secret_key if app is not None else None

    def _rate(self, operation: str) -> int | None:
        setting = self.config.rate_limit
        if setting is None:
            return None
        if setting == DOCUMENTED:
            return self.spec.operations[operation].rate_per_second
        return int(setting)

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await _lifespan(receive, send)
            return
        if scope["path"].startswith(CONTROL_PREFIX):
            response = await self._control(Request(scope, receive))
        else:
            response = await self._serve(scope, receive)
        await response(scope, receive, send)

    async def _serve(self, scope, receive) -> Response | _JsonAnswer:
        # The REST path reads the raw ASGI scope: no Starlette Request, and never request.url, whose building
        # decodes the query string as strict UTF-8 and raises on a stray byte (a malformed query would become
        # an HTTP 500).
        path = scope["path"]
        record = {"time": time.time(), "method": scope["method"], "path": path} if self.config.record else None
        operation = ""
        try:
            op = self._operations.get(path)
            operation = op.name if op is not None else ""
            operation, payload = await self._handle(scope, receive, op, record)
            response = self._respond(payload)
        except ApiError as error:
            operation = getattr(error, "operation", operation)
            response = self._respond(self.envelopes.fail(operation, error.code, error.info))
        except _RawAnswer as answer:
            response = answer.response
        except ClientDisconnect:
            # The client left before sending the whole body: nothing was processed and nobody reads the
            # answer. Not an emulator error, so no traceback in the log.
            log.info("client disconnected while sending %s", path)
            response = Response(b"", status_code=200)
        except Exception:  # noqa: BLE001 - an emulator bug must still answer in the documented way
            log.exception("internal error while serving %s", path)
            response = self._respond(self.envelopes.fail(operation, self.codes.internal))
        if record is not None:
            record["status"] = response.status_code
            record["response"] = _cut(response.body)
            self.recorded.append(record)
        return response

    async def _handle(self, scope, receive, op, record: dict | None) -> tuple[str, dict[str, Any]]:
        """The gateway's checks in the documented order (module docstring of gateway.py), then the operation.

        One coroutine for the whole hot path: each extra coroutine layer costs a measurable share of a
        1-item import."""
        if record is not None:
            request = Request(scope, receive)
            record["query"] = _redacted_query(request)
            record["headers"] = {k: v for k, v in request.headers.items()}
        if op is None and not _REST_PATH.fullmatch(scope["path"]):
            raise ApiError(BAD_URL)  # no REST command path at all (the domain's root, say): "HTTP parse Error"
        operation = op.name if op is not None else ""
        try:
            query, app = self._authenticate(scope, record)
            if op is None:
                raise ApiError(self.codes.unknown_command)
            if scope["method"] != "POST":
                raise ApiError(self.codes.method)
            self._admit(scope, operation, query)
            # Counted only now: a fault stands for trouble behind the gateway, so a call the gateway refused
            # (a missing random, a bad UserSig) never consumes it, and the client is sure to meet it.
            shared = self._shared_faults
            faults = self._faults.next_call(operation) if shared is None else shared.next_call(operation)
            item_faults = await self._apply_faults(faults) if faults else ()
            cap = self.config.max_body_bytes
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                raw = message.get("body", b"")  # the whole body in one message: the usual case
                if len(raw) > cap:
                    raise ApiError(self.codes.body_size, f"The request body is larger than {cap} bytes")
            else:
                raw = await _read_capped(receive, cap, self.codes.body_size, message)
            if record is not None:
                record["body"] = _cut(raw)
            call = Call(self.model, app, self.envelopes, self.validator, item_faults)
            handler = HANDLERS[operation]
            body = decode_body(raw, self.codes)
            if operation not in WRITES or self.behaviour.outcomes[_CONCURRENT_WRITE] == "serialised":
                payload = await asyncio.to_thread(handler, call, body) if self._threaded else handler(call, body)
            else:
                payload = await self._run_holding(handler, call, body)
            if faults and any(f.action == "old-shape" for f in faults) and operation == "friend_import":
                payload = _old_shape(payload)
            return operation, payload
        except ApiError as error:
            raise _OperationError(operation, error.code, error.info) from None

    def _authenticate(self, scope, record: dict | None) -> tuple[Query, App]:
        """The gateway's first checks, in order: the query's documented parameters, SDKAppID, UserSig, admin.
        Plain function calls: no coroutine layer on the hot path."""
        query = parse_query(scope["query_string"], self.codes, self.behaviour)
        app = self.model.apps.get(query.sdkappid)
        if app is None:
            raise ApiError(self.codes.sdkappid_unknown)
        try:
            self.verifier.verify(query.usersig, query.sdkappid, query.identifier)
        except usersig.UserSigError as error:
            if record is not None:
                record["usersig"] = error.reason.name
            raise ApiError(self.codes.usersig[error.reason]) from None
        if record is not None:
            record["usersig"] = "valid"
        if query.identifier not in app.admins:
            raise ApiError(self.codes.admin)
        return query, app

    def _admit(self, scope, operation: str, query: Query) -> None:
        """The checks after the signature, the command and the method: unknown query parameters, rate, random,
        Content-Type."""
        refuse_unknown_params(query, self.codes, self.behaviour)
        rate = self._rate(operation)
        if rate is not None and not self.limiter.admit((query.sdkappid, operation), rate):
            raise ApiError(self.codes.rate_limit)
        if self.codes.random_reuse and self.randoms.seen_before(query.sdkappid, query.random):
            raise ApiError(self.codes.random_reuse, "random was used before")
        if self.behaviour.outcomes[_CONTENT_TYPE_HEADER] != "accept-any" and \
                not _header(scope, b"content-type").startswith("application/json"):
            raise ApiError(self.codes.content_type_header, "Content-Type must be application/json")

    async def _apply_faults(self, faults) -> tuple:
        for fault in faults:
            if fault.after_second:  # the answer leaves in a later second of the emulator's clock than the call came
                now = self.config.clock()
                await asyncio.sleep(int(now) + 1 - now + SECOND_MARGIN)
            if fault.action == "delay":
                await asyncio.sleep(fault.seconds)
        for fault in faults:
            if fault.action == "http":
                raise _RawAnswer(Response(fault.body, status_code=fault.status, media_type="text/plain"))
            if fault.action == "non-json":
                raise _RawAnswer(Response(fault.body, status_code=200, media_type="text/html"))
            if fault.action == "code" and fault.level == "request":
                raise ApiError(fault.code)
        return tuple(f for f in faults if f.action == "code" and f.level == "item")

    async def _run_holding(self, handler, call: Call, body: Any) -> dict[str, Any]:
        """Conflict mode: a write holds its user for a moment; an overlapping write to the same user gets 30008."""
        user = body.get("From_Account") if isinstance(body, dict) else None
        key = (call.app.sdkappid, user if isinstance(user, str) else "")
        if not self._holds.take(key):
            raise ApiError(self.codes.write_conflict)
        try:
            await asyncio.sleep(self.config.write_hold_seconds)
            return await asyncio.to_thread(handler, call, body) if self._threaded else handler(call, body)
        finally:
            self._holds.release(key)

    def _respond(self, payload: dict[str, Any]) -> _JsonAnswer:
        return _JsonAnswer(dumps(payload))

    # -- control plane --------------------------------------------------------------------------

    async def _control(self, request: Request) -> Response:
        client = request.scope.get("client")
        headers = request.headers
        has_body = int(headers.get("content-length") or 0) > 0 or "transfer-encoding" in headers
        why = control.refusal(peer=client[0] if client else None, method=request.method, headers=headers,
                              token=self.control_token, has_body=has_body)
        if why is not None:
            return JSONResponse({"error": why}, status_code=415 if "application/json" in why else 403)
        action = request.scope["path"][len(CONTROL_PREFIX):].strip("/")
        method = request.method
        try:
            app = self._app_named(request.query_params.get("sdkappid"))
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        if action == "state" and method == "GET":
            store = self.model.store
            friends = store.friendships(app)
            return JSONResponse({"sdkappid": app.sdkappid, "accounts": sorted(store.account_ids(app)),
                                 "friendships": sum(len(t) for t in friends.values()),
                                 "friends": {owner: sorted(t) for owner, t in sorted(friends.items()) if t}})
        if action == "health" and method == "GET":
            return JSONResponse({"ok": True, "sdkappid": self.config.sdkappid})
        if action == "reset" and method == "POST":
            self.reset(app.sdkappid if "sdkappid" in request.query_params else None)
            return JSONResponse({"ok": True})
        if action == "faults" and method == "GET":
            return JSONResponse(self.faults.describe())
        if action == "faults" and method in ("PUT", "POST"):
            return await self._put_faults(request)
        if action == "faults" and method == "DELETE":
            self.faults = faults_module.FaultPlan()
            return JSONResponse({"ok": True})
        if action == "requests" and method == "GET":
            return JSONResponse({"requests": list(self.recorded), "kept": self.recorded.maxlen})
        if action == "requests" and method == "DELETE":
            self.recorded.clear()
            return JSONResponse({"ok": True})
        return JSONResponse({"error": f"no control action {method} {action!r}"}, status_code=404)


    def _app_named(self, text: str | None) -> App:
        """The app a control request names with ``?sdkappid=`` (this emulator's own when it names none)."""
        if text is None:
            return self.app_state
        app = self.model.apps.get(int(text)) if text.isdigit() else None
        if app is None:
            raise LookupError(f"this emulator serves no app {text!r}; it serves {sorted(self.model.apps)}")
        return app

    async def _put_faults(self, request: Request) -> Response:
        """A fault plan over HTTP: installed, or a JSON error (400) naming the problem; never a 500."""
        raw = await request.body()
        try:
            if len(raw) > MAX_PLAN_BYTES:
                raise ValueError(f"a fault plan is at most {MAX_PLAN_BYTES} bytes")
            self.install_faults(json.loads(raw))
        except (ValueError, faults_module.FaultPlanError) as exc:
            return JSONResponse({"error": " ".join(str(exc).split())[:300]}, status_code=400)
        except RecursionError:
            return JSONResponse({"error": "the fault plan is nested too deeply"}, status_code=400)
        return JSONResponse(self.faults.describe())


class _RawAnswer(Exception):
    """A fault that answers outside the envelope (HTTP 502, a non-JSON body)."""

    def __init__(self, response: Response) -> None:
        self.response = response


class _OperationError(ApiError):
    """An ApiError that knows which operation it answers, so the envelope gets the right fields."""

    def __init__(self, operation: str, code: int, info: str | None) -> None:
        super().__init__(code, info)
        self.operation = operation


class _JsonAnswer:
    """An HTTP 200 JSON answer: the two ASGI messages Starlette's Response(body, media_type=JSON_TYPE) sends,
    byte for byte and header for header, without building a Response per call."""

    __slots__ = ("body", "raw_headers")
    status_code = 200

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode("latin-1")), (b"content-type", _JSON_TYPE_BYTES)]

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def _header(scope, name: bytes) -> str:
    """The first value of header ``name`` (lower case), as Starlette's request.headers.get(name, "") reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


async def _read_capped(receive, cap: int, code: int, message: dict) -> bytes:
    """The whole body, as Starlette's request.stream() reads it (from ``message`` on), refused with ``code``
    past ``cap`` bytes."""
    chunks, size = [], 0
    while True:
        kind = message["type"]
        if kind == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > cap:
                    raise ApiError(code, f"The request body is larger than {cap} bytes")
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif kind == "http.disconnect":
            raise ClientDisconnect()
        message = await receive()


def _old_shape(payload: dict[str, Any]) -> dict[str, Any]:
    """The older documented shape: Fail_Account always present, and Invalid_Account listing the users whose
    SDKAppID does not match (30002), apart from Fail_Account, as an older version of the page defines it and its
    sample shows (Fail_Account ["id2"], Invalid_Account ["id3"]; real-evidence.md, DOC, old version)."""
    items = payload.get("ResultItem", [])
    invalid = [i["To_Account"] for i in items if i["ResultCode"] == SDKAPPID_MISMATCH]
    failed = [a for a in payload.get("Fail_Account", []) if a not in invalid]
    out = {"ResultItem": items, "Fail_Account": failed, "Invalid_Account": invalid}
    out.update((k, v) for k, v in payload.items() if k not in out)
    return out


def _cut(data: bytes) -> str:
    """A recorded body or answer: whole up to RECORD_TEXT_BYTES, else its start and how long it was."""
    if len(data) <= RECORD_TEXT_BYTES:
        return data.decode("utf-8", "replace")
    return data[:RECORD_TEXT_BYTES].decode("utf-8", "replace") + f"... [{len(data)} bytes, cut]"


def _redacted_query(request: Request) -> dict[str, str]:
    return {k: ("<redacted>" if k == "usersig" else v) for k, v in request.query_params.multi_items()}


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _store(url: str | None):
    if url is None:
        return None
    from timconform.emulator.redis_store import RedisStore

    return RedisStore.from_url(url)


def _check_custom_tags(spec: spec_module.Spec, tags) -> None:
    """Configured tags keep the form and count of FI-LIMIT-CUSTOM-TAG-FORM and FI-LIMIT-CUSTOM-TAG-CONFIGURED."""
    form = re.compile(r"Tag_SNS_Custom_[A-Za-z]{1,%d}" % spec.limit("custom_tag_keyword_letters"))
    bad = [tag for tag in tags if not isinstance(tag, str) or not form.fullmatch(tag)]
    if bad:
        raise ValueError(f"custom tag {bad[0]!r} is not Tag_SNS_Custom_ followed by 1 to 8 letters")
    if len(set(tags)) > spec.limit("custom_tags_per_app"):
        raise ValueError(f"an app has at most {spec.limit('custom_tags_per_app')} custom friend tags")


def create_app(config: EmulatorConfig | None = None) -> Emulator:
    return Emulator(config)
