"""A loopback-only, TLS-terminating CONNECT proxy for clients whose API host is hard-coded.

A client such as timsdk always sends to ``https://console.tim.qq.com``. Run it with
``HTTPS_PROXY=http://127.0.0.1:<port>`` and ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` naming the CA made
for the run: the proxy answers ``CONNECT console.tim.qq.com:443`` itself, presents a certificate for
that name signed by the run's CA, decrypts the requests and hands them to the loopback upstream
(the emulator). It never opens a connection to the CONNECT target or to anything but its loopback
upstream, and it refuses every CONNECT whose host:port is not an API domain of openapi.yaml's servers
on 443 (clients.md §1).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from timconform.clientcert.proxyserver import Answer, Handler, ProxyServer, Request, UpstreamFailed, plain, relay

LOOPBACK = "127.0.0.1"
UPSTREAM_TIMEOUT = 300.0  # the emulator's slow-answer faults must reach the client, whose own timeout decides
ORGANIZATION = "timconform certify-client throwaway CA (loopback only)"


def api_hosts(spec) -> frozenset[tuple[str, int]]:
    """The allow-list: every server of openapi.yaml (regions and backup domains), on its HTTPS port."""
    out = set()
    for url in spec.servers.values():
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            out.add((parts.hostname.lower(), parts.port or 443))
    return frozenset(out)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class CertificateAuthority:
    """A throwaway CA made for one run by trustme: its certificate file is what the client is told to trust."""

    def __init__(self, directory: Path, *, days: int = 2, permitted: Iterable[str] | None = None) -> None:
        """``permitted``: the DNS names its certificates may name (default: the API domains of openapi.yaml).
        The CA carries them as critical name constraints, with the loopback addresses: trusted by a client for
        one run, it can vouch for no other site even if its key leaked."""
        self.directory = Path(directory)
        if permitted is None:
            from timconform import spec as spec_module

            permitted = sorted(host for host, _ in api_hosts(spec_module.load()))
        self.permitted = tuple(permitted)
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        self._not_before, self._not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)
        self._ca = _constrained(trustme.CA(organization_name=ORGANIZATION, path_length=0), self.permitted,
                                self._not_before, self._not_after)
        self.certificate = x509.load_pem_x509_certificate(self._ca.cert_pem.bytes())
        self.cert_file = self.directory / "timconform-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.cert_file))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def server_context(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a leaf certificate for ``host`` (made once per host): an API
        domain the CA is constrained to, or a loopback address (the proxy's own)."""
        host = host.lower()
        if not (is_loopback(host) or any(host == p or host.endswith("." + p) for p in self.permitted)):
            raise ssl.SSLError(f"the run's CA is constrained to the API domains and loopback, not {host}")
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                # trustme hands ssl the key through a temporary file of its own (mode 0600, removed at once).
                self._ca.issue_cert(host, common_name=host, organization_name=ORGANIZATION,
                                    not_before=self._not_before, not_after=self._not_after).configure_cert(context)
                self._contexts[host] = context
            return context


def _constrained(ca: trustme.CA, permitted: Iterable[str], not_before: datetime.datetime,
                 not_after: datetime.datetime) -> trustme.CA:
    """trustme's CA, its certificate signed again by its own key with two changes: critical name constraints
    (trustme has no option for them) and the run's validity instead of trustme's thousand years."""
    certificate = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(host) for host in permitted] + [
            x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")), x509.IPAddress(ipaddress.ip_network("::1/128"))],
        excluded_subtrees=None)
    builder = (x509.CertificateBuilder().subject_name(certificate.subject).issuer_name(certificate.issuer)
               .public_key(certificate.public_key()).serial_number(certificate.serial_number)
               .not_valid_before(not_before).not_valid_after(not_after))
    for extension in certificate.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    signed = builder.add_extension(constraints, critical=True).sign(key, hashes.SHA256())
    return trustme.CA.from_pem(signed.public_bytes(serialization.Encoding.PEM), ca.private_key_pem.bytes())


@dataclass
class ConnectLog:
    """Which CONNECT targets a client asked for, and what the proxy did."""

    allowed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    plain_refused: list[str] = field(default_factory=list)  # requests outside a tunnel (http:// URLs)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, target: str) -> None:
        with self._lock:
            getattr(self, kind).append(target)

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {"allowed": sorted(set(self.allowed)), "refused": sorted(set(self.refused)),
                    "plain_refused": sorted(set(self.plain_refused))}

    def clear(self) -> None:
        with self._lock:
            self.allowed.clear()
            self.refused.clear()
            self.plain_refused.clear()


