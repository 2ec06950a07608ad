"""Authentication: real UserSigs that are wrong in exactly one way, and valid ones in every official format.

Each refusal probe sends a valid body (fresh accounts, a fresh To_Account per probe) with one part
of the query's authentication broken, then reads state back with the real admin: nothing may have
been imported. The format probes build UserSigs with timconform.usersig_styles, from the documented
byte format rather than through timconform.usersig, so a bug shared by the suite's generator and a
target's verifier cannot hide itself.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from timconform import usersig_styles
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


@scenario("auth-usersig-formats", rules=RESPONSE_RULES + ("FI-AUTH-USERSIG-FORMATS",))
def auth_usersig_formats(session: Session) -> None:
    """UserSigs as the Node and Go generators write them, padded and unpadded, are all accepted."""
    creds = session.client.creds
    variants = []
    for style, name in (("node", "a Node-style usersig (compact JSON, time before expire)"),
                        ("go", "a Go-style usersig (zlib level 0)")):
        padded = usersig_styles.padded(style, creds.identifier, creds.sdkappid, creds.secret_key, int(time.time()))
        variants += [(f"{name}, '_'-padded", padded, {"style": style, "padding": "kept"}),
                     (f"the same {name.split(' (')[0][2:]} with its '_' padding stripped", padded.rstrip("_"),
                      {"style": style, "padding": "stripped"})]
    sender, *targets = session.accounts(1 + len(variants))
    for (what, sig, description), to in zip(variants, targets):
        session.client.redactor.add(sig)
        session.client.usersigs.described[sig] = {**description, "identifier": creds.identifier}
        reply = session.friend_import(sender, [item(to)], query={"usersig": sig})
        session.judge("FI-AUTH-USERSIG-FORMATS", "accepted_call", reply, note=what)
