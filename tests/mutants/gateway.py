"""Mutants at the REST gateway: HTTP status, request decoding, query parameters, UserSig, admin, rate limit."""

from __future__ import annotations

import contextvars
import json

from timconform import usersig
from tests.mutants.base import FRIEND_IMPORT, Answer, Exchange, Wrapped, mutant

RATE_LIMIT_CODES = (60007, 60011, 60018, 60019)
# Per request (each ASGI request runs in its own task, with its own copy of the context): whether the
# limiter refused it.
_OVER_LIMIT: contextvars.ContextVar[dict] = contextvars.ContextVar("over_limit")


# -- HTTP and body decoding -----------------------------------------------------------------------------


@mutant("http-400-for-invalid-json", "FI-HTTP-200")
def http_400_for_invalid_json(emulator):
    """A body that is not JSON gets HTTP 400 from the web framework instead of HTTP 200 with 60003."""

    def check(exchange: Exchange):
        if exchange.body.strip():
            try:
                json.loads(exchange.body)
            except (ValueError, RecursionError):
                return Answer(400, b"Bad Request")
        return None

    return Wrapped(emulator, on_request=check)


@mutant("http-500-on-internal-error", "FI-HTTP-200")
def http_500_on_internal_error(emulator):
    """An internal error (the recursive JSON parser overflowing on deep nesting) escapes as HTTP 500."""

    def check(exchange: Exchange):
        try:
            json.loads(exchange.body)
        except RecursionError:
            return Answer(500, b"Internal Server Error")
        except ValueError:
            pass
        return None

    return Wrapped(emulator, on_request=check)


@mutant("http-429-over-rate-limit", "FI-RATE-LIMIT-200")
def http_429_over_rate_limit(emulator):
    """A call over the rate limit is answered HTTP 429 (with the 60007 envelope) instead of HTTP 200."""

    def hook(exchange: Exchange, status: int, body):
        if isinstance(body, dict) and body.get("ErrorCode") in RATE_LIMIT_CODES:
            return 429, body
        return None

    return Wrapped(emulator, on_response=hook, paths=None)


@mutant("json-parse-60002", "FI-JSON-PARSE-60003")
def json_parse_60002(emulator):
    """Invalid JSON is answered 60002 instead of 60003 (the Java SDK's mix-up, api-facts §2.1)."""
    emulator.codes.json_parse = 60002


@mutant("empty-body-as-empty-object", "FI-EMPTY-BODY")
def empty_body_as_empty_object(emulator):
    """An empty body is read as {} and refused for its missing fields (30001) instead of 60003."""

    def fill(exchange: Exchange):
        if not exchange.body.strip():
            exchange.body = b"{}"
        return None

    return Wrapped(emulator, on_request=fill)


@mutant("non-utf8-body-read-as-latin1", "FI-NON-UTF8-BODY")
def non_utf8_body_read_as_latin1(emulator):
    """A body that is not UTF-8 is decoded as ISO-8859-1 (a servlet default) instead of being refused."""

    def recode(exchange: Exchange):
        try:
            exchange.body.decode("utf-8")
        except UnicodeDecodeError:
            exchange.body = exchange.body.decode("latin-1").encode("utf-8")
        return None

    return Wrapped(emulator, on_request=recode)


# -- URL and query --------------------------------------------------------------------------------------


@mutant("get-served-as-post", "FI-METHOD-POST")
def get_served_as_post(emulator):
    """GET is routed like POST: a GET with a body imports."""

    def route(exchange: Exchange):
        if exchange.method == "GET":
            exchange.scope = {**exchange.scope, "method": "POST"}
        return None

    return Wrapped(emulator, on_request=route)


@mutant("command-matched-by-last-segment", "FI-UNKNOWN-COMMAND")
def command_matched_by_last_segment(emulator):
    """The router matches the command by its last path segment: /v4/any_service/friend_import imports."""

    def route(exchange: Exchange):
        if exchange.path.endswith("/friend_import"):
            exchange.scope = {**exchange.scope, "path": FRIEND_IMPORT, "raw_path": FRIEND_IMPORT.encode()}
        return None

    return Wrapped(emulator, on_request=route)


@mutant("contenttype-never-read", "FI-CONTENTTYPE-PARAM", "FI-QUERY-MISSING")
def contenttype_never_read(emulator):
    """The contenttype parameter is never read: missing or contenttype=xml is served as JSON."""

    def ignore(exchange: Exchange):
        pairs = [(k, v) for k, v in exchange.query_pairs if k != "contenttype"]
        exchange.set_query([*pairs, ("contenttype", "json")])
        return None

    return Wrapped(emulator, on_request=ignore)


@mutant("query-names-case-insensitive", "FI-QUERY-CASE-SENSITIVE")
def query_names_case_insensitive(emulator):
    """Query parameter names are matched case-insensitively: SDKAppID= counts as sdkappid=."""

    def fold(exchange: Exchange):
        exchange.set_query([(k.lower(), v) for k, v in exchange.query_pairs])
        return None

    return Wrapped(emulator, on_request=fold)


