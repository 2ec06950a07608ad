"""Authentication: real UserSigs that are wrong in exactly one way, and valid ones in every official format.

Each refusal probe sends a valid body (fresh accounts, a fresh To_Account per probe) with one part
of the query's authentication broken, then reads state back with the real admin: nothing may have
been imported. The format probes build UserSigs here from the documented byte format
(api-facts §5.1, clients.md §4) rather than through timconform.usersig, so a bug shared by the
suite's generator and a target's verifier cannot hide itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Callable
from typing import Any

from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.session import Session, item

REFUSAL_RULES = ("FI-AUTH-USERSIG-EMPTY", "FI-AUTH-USERSIG-MALFORMED", "FI-AUTH-USERSIG-EXPIRED",
                 "FI-AUTH-USERSIG-WRONG-KEY", "FI-AUTH-USERSIG-IDENTIFIER-MISMATCH",
                 "FI-AUTH-USERSIG-SDKAPPID-MISMATCH", "FI-AUTH-SDKAPPID-UNKNOWN", "FI-AUTH-ADMIN-REQUIRED")
# The seed page's placeholder SDKAppID (sample URL sdkappid=88888888); real apps are 14xxxxxxxx and up.
PLACEHOLDER_SDKAPPID = 88888888
SHORT_LIFETIME = 60
_TO_TENCENT = str.maketrans("+/=", "*-_")


def _other_key(session: Session) -> str:
    """A well-formed secret key (64 hex digits, like a console key) that is not the app's."""
    key = session.client.creds.secret_key
    while key == session.client.creds.secret_key:
        key = f"{session.random.getrandbits(256):064x}"
    return key


def _refusal_probes(session: Session, normal_user: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(rule, what is wrong, query overrides): each breaks exactly one part of the authentication."""
    creds, sigs = session.client.creds, session.client.usersigs
    admin, sdkappid = creds.identifier, creds.sdkappid
    valid = sigs.make(admin)
    not_zlib = base64.b64encode(b"this is not a zlib stream").decode("ascii").translate(_TO_TENCENT)
    session.client.redactor.add(not_zlib)
    sigs.described[not_zlib] = {"literal": not_zlib}  # no secret: a cassette may keep it as it is
    unknown = PLACEHOLDER_SDKAPPID if sdkappid != PLACEHOLDER_SDKAPPID else PLACEHOLDER_SDKAPPID + 1
    return [
        ("FI-AUTH-USERSIG-EMPTY", "usersig=", {"usersig": ""}),
        ("FI-AUTH-USERSIG-MALFORMED", "a garbage usersig", {"usersig": "not-a-usersig"}),
        ("FI-AUTH-USERSIG-MALFORMED", "the admin's valid usersig cut in half", {"usersig": valid[:len(valid) // 2]}),
        ("FI-AUTH-USERSIG-MALFORMED", "valid Tencent base64 of bytes that are not zlib", {"usersig": not_zlib}),
        # Expired an hour ago by our clock: long ago by the target's too, whatever the skew between them.
        ("FI-AUTH-USERSIG-EXPIRED", f"a usersig made an hour ago with a {SHORT_LIFETIME} s lifetime",
         {"usersig": sigs.make(admin, lifetime=SHORT_LIFETIME, now=int(time.time()) - 3600)}),
        ("FI-AUTH-USERSIG-WRONG-KEY", "a usersig signed with another secret key",
         {"usersig": sigs.make(admin, key=_other_key(session))}),
        # An existing account's valid sig: only the pairing with identifier=the admin is wrong.
        ("FI-AUTH-USERSIG-IDENTIFIER-MISMATCH", "a normal account's usersig with identifier=the admin",
         {"usersig": sigs.make(normal_user)}),
        ("FI-AUTH-USERSIG-SDKAPPID-MISMATCH", "a usersig made for sdkappid+1, sdkappid=the app's",
         {"usersig": sigs.make(admin, sdkappid=sdkappid + 1)}),
        ("FI-AUTH-SDKAPPID-UNKNOWN", f"sdkappid={unknown} (no such app) with a usersig made for it",
         {"sdkappid": unknown, "usersig": sigs.make(admin, sdkappid=unknown)}),
        ("FI-AUTH-ADMIN-REQUIRED", "identifier=a normal account with its own valid usersig",
         {"identifier": normal_user, "usersig": sigs.make(normal_user)}),
    ]


@scenario("auth-refusals", rules=RESPONSE_RULES + REFUSAL_RULES)
def auth_refusals(session: Session) -> None:
    """Every way a UserSig or the identifier can be wrong is refused as a whole and imports nothing."""
    normal_user = session.accounts(1)[0]
    probes = _refusal_probes(session, normal_user)
    # One sender for all probes, one fresh target each: a single friend_check tells which probe imported.
    sender, *targets = session.accounts(1 + len(probes))
    sent: list[tuple[str, str, str, Any]] = []
    for (rule, what, query), to in zip(probes, targets, strict=True):
        reply = session.friend_import(sender, [item(to)], query=query)
        session.judge(rule, "refused", reply, note=what)
        sent.append((rule, what, to, reply))
    imported = session.friends_among(sender, [to for _, _, to, _ in sent])
    for rule, what, to, reply in sent:
        session.judge(rule, "not_kept", reply, account=to, owner=sender, friends=imported,
                      note=f"a request with {what}")


@scenario("auth-usersig-reuse", rules=RESPONSE_RULES + ("FI-AUTH-USERSIG-REUSE",))
def auth_usersig_reuse(session: Session) -> None:
    """One valid UserSig serves several requests in a row."""
    sig = session.client.usersigs.make(session.client.creds.identifier)
    sender, *targets = session.accounts(4)
    for n, to in enumerate(targets, 1):
        reply = session.friend_import(sender, [item(to)], query={"usersig": sig})
        session.judge("FI-AUTH-USERSIG-REUSE", "accepted_call", reply,
                      note=f"request {n} of {len(targets)} carrying the same valid usersig")


# -- UserSigs in the formats of the other official generators ---------------------------------------

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
    for expire in (86400, 864000, 8640000):
        for back in range(8):
            sig = build(now - back, expire)
            if sig.endswith("_"):
                return sig
    raise AssertionError("no '_'-padded usersig found")  # three consecutive lengths cannot all be multiples of 3


@scenario("auth-usersig-formats", rules=RESPONSE_RULES + ("FI-AUTH-USERSIG-FORMATS",))
def auth_usersig_formats(session: Session) -> None:
    """UserSigs as the Node and Go generators write them, padded and unpadded, are all accepted."""
    creds = session.client.creds
    now = int(time.time())

    def node(t: int, expire: int) -> str:
        return _node_style(creds.identifier, creds.sdkappid, creds.secret_key, t, expire)

    def go(t: int, expire: int) -> str:
        return _go_style(creds.identifier, creds.sdkappid, creds.secret_key, t, expire)

    node_sig, go_sig = _padded(node, now), _padded(go, now)
    variants = [("a Node-style usersig (compact JSON, time before expire), '_'-padded", node_sig),
                ("the same Node-style usersig with its '_' padding stripped", node_sig.rstrip("_")),
                ("a Go-style usersig (zlib level 0), '_'-padded", go_sig),
                ("the same Go-style usersig with its '_' padding stripped", go_sig.rstrip("_"))]
    sender, *targets = session.accounts(1 + len(variants))
    for (what, sig), to in zip(variants, targets):
        session.client.redactor.add(sig)
        reply = session.friend_import(sender, [item(to)], query={"usersig": sig})
        session.judge("FI-AUTH-USERSIG-FORMATS", "accepted_call", reply, note=what)
