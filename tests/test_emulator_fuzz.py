"""Fuzzing the emulator with malformed requests (acceptance point B).

Hypothesis generates malformed requests one class at a time, and each request's expected answer is
computed from the class it was generated in: random bytes bodies and truncated valid JSON (FI-JSON-PARSE-
60003, FI-EMPTY-BODY, FI-NON-UTF8-BODY), a wrong JSON type in one field (FI-FIELD-TYPES, FI-ACCOUNT-TYPE-
60015, FI-REQUIRED-FIELDS), one broken query parameter or junk query strings (FI-SDKAPPID-MISSING-60012,
FI-QUERY-MISSING, FI-QUERY-REPEATED, FI-CONTENTTYPE-PARAM, OPEN-RANDOM-OUT-OF-RANGE, the FI-AUTH-* rules),
random paths (FI-UNKNOWN-COMMAND) and random methods (FI-METHOD-POST). Schemathesis then sends negative
cases generated from openapi.yaml, where the class is not known in advance: every answer must be a valid
envelope that refuses the request or fails the invalid items, and nothing invalid may be stored.

Everything runs in-process over httpx's ASGI transport; the requests are counted and the total asserted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from schemathesis.core import NotSet

from timconform import usersig
from timconform.emulator import Emulator, EmulatorConfig

SDKAPPID = 1400000000
ADMIN = "administrator"
IMPORT = "/v4/sns/friend_import"
CONTROL_PREFIX = "/_timconform/"
UINT32_MAX = 4294967295
TAG = "Tag_SNS_Custom_Fuzz"
QUERY_NAMES = ("sdkappid", "identifier", "usersig", "random", "contenttype")
QUERY_CODES = {60002, 60004, 60009, 60012, 70001, 70002, 70003, 70009, 70013, 70014, 70032, 60010}

# Per-class example counts: 1,700 Hypothesis requests plus 400 schemathesis ones (the total is asserted).
EXAMPLES = {"bytes-body": 260, "truncated-json": 260, "wrong-type": 420, "query": 360, "path": 220, "method": 180}
SCHEMATHESIS_EXAMPLES = {"body-negative": 240, "fully-negative": 160}
MINIMUM_TOTAL = 2000


def _settings(n: int) -> settings:
    # derandomize: the same varied inputs on every run (a CI failure reproduces locally); no database.
    return settings(max_examples=n, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck))


class Fuzzer:
    """One emulator behind the in-process ASGI transport, a loop to drive it, and the request counts."""

    def __init__(self) -> None:
        self.emulator = Emulator(EmulatorConfig(rate_limit=None, custom_tags=(TAG,)))
        self.app = self.emulator.app_state
        self.sig = self.emulator.usersig()
        self.loop = asyncio.new_event_loop()
        self.last_path: str | None = None
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self._asgi), base_url="http://emulator")
        self.sent: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()  # sub-classes seen, to show the generation covers each of them
        self._next = 0

    async def _asgi(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.last_path = scope["path"]  # the path as the emulator sees it, after the client's encoding
        await self.emulator(scope, receive, send)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()

    def account(self) -> str:
        """A fresh imported account (set-up through the model, not the API under test)."""
        self._next += 1
        name = f"fz{self._next}"
        self.emulator.model.account_import(self.app, name)
        return name

    def send(self, cls: str, method: str, path: str, query: str, body: bytes | None) -> httpx.Response:
        url = "http://emulator" + path + (f"?{query}" if query else "")  # absolute: the path may start with //
        response = self.loop.run_until_complete(self.client.request(
            method, url, content=body, headers={"Content-Type": "application/json"}))
        self.sent[cls] += 1
        return response

    def stored(self, from_account: str, to_account: str) -> bool:
        return to_account in self.app.friends.get(from_account, {})


def query_string(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def valid_query(sig: str) -> list[tuple[str, str]]:
    return [("sdkappid", str(SDKAPPID)), ("identifier", ADMIN), ("usersig", sig), ("random", "12345"),
            ("contenttype", "json")]


def envelope(response: httpx.Response, validator) -> dict:
    """HTTP 200 and a JSON answer of the documented shape, whatever the request was."""
    assert response.status_code == 200, (response.status_code, response.text[:200])
    assert "Traceback" not in response.text
    body = json.loads(response.content)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, (errors, body)
    return body


def assert_request_code(response: httpx.Response, code: int, validator, context: object) -> None:
    body = envelope(response, validator)
    assert body["ActionStatus"] == "FAIL" and body["ErrorCode"] == code, (code, body, context)


def assert_item_code(fz: Fuzzer, response: httpx.Response, from_account: str, to_account: str, code: int,
                     validator, context: object) -> None:
    body = envelope(response, validator)
    assert body["ActionStatus"] == "OK" and body["ErrorCode"] == 0, (body, context)
    assert [(i["To_Account"], i["ResultCode"]) for i in body["ResultItem"]] == [(to_account, code)], (body, context)
    assert fz.stored(from_account, to_account) == (code == 0), context
    if code:
        assert body["Fail_Account"] == [to_account], body


# -- strategies ---------------------------------------------------------------------------------------

_SCALARS = (st.none() | st.booleans() | st.integers(-(2**40), 2**40)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
JSON_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def not_(*kinds: type, allow_none: bool = False) -> st.SearchStrategy:
    """JSON values of any type but ``kinds`` (bool is never an int here); None only when asked."""
    def wrong(v: object) -> bool:
        if v is None:
            return allow_none
        if isinstance(v, bool):
            return bool not in kinds
        if int in kinds and isinstance(v, float) and v.is_integer():
            return False  # 2.0 is an integer to JSON Schema but not to the emulator: see the robustness xfail
        return not isinstance(v, kinds)
    return JSON_VALUES.filter(wrong)


def valid_item(to_account: str) -> dict:
    return {"To_Account": to_account, "AddSource": "AddSource_Type_Fuzz", "Remark": "r", "RemarkTime": 1,
            "GroupName": ["G"], "AddWording": "w", "AddTime": 2, "CustomItem": [{"Tag": TAG, "Value": "v"}]}


# field -> (strategy of a wrong value, level, code). Request-level answers refuse the whole call;
# item-level ones fail the only item in an OK answer. The codes are the rules' (FI-FIELD-TYPES: a
# non-string account 60015, any other wrong type 30001; FI-REQUIRED-FIELDS: 30001).
WRONG = {
    "From_Account": (not_(str), "request", 60015),
    "AddFriendItem": (not_(list, allow_none=True), "request", 30001),
    "item": (not_(dict), "request", 30001),
    "To_Account": (not_(str), "request", 60015),
    "AddSource": (not_(str, allow_none=True), "item", 30001),
    "Remark": (not_(str), "item", 30001),
    "AddWording": (not_(str), "item", 30001),
    "RemarkTime": (not_(int), "item", 30001),
    "AddTime": (not_(int), "item", 30001),
    "GroupName": (not_(list) | st.lists(not_(str, allow_none=True), min_size=1, max_size=3).flatmap(
        lambda bad: st.permutations(bad + ["G"])), "item", 30001),
    "CustomItem": (not_(list), "item", 30001),
    "CustomItem[]": (not_(dict, allow_none=True), "item", 30001),
    "CustomItem.Tag": (not_(str, allow_none=True), "item", 30001),
    "CustomItem.Value": (not_(str, int, allow_none=True), "item", 30001),
    "body": (not_(dict, allow_none=True), "request", 30001),
}
MISSING = {"From_Account": ("request", 30001), "AddFriendItem": ("request", 30001),
           "To_Account": ("request", 30001), "AddSource": ("item", 30001)}


def mutate(body: dict, field: str, value: object) -> object:
    item = body["AddFriendItem"][0]
    if field == "body":
        return value
    if field in ("From_Account", "AddFriendItem"):
        body[field] = value
    elif field == "item":
        body["AddFriendItem"][0] = value
    elif field == "CustomItem[]":
        item["CustomItem"] = [value]
    elif field.startswith("CustomItem."):
        item["CustomItem"][0][field.split(".")[1]] = value
    else:
        item[field] = value
    return body


def _not_json(name: str):
    raise ValueError(name)


def _depth(value: object) -> int:
    deepest, stack = 0, [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(c, depth + 1) for c in (node.values() if isinstance(node, dict) else node)
                  if isinstance(c, (dict, list))]
    return deepest


def body_bytes_code(raw: bytes) -> int | None:
    """The code a body alone earns before any field is looked at; None for a JSON object."""
    if not raw.strip():
        return 60003  # FI-EMPTY-BODY
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return 60003  # FI-NON-UTF8-BODY
    try:
        value = json.loads(text, parse_constant=_not_json)  # RFC 8259: no NaN or Infinity
    except (ValueError, RecursionError):
        return 60003  # FI-JSON-PARSE-60003
    if _depth(value) > 512:
        return 60003  # FI-DEEP-NESTING
    return None if isinstance(value, dict) else 30001  # FI-FIELD-TYPES: the body is an object


JUNK_BODIES = st.sampled_from([b"{", b"}", b"[", b"nul", b"tru", b"NaN", b"-Infinity", b"Infinity", b'{"a":NaN}',
                               b"'x'", b"{,}", b'{"From_Account"}', b"\xef\xbb\xbf{}", b"\x00", b"1 2", b"[1,]",
                               b'{"a":1,}', b"\x0c", b'"\\x"', b'"\\ud800', b"0x10", b"01", b".5", b"+1"])
RANDOM_BODIES = st.binary(max_size=300) | st.text(max_size=120).map(lambda t: t.encode("utf-8")) | JUNK_BODIES

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
VALID_BODIES = st.fixed_dictionaries(
    {"From_Account": st.text(min_size=1, max_size=8),
     "AddFriendItem": st.lists(st.fixed_dictionaries(
         {"To_Account": st.text(min_size=1, max_size=8),
          "AddSource": st.from_regex(r"AddSource_Type_[A-Za-z]{1,8}", fullmatch=True)},
         optional={"Remark": _TEXT, "RemarkTime": st.integers(0, UINT32_MAX), "GroupName": st.lists(_TEXT, max_size=3),
                   "AddWording": _TEXT, "AddTime": st.integers(0, UINT32_MAX),
                   "CustomItem": st.lists(st.fixed_dictionaries({"Tag": st.just(TAG),
                                                                 "Value": _TEXT | st.integers(0, 99)}), max_size=2)}),
         min_size=1, max_size=4)})


@st.composite
def truncated_json(draw) -> bytes:
    body = draw(VALID_BODIES)
    text = json.dumps(body, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 0, 2])),
                      separators=draw(st.sampled_from([None, (",", ":")])))
    raw = text.encode("utf-8")
    return raw[:draw(st.integers(0, len(raw) - 1))]


def _bad_random() -> st.SearchStrategy[str]:
    return (st.integers(UINT32_MAX + 1, 10**30).map(str) | st.integers(max_value=-1).map(str)
            | st.text(min_size=1, max_size=12).filter(lambda t: not (t.isascii() and t.isdigit())))


def _bad_sdkappid() -> st.SearchStrategy[str]:
    return (st.text(min_size=1, max_size=12).filter(lambda t: not (t.isascii() and t.isdigit()))
            | st.integers(0, 10**19).filter(lambda n: n != SDKAPPID).map(str))


QUERY_MUTATIONS = ["drop", "empty", "repeat", "contenttype", "random", "sdkappid", "usersig-garbage",
                   "usersig-expired", "usersig-wrong-key", "usersig-other-app", "usersig-other-identifier",
                   "not-admin", "junk-only", "junk-extra"]


@st.composite
def broken_query(draw, fz: Fuzzer) -> tuple[str, list[tuple[str, str]], int]:
    """(mutation, query pairs, expected code; 0 = processed normally) with one class of breakage."""
    pairs = valid_query(fz.sig)
    params = dict(pairs)
    kind = draw(st.sampled_from(QUERY_MUTATIONS))
    key = fz.emulator.config.secret_key
    now = int(time.time())
    missing_code = {"sdkappid": 60012, "identifier": 60004, "usersig": 70002, "random": 60002, "contenttype": 60002}
    if kind in ("drop", "empty"):
        name = draw(st.sampled_from(QUERY_NAMES))
        if kind == "drop":
            pairs = [p for p in pairs if p[0] != name]
        else:
            params[name] = ""
            pairs = list(params.items())
        # An empty sdkappid is present but not an unsigned integer: FI-AUTH-SDKAPPID-UNKNOWN.
        return kind, pairs, 70032 if (kind, name) == ("empty", "sdkappid") else missing_code[name]
    if kind == "repeat":
        name = draw(st.sampled_from(QUERY_NAMES))
        value = draw(st.just(params[name]) | st.text(max_size=6))
        pairs.insert(draw(st.integers(0, len(pairs))), (name, value))
        return kind, pairs, 60002  # FI-QUERY-REPEATED
    if kind == "contenttype":
        params["contenttype"] = draw(st.text(max_size=8).filter(lambda t: t != "json"))
        return kind, list(params.items()), 60002  # FI-CONTENTTYPE-PARAM (empty: FI-QUERY-MISSING, also 60002)
    if kind == "random":
        params["random"] = draw(_bad_random())
        return kind, list(params.items()), 60002  # OPEN-RANDOM-OUT-OF-RANGE
    if kind == "sdkappid":
        params["sdkappid"] = draw(_bad_sdkappid())
        return kind, list(params.items()), 70032  # FI-AUTH-SDKAPPID-UNKNOWN (its default outcome, real-70032)
    if kind == "usersig-garbage":
        params["usersig"] = draw(st.text(min_size=1, max_size=60))
        return kind, list(params.items()), 70003  # FI-AUTH-USERSIG-MALFORMED
    if kind == "usersig-expired":
        expire = draw(st.integers(0, 3600))
        params["usersig"] = usersig.generate(SDKAPPID, ADMIN, key, expire=expire, now=now - expire - 10)
        return kind, list(params.items()), 70001  # FI-AUTH-USERSIG-EXPIRED
    if kind == "usersig-wrong-key":
        other = draw(st.text(alphabet="0123456789abcdef", min_size=8, max_size=64).filter(lambda k: k != key))
        params["usersig"] = usersig.generate(SDKAPPID, ADMIN, other)
        return kind, list(params.items()), 70009  # FI-AUTH-USERSIG-WRONG-KEY
    if kind == "usersig-other-app":
        params["usersig"] = usersig.generate(draw(st.integers(1, 2**32).filter(lambda n: n != SDKAPPID)), ADMIN, key)
        return kind, list(params.items()), 70014  # FI-AUTH-USERSIG-SDKAPPID-MISMATCH
    if kind == "usersig-other-identifier":
        params["usersig"] = usersig.generate(SDKAPPID, draw(st.text(min_size=1, max_size=8).filter(
            lambda t: t != ADMIN)), key)
        return kind, list(params.items()), 70013  # FI-AUTH-USERSIG-IDENTIFIER-MISMATCH
    if kind == "not-admin":
        user = fz.account()
        params.update(identifier=user, usersig=usersig.generate(SDKAPPID, user, key))
        return kind, list(params.items()), 60010  # FI-AUTH-ADMIN-REQUIRED
    junk = draw(st.lists(st.tuples(st.text(max_size=8).filter(lambda n: n not in QUERY_NAMES), st.text(max_size=8)),
                         min_size=1 if kind == "junk-only" else 0, max_size=5))
    repeated = len({name for name, _ in junk}) < len(junk)
    if kind == "junk-only":
        return kind, junk, 60002 if repeated else 60012
    mixed = draw(st.permutations(pairs + junk))
    return kind, mixed, 60002 if repeated else 0  # OPEN-UNKNOWN-QUERY-PARAM: ignored by default


_SEGMENT = st.text(max_size=10) | st.sampled_from(["v4", "sns", "friend_import", "im_open_login_svc", "", ".", ".."])


@st.composite
def random_path(draw, paths: list[str]) -> str:
    kind = draw(st.sampled_from(["segments", "near-miss"]))
    if kind == "segments":
        return "/" + "/".join(quote(s, safe="") for s in draw(st.lists(_SEGMENT, max_size=5)))
    path = draw(st.sampled_from(paths))
    how = draw(st.sampled_from(["suffix", "prefix", "case", "slash", "double", "drop"]))
    if how == "suffix":
        return path + quote(draw(st.text(min_size=1, max_size=6)), safe="/")
    if how == "prefix":
        return "/" + quote(draw(st.text(min_size=1, max_size=6)), safe="") + path
    if how == "case":
        return "".join(c.upper() if draw(st.booleans()) else c for c in path)
    if how == "slash":
        return path + "/"
    if how == "double":
        return path.replace("/", "//", 1)
    return path.rsplit("/", 1)[0]


METHODS = (st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "LINK"])
           | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10)).filter(
    lambda m: m not in ("POST", "HEAD", "CONNECT"))


# -- the Hypothesis classes ----------------------------------------------------------------------------

def run_hypothesis_classes(fz: Fuzzer, spec, validator, paths: list[str]) -> None:
    query = query_string(valid_query(fz.sig))
    # A refusal carries the envelope of the operation the path names (account operations have no ErrorDisplay).
    validators = {op.path: spec.validator(op.response_schema) for op in spec.operations.values()}

    @_settings(EXAMPLES["bytes-body"])
    @given(RANDOM_BODIES)
    def bytes_body(raw: bytes) -> None:
        code = body_bytes_code(raw)
        assume(code is not None)  # a JSON object is the field classes' business
        assert_request_code(fz.send("bytes-body", "POST", IMPORT, query, raw), code, validator, raw)

    @_settings(EXAMPLES["truncated-json"])
    @given(truncated_json())
    def truncated(raw: bytes) -> None:
        assert_request_code(fz.send("truncated-json", "POST", IMPORT, query, raw), 60003, validator, raw)

    @_settings(EXAMPLES["wrong-type"])
    @given(st.sampled_from(sorted(WRONG) + [f"missing:{f}" for f in MISSING]).flatmap(
        lambda field: st.tuples(st.just(field), WRONG[field][0] if field in WRONG else st.none())))
    def wrong_type(case: tuple[str, object]) -> None:
        field, value = case
        from_account, to_account = fz.account(), fz.account()
        body: object = {"From_Account": from_account, "AddFriendItem": [valid_item(to_account)]}
        if field.startswith("missing:"):
            name = field.split(":")[1]
            level, code = MISSING[name]
            holder = body if name in ("From_Account", "AddFriendItem") else body["AddFriendItem"][0]
            del holder[name]
        else:
            _, level, code = WRONG[field]
            body = mutate(body, field, value)
        raw = json.dumps(body).encode()
        fz.kinds[f"wrong-type:{field}"] += 1
        response = fz.send("wrong-type", "POST", IMPORT, query, raw)
        if level == "request":
            assert_request_code(response, code, validator, (field, body))
            assert fz.app.friends.get(from_account) is None
        else:
            assert_item_code(fz, response, from_account, to_account, code, validator, (field, body))

    @_settings(EXAMPLES["query"])
    @given(st.data())
    def broken(data) -> None:
        kind, pairs, code = data.draw(broken_query(fz))
        from_account, to_account = fz.account(), fz.account()
        body = json.dumps({"From_Account": from_account, "AddFriendItem": [valid_item(to_account)]}).encode()
        fz.kinds[f"query:{kind}"] += 1
        response = fz.send("query", "POST", IMPORT, query_string(pairs), body)
        if code:
            assert_request_code(response, code, validator, (kind, pairs))
            assert not fz.stored(from_account, to_account)
        else:
            assert_item_code(fz, response, from_account, to_account, 0, validator, (kind, pairs))

    @_settings(EXAMPLES["path"])
    @given(random_path(paths), st.sampled_from(["POST"] * 3 + ["GET", "PUT"]))
    def path(p: str, method: str) -> None:
        assume(not p.lstrip("/").startswith(CONTROL_PREFIX.strip("/")))
        response = fz.send("path", method, p, query, b"{}")
        if fz.last_path in paths or (fz.last_path or "").startswith(CONTROL_PREFIX):
            fz.sent["path"] -= 1  # the client normalised it into a real path: not a malformed request
            assume(False)
        # FI-UNKNOWN-COMMAND: an unknown /v4/<service>/<command> is 60009; a path of no such form is 60002
        # "HTTP parse Error", as the live gateway answers its domain's root (real-evidence.md).
        rest = re.fullmatch(r"/v4/[^/]+/[^/]+", fz.last_path or "")
        assert_request_code(response, 60009 if rest else 60002, validator, (p, fz.last_path))

    @_settings(EXAMPLES["method"])
    @given(METHODS, st.sampled_from(paths))
    def method(m: str, p: str) -> None:
        from_account, to_account = fz.account(), fz.account()
        body = json.dumps({"From_Account": from_account, "AddFriendItem": [valid_item(to_account)]}).encode()
        assert_request_code(fz.send("method", m, p, query, body), 60002, validators[p], (m, p))  # FI-METHOD-POST
        assert not fz.stored(from_account, to_account)

    for run in (bytes_body, truncated, wrong_type, broken, path, method):
        run()


# -- schemathesis negative cases -----------------------------------------------------------------------

def _wire(value: object) -> list[str]:
    """How a generated query value goes on the wire: lists repeat the parameter, None omits it."""
    if value is None:
        return []
    if isinstance(value, list):
        return [v for item in value for v in (_wire(item) if not isinstance(item, list) else [json.dumps(item)])]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (dict,)):
        return [json.dumps(value)]
    return [str(value)]


def _substitute_query(case_query: dict, sig: str) -> tuple[list[tuple[str, str]], bool]:
    """The case's query with each documented parameter that is well-formed on the wire replaced by the
    emulator's real value (so the auth can pass); and whether the whole query is then valid."""
    pairs: list[tuple[str, str]] = []
    valid = True
    wire = {name: _wire(value) for name, value in case_query.items()}
    real = {"sdkappid": str(SDKAPPID), "identifier": ADMIN, "usersig": sig}
    for name, values in wire.items():
        if name not in QUERY_NAMES:
            pairs += [(name, v) for v in values]
            continue
        if len(values) != 1:
            valid = False  # missing (None) or repeated (a list): FI-QUERY-MISSING / FI-QUERY-REPEATED
            pairs += [(name, v) for v in values]
            continue
        value = values[0]
        ok = {"sdkappid": value.isascii() and value.isdigit(),
              "identifier": 0 < len(value) <= 32,
              "usersig": len(value) > 0,
              "random": value.isascii() and value.isdigit() and int(value) <= UINT32_MAX,
              "contenttype": value == "json"}[name]
        valid &= ok
        pairs.append((name, real[name] if ok and name in real else value))
    if any(name not in wire for name in QUERY_NAMES):
        valid = False
    if len({n for n, _ in pairs}) < len(pairs):
        valid = False
    return pairs, valid


