"""UserSig v2 (TLS sig v2, HMAC-SHA256): generate, decode and verify.

Byte format: docs/reference/api-facts.md §5.1; verification order: §5.2 (Go
``tencentyun/TLSSigAPI.go`` ``verify()``); fixed vectors and client quirks: clients.md §4.
Stdlib only, so the emulator does not depend on the official generator it is meant to check.
"""
from __future__ import annotations

import base64
import enum
import functools
import hashlib
import hmac
import json
import math
import re
import time
import zlib
from collections.abc import Callable, Mapping

__all__ = ["Reason", "UserSigError", "generate", "decode", "verify", "Verifier"]

# Official sigs are ~200 chars (clients.md §4); the caps stop a hostile request from
# inflating a zlib bomb or pinning megabytes per LRU entry.
MAX_USERSIG_LEN = 8192
_MAX_JSON_BYTES = 65536
_STD_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# Tencent's "base64url" is not RFC 4648 url-safe (§5.1 step 6). Like Go's base64urlDecode,
# plain '+', '/', '=' pass through untouched, so they are accepted too.
_FROM_TENCENT = str.maketrans("*-_", "+/=")
_TO_TENCENT = str.maketrans("+/=", "*-_")
_LEGACY_V1_KEYS = ("TLS.account_type", "TLS.sdk_appid", "TLS.appid_at_3rd", "TLS.version")
_INT_FIELDS = {"TLS.sdkappid": (0, 2**64 - 1),  # Go: uint64
               "TLS.expire": (-(2**63), 2**63 - 1), "TLS.time": (-(2**63), 2**63 - 1)}  # int64


class Reason(enum.Enum):
    """Why a UserSig was rejected; the value is a short description safe to log."""

    EMPTY = "usersig is empty"
    UNKNOWN_SDKAPPID = "no secret key is configured for this SDKAppID"
    MALFORMED = "usersig cannot be decoded (base64, zlib or JSON layer)"
    SDKAPPID_MISMATCH = "usersig was issued for another SDKAppID"
    IDENTIFIER_MISMATCH = "usersig was issued for another identifier"
    EXPIRED = "usersig has expired"
    USERBUF_MISMATCH = "usersig userbuf is missing, unexpected or different"
    SIG_MISMATCH = "usersig signature does not match the secret key"

    @property
    def description(self) -> str:
        return self.value


class UserSigError(Exception):
    """A rejected UserSig. ``detail`` is built only from fixed strings and public fields,
    never from the usersig or the key, because these messages end up in logs."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason.name}: {reason.value}" + (f" ({detail})" if detail else ""))


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true must not pass as 1


def _utf8_ok(v: object) -> bool:
    try:
        return isinstance(v, str) and bool(v.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates
        return False


def _require(ok: bool, name: str, shown: str, expected: str) -> None:
    """Argument errors are the caller's bug: ValueError naming the argument, never UserSigError."""
    if not ok:
        raise ValueError(f"{name}={shown}: expected {expected}")


def _b64_std(s: str) -> bytes:
    if len(s) % 4 or not _STD_B64.fullmatch(s):
        raise ValueError("not standard base64")
    return base64.b64decode(s)


def _content(identifier: str, sdkappid: int, t: int, expire: int, userbuf_b64: str | None) -> bytes:
    # Line order is time-then-expire and every line, the last included, ends in "\n" (§5.1 step 2).
    s = f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{t}\nTLS.expire:{expire}\n"
    return (s + (f"TLS.userbuf:{userbuf_b64}\n" if userbuf_b64 is not None else "")).encode("utf-8")


def _hmac(key: str, content: bytes) -> bytes:
    # The key string's UTF-8 bytes, not hex-decoded (§5.1 step 3).
    return hmac.new(key.encode("utf-8"), content, hashlib.sha256).digest()


