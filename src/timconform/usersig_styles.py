"""UserSigs as the other official generators write them, built from the documented byte format (api-facts
§5.1, the npm and Go tls-sig-api-v2 libraries) rather than through timconform.usersig, so that a bug shared by
the suite's generator and a target's verifier cannot hide itself. Used by the FI-AUTH-USERSIG-FORMATS probes and
by a replay, which makes the same kind of UserSig with its own key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from collections.abc import Callable
from typing import Any

_TO_TENCENT = str.maketrans("+/=", "*-_")


def _signature(key: str, identifier: str, sdkappid: int, t: int, expire: int) -> str:
    # Line order time-then-expire, every line ending in "\n"; the key's UTF-8 bytes, not hex-decoded (§5.1).
    content = f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{t}\nTLS.expire:{expire}\n"
    digest = hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _pack(doc: dict[str, Any], *, level: int) -> str:
    compact = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(zlib.compress(compact, level)).decode("ascii").translate(_TO_TENCENT)


def _node_style(identifier: str, sdkappid: int, key: str, t: int, expire: int) -> str:
    """npm tls-sig-api-v2: compact JSON, TLS.time before TLS.expire, default zlib level (clients.md §4)."""
    doc = {"TLS.ver": "2.0", "TLS.identifier": identifier, "TLS.sdkappid": sdkappid, "TLS.time": t,
           "TLS.expire": expire, "TLS.sig": _signature(key, identifier, sdkappid, t, expire)}
    return _pack(doc, level=zlib.Z_DEFAULT_COMPRESSION)


def _go_style(identifier: str, sdkappid: int, key: str, t: int, expire: int) -> str:
    """Go tls-sig-api-v2: encoding/json (compact) and zlib NoCompression, i.e. stored blocks (§5.1 step 5)."""
    doc = {"TLS.ver": "2.0", "TLS.identifier": identifier, "TLS.sdkappid": sdkappid, "TLS.expire": expire,
           "TLS.time": t, "TLS.sig": _signature(key, identifier, sdkappid, t, expire)}
    return _pack(doc, level=0)


def _padded(build: Callable[[int, int], str], now: int) -> str:
    """A sig whose base64 ends in '_' padding. Level-0 zlib output grows only with the JSON text, so the
    lifetime's digit count is varied as well as the time."""
    # Level 0 (Go): the length follows the JSON text, and three lifetimes of 5, 6 and 7 digits give three
    # consecutive lengths, one of which is not a multiple of 3. Default compression (Node): the length of the
    # compressed text wanders with its content, so more times and lifetimes are tried (a new identifier and key
    # once went 24 tries without padding).
    for expire in (86400, 864000, 8640000, 172800, 1728000, 17280000, 604800, 6048000):
        for back in range(32):
            sig = build(now - back, expire)
            if sig.endswith("_"):
                return sig
    raise AssertionError("no '_'-padded usersig found in 256 tries")


STYLES = {"node": _node_style, "go": _go_style}


def padded(style: str, identifier: str, sdkappid: int, key: str, now: int) -> str:
    """A UserSig of ``style`` ("node" or "go") whose base64 ends in '_' padding, made about ``now``."""
    build = STYLES[style]
    return _padded(lambda t, expire: build(identifier, sdkappid, key, t, expire), now)