def _user_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value.encode("utf-8", "surrogatepass")) <= 32 and \
        not re.search(r"[\ud800-\udfff]", value)


def _invalid_items(body: object, request_validator) -> set[int] | None:
    """Indexes of AddFriendItem entries the request schema refuses, ignoring unknown properties (the API
    tolerates them); None when the refusal is of the whole body (every item is then invalid)."""
    bad: set[int] = set()
    for error in request_validator.iter_errors(body):
        if error.validator == "additionalProperties":
            continue
        where = list(error.absolute_path)
        if len(where) >= 2 and where[0] == "AddFriendItem" and isinstance(where[1], int):
            bad.add(where[1])
        else:
            return None
    return bad


def run_schemathesis(fz: Fuzzer, spec, validator) -> Counter[str]:
    schema = schemathesis.openapi.from_path(spec.openapi_path)
    operation = schema[IMPORT]["POST"]
    request_validator = spec.validator("friend_import.request.json")
    outcomes: Counter[str] = Counter()
    fixed = {"sdkappid": SDKAPPID, "identifier": ADMIN, "usersig": fz.sig, "random": 1, "contenttype": "json"}

    def check(cls: str, case) -> None:
        fz.emulator.reset()
        pairs, query_valid = _substitute_query(case.query, fz.sig)
        body = case.body
        if isinstance(body, (bytes, bytearray)):
            raw = bytes(body)
        elif isinstance(body, NotSet):
            raw = b""
        else:
            raw = json.dumps(body, ensure_ascii=True).encode()
        # Make every well-formed account the body names exist, so an invalid item could be stored.
        if isinstance(body, dict):
            names = [body.get("From_Account")]
            if isinstance(body.get("AddFriendItem"), list):
                names += [i.get("To_Account") for i in body["AddFriendItem"] if isinstance(i, dict)]
            for name in names:
                if _user_id(name):
                    fz.emulator.model.account_import(fz.app, name)
        answer = envelope(fz.send(cls, "POST", IMPORT, query_string(pairs), raw), validator)
        friends = {owner: set(table) for owner, table in fz.app.friends.items() if table}
        if not query_valid:
            assert answer["ActionStatus"] == "FAIL" and answer["ErrorCode"] in QUERY_CODES, (answer, pairs)
            assert not friends
            outcomes["query-refused"] += 1
            return
        if answer["ActionStatus"] == "FAIL":
            assert not friends, (answer, friends)
            outcomes[f"refused-{answer['ErrorCode']}"] += 1
            return
        # An OK answer: only schema-valid items may have been stored, and only those answered 0.
        assert isinstance(body, dict), answer
        items = body["AddFriendItem"]
        results = answer["ResultItem"]
        assert len(results) == len(items), (answer, body)
        invalid = _invalid_items(body, request_validator)
        stored_ok = set()
        for index, (item, result) in enumerate(zip(items, results)):
            assert result["To_Account"] == item["To_Account"], (result, item)
            if result["ResultCode"] == 0:
                assert invalid is not None and index not in invalid, ("stored an invalid item", item, body)
                stored_ok.add(item["To_Account"])
        assert friends.get(body["From_Account"], set()) == stored_ok, (friends, stored_ok, body)
        if stored_ok and len(stored_ok) == len(items):
            outcomes["accepted-with-unknown-fields-only"] += 1
        else:
            outcomes["items-failed"] += 1

    @_settings(SCHEMATHESIS_EXAMPLES["body-negative"])
    @given(operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE, query=fixed))
    def body_negative(case) -> None:
        check("schemathesis-body-negative", case)

    @_settings(SCHEMATHESIS_EXAMPLES["fully-negative"])
    @given(operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
    def fully_negative(case) -> None:
        check("schemathesis-negative", case)

    body_negative()
    fully_negative()
    return outcomes


@pytest.fixture
def quiet_schemathesis(caplog):
    caplog.set_level(logging.ERROR, logger="timconform.emulator")
    yield caplog


def test_fuzz_at_least_2000_malformed_requests_each_get_their_class_code(spec, quiet_schemathesis) -> None:
    """FI-HTTP-200 under fuzzing, with the malformed-input and transport rules of every class: each answer
    is HTTP 200 with the code of the class it was generated in (Hypothesis), or a valid envelope that
    stores nothing invalid (schemathesis negative mode). No emulator error is ever logged."""
    validator = spec.validator("friend_import.response.json")
    paths = sorted(op.path for op in spec.operations.values())
    fz = Fuzzer()
    try:
        run_hypothesis_classes(fz, spec, validator, paths)
        outcomes = run_schemathesis(fz, spec, validator)
    finally:
        fz.close()
    total = sum(fz.sent.values())
    print(f"fuzz: {total} requests {dict(fz.sent)}; schemathesis outcomes {dict(outcomes)}; kinds {dict(fz.kinds)}")
    for cls, wanted in EXAMPLES.items():
        assert fz.sent[cls] >= wanted * 0.8, (cls, fz.sent)
    expected_kinds = {f"wrong-type:{f}" for f in WRONG} | {f"wrong-type:missing:{f}" for f in MISSING} | {
        f"query:{k}" for k in QUERY_MUTATIONS}
    # (Hypothesis never repeats an input, so a class with one possible input, e.g. a missing field, runs once.)
    assert expected_kinds <= set(fz.kinds), expected_kinds - set(fz.kinds)
    assert total >= MINIMUM_TOTAL, fz.sent
    assert outcomes["query-refused"] > 20 and outcomes["items-failed"] + sum(
        n for k, n in outcomes.items() if k.startswith("refused-")) > 100, outcomes
    errors = [r for r in quiet_schemathesis.records if r.levelno >= logging.ERROR]
    assert not errors, quiet_schemathesis.text
