"""The checks the REST gateway makes before an operation runs, each answered with its rule's code.

Order: a path that is no REST command path (60002), the query string's documented parameters, SDKAppID,
UserSig, admin; then the command, the method, unknown query parameters, the rate limit, random, the
Content-Type header and the body. The live service checks the signature before the method, extra query
parameters and the body: a GET, an extra parameter and a text/plain body with a bad signature all drew
70032 (real-evidence.md, GitHub AlanViast/Remote-http); the command is routed after it too, since the
gateway authenticates every command alike (INF). The codes come from schemas/rules.yaml through the
behaviour profile, so a profile that pins another outcome changes the answer without touching code.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qsl

from timconform.emulator.behaviour import SEMANTIC_SWITCHES, Behaviour, outcome_code
from timconform.emulator.codes import BAD_ACCOUNT, BAD_URL
from timconform.emulator.errors import ApiError
from timconform.spec import Spec
from timconform.usersig import Reason

QUERY_PARAMS = ("sdkappid", "identifier", "usersig", "random", "contenttype")
_KNOWN_PARAMS = frozenset(QUERY_PARAMS)
_UNKNOWN_QUERY_PARAM = SEMANTIC_SWITCHES["unknown_query_param"]
UINT32_MAX = 4294967295
RANDOM_MEMORY = 65536
# FI-DEEP-NESTING: deeper bodies are refused whatever the parser's stack allows, so the answer does not
# depend on how deep the serving thread's stack already is. A valid friend_import body nests 5 deep.
MAX_JSON_DEPTH = 512
# Bounded work per request: before parsing, a body's containers and values are counted from its text (strings
# removed by one regex pass, C speed: ~40 ms for 32 MiB). The largest valid friend_import (1000 items, 20
# custom items each) holds ~23,000 containers and ~100,000 values; far above that is no request, and parsing
# it (many 500-deep arrays: 4 s per MiB) would hold the event loop. Refused as FI-DEEP-NESTING's code.
MAX_JSON_CONTAINERS = 100_000
MAX_JSON_VALUES = 1_000_000
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)

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
        self.query_missing = BAD_URL if BAD_URL in missing else missing[0]
        self.identifier_missing = BAD_ACCOUNT if BAD_ACCOUNT in missing else missing[0]
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

    __slots__ = ("sdkappid", "identifier", "usersig", "random", "unknown")

    def __init__(self, sdkappid: int, identifier: str, usersig: str, random: int | str, unknown: bool = False) -> None:
        self.sdkappid = sdkappid
        self.identifier = identifier
        self.usersig = usersig
        self.random = random
        self.unknown = unknown  # a parameter the docs do not name: judged after the signature (unknown_param)


def parse_query(raw: bytes, codes: GatewayCodes, behaviour: Behaviour) -> Query:
    try:
        pairs = _query_pairs(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(codes.query_missing, "The query string is not UTF-8") from None
    params = _params(pairs, codes, behaviour)
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
    return Query(sdkappid, params["identifier"], params.get("usersig", ""), _random(params["random"], codes),
                 not params.keys() <= _KNOWN_PARAMS)


def refuse_unknown_params(query: Query, codes: GatewayCodes, behaviour: Behaviour) -> None:
    """OPEN-UNKNOWN-QUERY-PARAM: refused unless its outcome ignores them."""
    if query.unknown and behaviour.outcomes[_UNKNOWN_QUERY_PARAM] != "ignored":
        raise ApiError(codes.unknown_param, "Unknown query parameter")


def _params(pairs: list[tuple[str, str]], codes: GatewayCodes, behaviour: Behaviour) -> dict[str, str]:
    """Name -> value, a repeated name read as the behaviour says (FI-QUERY-REPEATED)."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            if behaviour.repeated_query_param == "reject-60002":
                raise ApiError(codes.query_repeated, f"Query parameter {name} is repeated")
            if behaviour.repeated_query_param == "first-wins":
                continue
        params[name] = value
    return params


def _random(text: str, codes: GatewayCodes) -> int | str:
    """OPEN-RANDOM-OUT-OF-RANGE covers a negative value, one above 4294967295 and one that is not a decimal
    integer alike: its "accepted" outcome processes all three normally."""
    random = _uint(text)
    if (random is None or random > UINT32_MAX) and codes.random_range:
        raise ApiError(codes.random_range, "random must be an integer from 0 to 4294967295")
    return random if random is not None else text