@mutant("sdkappid-missing-60002", "FI-SDKAPPID-MISSING-60012")
def sdkappid_missing_60002(emulator):
    """A request without sdkappid gets the generic 60002 of any missing parameter instead of 60012."""
    emulator.codes.sdkappid_missing = 60002


# -- authentication and rate limit ----------------------------------------------------------------------


def _wrap_verify(emulator, replacement):
    """Replace the verifier's verify(sig, sdkappid, identifier) on this emulator; ``replacement`` gets the
    original as its first argument."""
    verifier = emulator.verifier
    original = verifier.verify
    verifier.verify = lambda sig, sdkappid, identifier: replacement(original, sig, sdkappid, identifier)


@mutant("usersig-expiry-unchecked", "FI-AUTH-USERSIG-EXPIRED")
def usersig_expiry_unchecked(emulator):
    """An expired UserSig is accepted: the signature is checked, TLS.time + TLS.expire is not."""

    def verify(original, sig, sdkappid, identifier):
        try:
            return original(sig, sdkappid, identifier)
        except usersig.UserSigError as error:
            if error.reason is not usersig.Reason.EXPIRED:
                raise
        doc = usersig.decode(sig)
        return usersig.verify(sig, sdkappid=sdkappid, identifier=identifier,
                              secret_key=emulator.config.secret_key, now=doc["TLS.time"])

    _wrap_verify(emulator, verify)


@mutant("usersig-hmac-unchecked", "FI-AUTH-USERSIG-WRONG-KEY")
def usersig_hmac_unchecked(emulator):
    """The UserSig's fields are decoded and checked but its HMAC is never compared: any key signs."""

    def verify(original, sig, sdkappid, identifier):
        try:
            return original(sig, sdkappid, identifier)
        except usersig.UserSigError as error:
            if error.reason is not usersig.Reason.SIG_MISMATCH:
                raise
            return usersig.decode(sig)

    _wrap_verify(emulator, verify)


@mutant("usersig-identifier-from-sig", "FI-AUTH-USERSIG-IDENTIFIER-MISMATCH")
def usersig_identifier_from_sig(emulator):
    """The UserSig is verified for the identifier written inside it, never compared with identifier=."""

    def verify(original, sig, sdkappid, identifier):
        try:
            claimed = usersig.decode(sig)["TLS.identifier"]
        except usersig.UserSigError:
            claimed = identifier
        return original(sig, sdkappid, claimed)

    _wrap_verify(emulator, verify)


@mutant("usersig-sdkappid-from-sig", "FI-AUTH-USERSIG-SDKAPPID-MISMATCH")
def usersig_sdkappid_from_sig(emulator):
    """The HMAC is computed over the SDKAppID written inside the UserSig, never compared with sdkappid=."""

    def verify(original, sig, sdkappid, identifier):
        try:
            claimed = usersig.decode(sig)["TLS.sdkappid"]
        except usersig.UserSigError:
            return original(sig, sdkappid, identifier)
        key = emulator.config.secret_key if sdkappid == emulator.config.sdkappid else None
        if key is None:
            return original(sig, sdkappid, identifier)
        return usersig.verify(sig, sdkappid=claimed, identifier=identifier, secret_key=key,
                              now=emulator.config.clock())

    _wrap_verify(emulator, verify)


class _Anyone(frozenset):
    """The configured admins, but anyone is "in" it."""

    def __contains__(self, item: object) -> bool:
        return True


@mutant("admin-check-missing", "FI-AUTH-ADMIN-REQUIRED")
def admin_check_missing(emulator):
    """Any identifier with its own valid UserSig is served: the app-admin check is missing."""
    emulator.app_state.admins = _Anyone(emulator.app_state.admins)


@mutant("no-rate-limit", "FI-RATE-LIMIT-200")
def no_rate_limit(emulator):
    """No rate limit: every call is served, however many arrive within one second."""
    emulator.limiter.admit = lambda key, limit: True


@mutant("rate-refusal-after-processing", "FI-RATE-LIMIT-200")
def rate_refusal_after_processing(emulator):
    """A call over the rate limit is processed (its friend imported); only its answer is replaced by 60007."""
    original = emulator.limiter.admit

    def admit(key, limit):
        if not original(key, limit):
            _OVER_LIMIT.get({})["over"] = True
        return True

    emulator.limiter.admit = admit

    def start(exchange: Exchange):
        _OVER_LIMIT.set({})
        return None

    def refuse(exchange: Exchange, status: int, body):
        if _OVER_LIMIT.get({}).get("over"):
            operation = exchange.path.rsplit("/", 1)[-1]
            return status, emulator.envelopes.fail(operation, emulator.codes.rate_limit)
        return None

    return Wrapped(emulator, on_request=start, on_response=refuse, paths=None)


@mutant("errorinfo-empty-on-fail", "FI-ERRORINFO-ON-FAIL")
def errorinfo_empty_on_fail(emulator):
    """A FAIL envelope carries its ErrorCode but an empty ErrorInfo."""
    envelopes = emulator.envelopes
    original = envelopes.fail

    def fail(operation, code, info=None):
        return {**original(operation, code, info), "ErrorInfo": ""}

    envelopes.fail = fail