def generate(sdkappid: int, identifier: str, secret_key: str, *, expire: int = 86400,
             now: int | None = None, userbuf: bytes | None = None) -> str:
    """Return a UserSig byte-identical to PyPI ``tls-sig-api-v2`` 1.1 for the same inputs and time."""
    _require(_is_int(sdkappid) and 0 < sdkappid < 2**64, "sdkappid", repr(sdkappid), "int in 1..2**64-1")
    _require(_utf8_ok(identifier), "identifier", repr(identifier), "non-empty UTF-8 encodable str")
    _require(_utf8_ok(secret_key), "secret_key", "<hidden>", "non-empty UTF-8 encodable str")
    _require(_is_int(expire) and 0 <= expire < 2**63, "expire", repr(expire), "int >= 0 (seconds)")
    _require(now is None or (_is_int(now) and 0 <= now < 2**63), "now", repr(now), "None or int >= 0")
    _require(userbuf is None or isinstance(userbuf, (bytes, bytearray)), "userbuf",
             type(userbuf).__name__, "bytes or None")
    t = int(time.time()) if now is None else now
    ub64 = None if userbuf is None else base64.b64encode(bytes(userbuf)).decode("ascii")
    # Key order and json.dumps defaults copy the Python library so vectors match byte for byte
    # (clients.md §4); other generators differ, which is why verify() never compares strings.
    doc: dict = {"TLS.ver": "2.0", "TLS.identifier": identifier, "TLS.sdkappid": sdkappid,
                 "TLS.expire": expire, "TLS.time": t}
    if ub64 is not None:
        doc["TLS.userbuf"] = ub64
    sig = _hmac(secret_key, _content(identifier, sdkappid, t, expire, ub64))
    doc["TLS.sig"] = base64.b64encode(sig).decode("ascii")
    packed = base64.b64encode(zlib.compress(json.dumps(doc).encode("utf-8")))
    return packed.decode("ascii").translate(_TO_TENCENT)


def decode(usersig: str) -> dict:
    """Return the JSON document inside a UserSig, after checking the v2 fields and their types."""
    bad = functools.partial(UserSigError, Reason.MALFORMED)
    if not isinstance(usersig, str) or not usersig or len(usersig) > MAX_USERSIG_LEN:
        raise bad("not a string of 1..%d chars" % MAX_USERSIG_LEN)
    doc = _document(_inflate(_unbase64(usersig)))
    if "TLS.ver" not in doc and any(k in doc for k in _LEGACY_V1_KEYS):
        # v1 ECDSA docs use other field names (§5.2); HMAC apps never issue them.
        raise bad("legacy v1 (ECDSA) document")
    for key in ("TLS.ver", "TLS.identifier", "TLS.sig"):
        if not isinstance(doc.get(key), str):
            raise bad(f"{key} missing or not a string")
    for key, (lo, hi) in _INT_FIELDS.items():
        if not _is_int(doc.get(key)) or not lo <= doc[key] <= hi:
            raise bad(f"{key} missing or not an integer in range")
    for key in ("TLS.sig", "TLS.userbuf"):
        if doc.get(key) is not None:
            try:
                _b64_std(doc[key])  # Go unmarshals both into []byte, i.e. standard base64
            except (TypeError, ValueError):
                raise bad(f"{key} is not standard base64") from None
    return doc


def _unbase64(usersig: str) -> bytes:
    # Padding may be "_", "__" or absent (clients.md §4): complete it; over-padding stays an error
    # as in Go's StdEncoding.
    text = usersig.translate(_FROM_TENCENT)
    if len(text) % 4 == 1:
        raise UserSigError(Reason.MALFORMED, "bad base64 length")
    try:
        return _b64_std(text + "=" * (-len(text) % 4))
    except ValueError:
        raise UserSigError(Reason.MALFORMED, "bad base64") from None


def _inflate(blob: bytes) -> bytes:
    # Any zlib level must inflate: Go writes level 0 (NoCompression) by default (§5.1 step 5).
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(blob, _MAX_JSON_BYTES)
    except zlib.error:
        raise UserSigError(Reason.MALFORMED, "not a zlib stream") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise UserSigError(Reason.MALFORMED, "zlib stream truncated or too large")
    return raw