def _query_pairs(text: str) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True)``, without its per-field unquoting when nothing is quoted.

    With no "%" and no "+" in the text, unquoting returns every name and value unchanged, so splitting on
    "&" and the first "=" gives the same pairs (the hot path: UserSigs use Tencent's *-_ alphabet)."""
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    return [(name, value) for name, _, value in (field.partition("=") for field in text.split("&") if field)]


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

    def forget(self, sdkappid: int) -> None:
        self._seen.pop(sdkappid, None)


def decode_body(raw: bytes, codes: GatewayCodes) -> Any:
    """The JSON body, or the code for its class of malformation."""
    if not raw or raw.isspace():  # the same test as ``not raw.strip()``, without copying the body
        raise ApiError(codes.empty_body, "The request body is empty; send {} at least")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(codes.non_utf8, "The request body is not UTF-8") from None
    if len(raw) > SMALL_BODY:
        _bounded(raw, codes)
    try:
        body = _loads(text)
    except RecursionError:
        raise ApiError(codes.deep_nesting, "The request body is nested too deeply") from None
    except ValueError:
        raise ApiError(codes.json_parse, "HTTP request JSON parse error") from None
    if _too_deep(raw, body, MAX_JSON_DEPTH):
        raise ApiError(codes.deep_nesting, "The request body is nested too deeply")
    return body


SMALL_BODY = 64 * 1024  # under this, parsing is cheap whatever the body holds


def _bounded(raw: bytes, codes: GatewayCodes) -> None:
    """Refuse, before parsing, a body with far more containers or values than any request (module constants)."""
    structure = _JSON_STRING.sub(b"", raw)
    containers = structure.count(b"[") + structure.count(b"{")
    if containers > MAX_JSON_CONTAINERS:
        raise ApiError(codes.deep_nesting, f"The request body holds {containers} JSON containers "
                                           f"(at most {MAX_JSON_CONTAINERS})")
    values = structure.count(b",") + 1
    if values > MAX_JSON_VALUES:
        raise ApiError(codes.deep_nesting, f"The request body holds about {values} JSON values "
                                           f"(at most {MAX_JSON_VALUES})")


def _too_deep(raw: bytes, body: Any, limit: int) -> bool:
    """``_deeper_than(body, limit)``, read from the bytes of the (valid) JSON text where that is cheaper."""
    # Nesting is at most the number of "{" and "[" in the text: below the limit there is nothing to count.
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    depth = _text_depth(raw, limit)
    return _deeper_than(body, limit) if depth is None else depth > limit


_STRUCTURE = bytes(range(256)).translate(None, b'{}[]"\\')  # every byte but brackets, quotes, backslashes
_TO_PARENS = bytes.maketrans(b"{[}]", b"(())")


def _text_depth(raw: bytes, limit: int) -> int | None:
    """How deep the containers of a valid JSON text nest (at most limit + 1), or None where this reading cannot
    tell: a backslash (an escaped quote) or a bracket inside a string.

    Without backslashes every quote delimits a string. Removing adjacent quote pairs from the text's brackets
    and quotes removes every string exactly when no string holds a bracket (left to right, each string's
    closing quote is the next quote); what is left is the structure, and each pass that removes every
    innermost "()" pair peels one level."""
    shape = raw.translate(None, _STRUCTURE)
    if b"\\" in shape:
        return None
    shape = shape.replace(b'""', b"")
    if b'"' in shape:
        return None
    shape = shape.translate(_TO_PARENS)
    depth = 0
    while shape and depth <= limit:
        shape = shape.replace(b"()", b"")
        depth += 1
    return depth


def _not_json(name: str) -> Any:
    # Python's json reads NaN, Infinity and -Infinity; JSON (RFC 8259) has no such literals.
    raise ValueError(f"{name} is not a JSON value")


# json.loads(text, parse_constant=_not_json) builds this decoder on every call; one instance does the same work.
_DECODER = json.JSONDecoder(parse_constant=_not_json)
_JSON_SPACE = " \t\n\r"  # json.decoder.WHITESPACE


def _loads(text: str) -> Any:
    """``json.loads(text, parse_constant=_not_json)``: one JSON value, JSON whitespace around it, nothing else.

    Every refusal is a ValueError, as there (RecursionError passes through, as there)."""
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM")
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        value, end = _DECODER.scan_once(text, start)
    except StopIteration:
        raise ValueError("Expecting value") from None
    if end != len(text) and len(text.rstrip(_JSON_SPACE)) != end:
        raise ValueError("Extra data")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (level by level: no stack to exhaust)."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, (dict, list))]
        depth += 1
    return False
