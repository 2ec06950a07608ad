"""The checks the REST gateway makes before an operation runs, each answered with its rule's code.

Order: command path, method, query string, SDKAppID, UserSig, admin, rate limit, then the body.
The codes come from schemas/rules.yaml through the behaviour profile, so a profile that pins
another outcome changes the answer without touching code.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qsl

from timconform.emulator.behaviour import Behaviour, outcome_code
from timconform.emulator.errors import ApiError
from timconform.spec import Spec
from timconform.usersig import Reason

QUERY_PARAMS = ("sdkappid", "identifier", "usersig", "random", "contenttype")
UINT32_MAX = 4294967295
RANDOM_MEMORY = 65536
# FI-DEEP-NESTING: deeper bodies are refused whatever the parser's stack allows, so the answer does not
# depend on how deep the serving thread's stack already is. A valid friend_import body nests 5 deep.
MAX_JSON_DEPTH = 512

USERSIG_RULES = {
    Reason.EMPTY: "FI-AUTH-USERSIG-EMPTY",
    Reason.MALFORMED: "FI-AUTH-USERSIG-MALFORMED",
    Reason.USERBUF_MISMATCH: "FI-AUTH-USERSIG-MALFORMED",
    Reason.SDKAPPID_MISMATCH: "FI-AUTH-USERSIG-SDKAPPID-MISMATCH",
    Reason.IDENTIFIER_MISMATCH: "FI-AUTH-USERSIG-IDENTIFIER-MISMATCH",
    Reason.EXPIRED: "FI-AUTH-USERSIG-EXPIRED",
    Reason.SIG_MISMATCH: "FI-AUTH-USERSIG-WRONG-KEY",
    Reason.UNKNOWN_SDKAPPID: "FI-AUTH-SDKAPPID-UNKNOWN",
}


class GatewayCodes:
    """The code for each gateway refusal, resolved once from the catalogue and the profile."""

    def __init__(self, spec: Spec, behaviour: Behaviour) -> None:
        def code(rule_id: str) -> int:
            return behaviour.code(spec, rule_id)

        self.unknown_command = code("FI-UNKNOWN-COMMAND")
        self.method = code("FI-METHOD-POST")
        self.query_repeated = code("FI-QUERY-REPEATED")
        self.sdkappid_missing = code("FI-SDKAPPID-MISSING-60012")
        # FI-QUERY-MISSING lists one plausible code per parameter: 60004 for the identifier, 60002 otherwise.
        missing = spec.rules["FI-QUERY-MISSING"].codes
        self.query_missing = 60002 if 60002 in missing else missing[0]
        self.identifier_missing = 60004 if 60004 in missing else missing[0]
        self.random_range = code("OPEN-RANDOM-OUT-OF-RANGE") if behaviour.random_out_of_range != "accepted" else 0
        self.contenttype = code("FI-CONTENTTYPE-PARAM")
        self.unknown_param = outcome_code(spec, "OPEN-UNKNOWN-QUERY-PARAM", "reject-60002")
        self.content_type_header = outcome_code(spec, "OPEN-CONTENT-TYPE-HEADER", "reject")
        # OPEN-RANDOM-REUSE's "rejected" outcome allows any request-level code; the emulator says 60002.
        self.random_reuse = self.query_missing if behaviour.random_reuse == "rejected" else 0
        self.sdkappid_unknown = code("FI-AUTH-SDKAPPID-UNKNOWN")
        self.admin = code("FI-AUTH-ADMIN-REQUIRED")
        self.rate_limit = code("OPEN-RATE-LIMIT-CODE")
        self.empty_body = code("FI-EMPTY-BODY")
        self.non_utf8 = code("FI-NON-UTF8-BODY")
        self.json_parse = code("FI-JSON-PARSE-60003")
        self.deep_nesting = code("FI-DEEP-NESTING")
        # No size limit is documented (OPEN-REQUEST-SIZE-LIMIT); past the emulator's own cap it refuses the
        # request the way that rule's request-fail outcome describes.
        self.body_size = outcome_code(spec, "OPEN-REQUEST-SIZE-LIMIT", "request-fail")
        self.write_conflict = outcome_code(spec, "FI-WRITE-CONFLICT", "conflict-30008")
        self.internal = code("FI-TRANSIENT-CODES")
        self.usersig = {reason: code(rule_id) for reason, rule_id in USERSIG_RULES.items()}


class Query:
    """The five documented query parameters of one call, checked."""

    __slots__ = ("sdkappid", "identifier", "usersig", "random")

    def __init__(self, sdkappid: int, identifier: str, usersig: str, random: int | str) -> None:
        self.sdkappid = sdkappid
        self.identifier = identifier
        self.usersig = usersig
        self.random = random


def parse_query(raw: bytes, codes: GatewayCodes, behaviour: Behaviour) -> Query:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ApiError(codes.query_missing, "The query string is not UTF-8") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            if behaviour.repeated_query_param == "reject-60002":
                raise ApiError(codes.query_repeated, f"Query parameter {name} is repeated")
            if behaviour.repeated_query_param == "first-wins":
                continue
        params[name] = value
    if behaviour.unknown_query_param != "ignored" and set(params) - set(QUERY_PARAMS):
        raise ApiError(codes.unknown_param, "Unknown query parameter")
    if "sdkappid" not in params:
        raise ApiError(codes.sdkappid_missing, "The REST call must carry sdkappid")
    sdkappid = _uint(params["sdkappid"])
    if sdkappid is None:
        raise ApiError(codes.sdkappid_unknown, "sdkappid is not an unsigned integer")
    if not params.get("identifier"):
        raise ApiError(codes.identifier_missing, "Query parameter identifier is missing")
    for name in ("random", "contenttype"):
        if not params.get(name):
            raise ApiError(codes.query_missing, f"Query parameter {name} is missing")
    if params["contenttype"] != "json":
        raise ApiError(codes.contenttype, "contenttype must be json")
    # OPEN-RANDOM-OUT-OF-RANGE covers a negative value, one above 4294967295 and one that is not a decimal
    # integer alike: its "accepted" outcome processes all three normally.
    random = _uint(params["random"])
    if random is None or random > UINT32_MAX:
        if codes.random_range:
            raise ApiError(codes.random_range, "random must be an integer from 0 to 4294967295")
    return Query(sdkappid, params["identifier"], params.get("usersig", ""),
                 random if random is not None else params["random"])


def _uint(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None


class RandomMemory:
    """The most recent ``random`` values per app, for profiles that reject a reused one."""

    def __init__(self, size: int = RANDOM_MEMORY) -> None:
        self._size = size
        self._seen: dict[int, OrderedDict[int | str, None]] = {}

    def seen_before(self, sdkappid: int, random: int | str) -> bool:
        seen = self._seen.setdefault(sdkappid, OrderedDict())
        if random in seen:
            return True
        seen[random] = None
        if len(seen) > self._size:
            seen.popitem(last=False)
        return False

    def clear(self) -> None:
        self._seen.clear()


def decode_body(raw: bytes, codes: GatewayCodes) -> Any:
    """The JSON body, or the code for its class of malformation."""
    if not raw.strip():
        raise ApiError(codes.empty_body, "The request body is empty; send {} at least")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(codes.non_utf8, "The request body is not UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise ApiError(codes.deep_nesting, "The request body is nested too deeply") from None
    except ValueError:
        raise ApiError(codes.json_parse, "HTTP request JSON parse error") from None
    if _deeper_than(body, MAX_JSON_DEPTH):
        raise ApiError(codes.deep_nesting, "The request body is nested too deeply")
    return body


def _not_json(name: str) -> Any:
    # Python's json reads NaN, Infinity and -Infinity; JSON (RFC 8259) has no such literals.
    raise ValueError(f"{name} is not a JSON value")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (iteratively: no stack to exhaust)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in (node.values() if isinstance(node, dict) else node):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False