class ConnectProxy:
    """The CONNECT proxy: ``start()``, point ``upstream`` at a loopback base URL, ``stop()``."""

    def __init__(self, ca: CertificateAuthority, allowed: Iterable[tuple[str, int]], *, upstream: str | None = None,
                 host: str = LOOPBACK, port: int = 0) -> None:
        if not is_loopback(host):
            raise ValueError(f"the CONNECT proxy listens on loopback only, not {host}")
        self.ca = ca
        self.allowed = frozenset((h.lower(), p) for h, p in allowed)
        self.log = ConnectLog()
        self._upstream: tuple[str, int] | None = None
        if upstream is not None:
            self.upstream = upstream
        self._server = ProxyServer(_Tunnels(self), host, port, name="timconform connect proxy")

    @property
    def upstream(self) -> str | None:
        return None if self._upstream is None else f"http://{self._upstream[0]}:{self._upstream[1]}"

    @upstream.setter
    def upstream(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not is_loopback(parts.hostname):
            raise ValueError(f"the CONNECT proxy forwards to a loopback http:// upstream only, not {url!r}")
        self._upstream = (parts.hostname, parts.port or 80)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.server_address

    def presented_name(self, sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        """SNI: for an API domain, present that domain's certificate (a client speaking TLS to the proxy names
        the host it wants, not the proxy)."""
        if name and (name.lower(), 443) in self.allowed:
            sock.context = self.ca.server_context(name)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> ConnectProxy:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ConnectProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Tunnels(Handler):
    """CONNECT to an API domain on 443 becomes TLS terminated here; every request inside goes to the loopback
    upstream, its target byte for byte (a client's URL-encoding is graded downstream)."""

    sniffs_tls = True

    def __init__(self, proxy: ConnectProxy) -> None:
        self.proxy = proxy
        self.http: httpx.AsyncClient | None = None

    async def open(self) -> None:
        # trust_env=False: the caller's HTTP(S)_PROXY must never route loopback traffic elsewhere.
        self.http = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, follow_redirects=False, trust_env=False)
        for name in list(self.http.headers):
            del self.http.headers[name]  # httpx's defaults (User-Agent, Accept...) are not what the client sent

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    def tls(self, local: str) -> ssl.SSLContext | None:
        """A client that speaks TLS to the proxy itself (axios before 0.19, given HTTPS_PROXY for an https URL)
        gets TLS, with a certificate for the proxy's own address from the run's CA; its requests then come in
        absolute form."""
        context = self.proxy.ca.server_context(local)
        context.sni_callback = self.proxy.presented_name  # the certificate of the API domain the client names
        return context

    def tunnel(self, request: Request) -> ssl.SSLContext | Answer:
        proxy, target = self.proxy, request.text_target
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]").lower()
        port = int(port_text) if port_text.isdigit() else -1
        if (host, port) not in proxy.allowed:
            proxy.log.add("refused", target)
            return plain(403, f"CONNECT {target} refused: only the API domains of openapi.yaml on port 443 are "
                              "tunnelled, and only to the loopback emulator")
        if proxy._upstream is None:
            return plain(503, "no upstream is set")
        proxy.log.add("allowed", f"{host}:{port}")
        return proxy.ca.server_context(host)

    async def handle(self, request: Request) -> Answer:
        proxy, target = self.proxy, request.target
        if request.tunnel is None:
            # Old HTTP libraries (axios before 0.19) send an https:// URL to the proxy in absolute form instead
            # of a CONNECT; to a loopback proxy that is harmless, so an API domain's request is served as one.
            parts = urlsplit(request.text_target)
            if parts.scheme != "https" or ((parts.hostname or "").lower(), parts.port or 443) not in proxy.allowed:
                proxy.log.add("plain_refused", f"{request.method} {request.text_target}")
                return plain(403, "this proxy only tunnels HTTPS (CONNECT) to the API domains")
            proxy.log.add("allowed", f"{parts.hostname}:{parts.port or 443} (an https URL sent in absolute form)")
            target = (parts.path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
        upstream = proxy.upstream
        if upstream is None or self.http is None:
            return plain(502, "no upstream")
        try:
            return await relay(self.http, upstream, request, target, skip={"date", "server"})
        except UpstreamFailed as exc:
            return plain(502, f"the loopback upstream failed: {exc}")


def probe_refusal(proxy_url: str, target: str, *, timeout: float = 5.0) -> int:
    """Send ``CONNECT target`` to the proxy and return the status it answers (a self-test for refusals)."""
    parts = urlsplit(proxy_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("ascii"))
        line = sock.makefile("rb").readline().decode("latin-1")
    return int(line.split()[1])
