"""Who may use the control plane (/_timconform/: reset, fault plans, recorded requests, state).

A local emulator is reachable by more than its user: by any web page the user opens (a cross-site POST with
``Content-Type: text/plain`` needs no CORS preflight), by DNS rebinding (a page's own name resolving to
127.0.0.1), and, behind a proxy or with forwarded headers trusted, by any peer. So a control request must:

- come from a loopback peer (IPv4, IPv6, or IPv4 mapped into IPv6) and carry no forwarding header: the peer is
  the socket's, never a header's (uvicorn is run with ``proxy_headers=False``);
- name a loopback host (``Host``), and come from no other site (``Origin``, when a browser sends one);
- carry the per-start token (``Authorization: Bearer <token>`` or ``X-Timconform-Token``), printed once on
  stderr by ``timconform emulator`` or set with ``TIMCONFORM_CONTROL_TOKEN``;
- send a body, if any, as ``application/json``.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

CONTROL_PREFIX = "/_timconform/"
TOKEN_ENV = "TIMCONFORM_CONTROL_TOKEN"
TOKEN_HEADER = "x-timconform-token"
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")
LOOPBACK_NAMES = frozenset({"localhost"})


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address.lower() in LOOPBACK_NAMES
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is an IPv4 client of a socket bound to ::
    return (mapped or ip).is_loopback


def _host_of(authority: str) -> str:
    return urlsplit(f"//{authority}").hostname or ""


def refusal(*, peer: str | None, method: str, headers: Mapping[str, str], token: str, has_body: bool) -> str | None:
    """Why this control request is refused (one sentence), or None. ``peer`` is the socket's address (None for
    an in-process call, which no other machine can make)."""
    if peer is not None and not is_loopback(peer):
        return "the control plane answers loopback clients only"
    if any(name in headers for name in FORWARDING_HEADERS):
        return "a forwarded request is refused: the control plane is not for a proxy to pass on"
    if peer is not None and not is_loopback(_host_of(headers.get("host", ""))):
        return "the Host header must name the emulator on loopback (127.0.0.1, [::1] or localhost)"
    origin = headers.get("origin")
    if origin is not None and not is_loopback(urlsplit(origin).hostname or ""):
        return "a request from another site is refused"
    given = headers.get(TOKEN_HEADER) or _bearer(headers.get("authorization", ""))
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return f"the control token is missing or wrong (Authorization: Bearer <token>; see ${TOKEN_ENV})"
    if has_body and method in ("PUT", "POST", "PATCH"):
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return "a control request's body must be application/json"
    return None


def _bearer(value: str) -> str:
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""