def _document(raw: bytes) -> dict:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise UserSigError(Reason.MALFORMED, "not UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise UserSigError(Reason.MALFORMED, "JSON is not an object")
    return doc


def _check(usersig: str, sdkappid: int, identifier: str, key: str,
           userbuf: bytes | None) -> tuple[dict | None, tuple[Reason, str] | None, Reason | None]:
    """The clock-free part of verification: (doc, (reason, detail) before expiry, reason after).

    Split this way so a cached verdict keeps the Go order (§5.2) while expiry stays fresh."""
    try:
        doc = decode(usersig)
    except UserSigError as exc:
        return None, (exc.reason, exc.detail), None
    if doc["TLS.sdkappid"] != sdkappid:
        return doc, (Reason.SDKAPPID_MISMATCH, f"sig has {doc['TLS.sdkappid']}"), None
    if doc["TLS.identifier"] != identifier:
        return doc, (Reason.IDENTIFIER_MISMATCH, ""), None
    # Go's VerifyUserSig passes a nil userbuf, so a REST sig that carries one is rejected.
    got = doc.get("TLS.userbuf")
    got_raw = None if got is None else base64.b64decode(got)
    if (got_raw is None) != (userbuf is None) or (got_raw is not None and got_raw != bytes(userbuf)):
        return doc, None, Reason.USERBUF_MISMATCH
    ub64 = None if got_raw is None else base64.b64encode(got_raw).decode("ascii")
    want = _hmac(key, _content(identifier, sdkappid, doc["TLS.time"], doc["TLS.expire"], ub64))
    # Compare digests, not base64 text, as Go does (its TLS.sig field is []byte).
    ok = hmac.compare_digest(want, base64.b64decode(doc["TLS.sig"]))
    return doc, None, (None if ok else Reason.SIG_MISMATCH)


def _finish(result: tuple, now: int | float) -> dict:
    doc, before, after = result
    if before is not None:
        raise UserSigError(*before)
    assert doc is not None
    # Go compares now.Unix() (whole seconds) and uses ">", so time+expire itself is still valid.
    if math.floor(now) > doc["TLS.time"] + doc["TLS.expire"]:
        raise UserSigError(Reason.EXPIRED)
    if after is not None:
        raise UserSigError(after)
    return dict(doc)  # a copy, so callers cannot corrupt a cached document


def _check_args(usersig: object, sdkappid: object, identifier: object) -> None:
    if isinstance(usersig, str) and _is_int(sdkappid) and isinstance(identifier, str):
        return  # the common case, without formatting the three messages below
    _require(isinstance(usersig, str), "usersig", f"<{type(usersig).__name__}>", "str")
    _require(_is_int(sdkappid), "sdkappid", repr(sdkappid), "int")
    _require(isinstance(identifier, str), "identifier", repr(identifier), "str")


def verify(usersig: str, *, sdkappid: int, identifier: str, secret_key: str,
           now: int | float | None = None, userbuf: bytes | None = None) -> dict:
    """Return the decoded document of a valid UserSig, else raise UserSigError (§5.2 order)."""
    _check_args(usersig, sdkappid, identifier)
    _require(isinstance(secret_key, str), "secret_key", "<hidden>", "str")
    _require(now is None or (not isinstance(now, bool) and isinstance(now, (int, float))
                             and math.isfinite(now)), "now", repr(now), "None or finite unix seconds")
    _require(userbuf is None or isinstance(userbuf, (bytes, bytearray)), "userbuf",
             type(userbuf).__name__, "bytes or None")
    if not usersig:
        raise UserSigError(Reason.EMPTY)
    return _finish(_check(usersig, sdkappid, identifier, secret_key, userbuf),
                   time.time() if now is None else now)


class Verifier:
    """Verifies REST UserSigs against configured keys with an injectable clock.

    ``secret_keys`` maps SDKAppID to key, or is a callable returning the key or None. The decode
    and HMAC verdict is cached in an LRU (thread-safe: functools.lru_cache); expiry never is."""

    def __init__(self, secret_keys: Mapping[int, str] | Callable[[int], str | None],
                 clock: Callable[[], float] = time.time, *, cache_size: int = 4096) -> None:
        if isinstance(secret_keys, Mapping):
            self._key_for: Callable[[int], str | None] = secret_keys.get
        elif callable(secret_keys):
            self._key_for = secret_keys
        else:
            _require(False, "secret_keys", f"<{type(secret_keys).__name__}>", "Mapping or callable")
        self._clock = clock
        self._check = functools.lru_cache(maxsize=cache_size)(_check)

    def verify(self, usersig: str, sdkappid: int, identifier: str) -> dict:
        """Return the decoded document of a valid UserSig at ``clock()``, else raise UserSigError."""
        _check_args(usersig, sdkappid, identifier)
        key = self._key_for(sdkappid)
        if key is None:  # the app lookup precedes any sig parsing (§5.4 maps this to 70020) [INF]
            raise UserSigError(Reason.UNKNOWN_SDKAPPID, f"sdkappid={sdkappid}")
        if not usersig:
            raise UserSigError(Reason.EMPTY)
        if len(usersig) > MAX_USERSIG_LEN:  # keep oversized inputs out of the cache
            raise UserSigError(Reason.MALFORMED, "too long")
        return _finish(self._check(usersig, sdkappid, identifier, key, None), self._clock())

    def cache_info(self):  # noqa: ANN201 - functools' CacheInfo type is private
        """Hit/miss statistics of the verdict cache."""
        return self._check.cache_info()
