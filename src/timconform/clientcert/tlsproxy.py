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
import http.client
import ipaddress
import os
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade"})
UPSTREAM_TIMEOUT = 300.0  # the emulator's slow-answer faults must reach the client, whose own timeout decides
IDLE_TIMEOUT = 120.0
TLS_HANDSHAKE = b"\x16"  # the first byte of a TLS record carrying a ClientHello
MAX_BODY = 64 * 1024 * 1024


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
    """A throwaway CA made for one run: its certificate file is what the client is told to trust."""

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
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self._not_before, self._not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "timconform certify-client throwaway CA"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "timconform (loopback only)")])
        public = self._key.public_key()
        self.certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before).not_valid_after(self._not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(h) for h in self.permitted] + [
                    x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")), x509.IPAddress(ipaddress.ip_network("::1/128"))],
                excluded_subtrees=None), critical=True)
            .sign(self._key, hashes.SHA256()))
        self.cert_file = self.directory / "timconform-ca.pem"
        self.cert_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
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
                context = self._contexts[host] = self._make_context(host)
            return context

    def _make_context(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.certificate.subject).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before).not_valid_after(self._not_after)
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(self._key, hashes.SHA256()))
        stem = self.directory / f"leaf-{len(self._contexts)}"
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        # ssl reads a key only from a file: it is written readable by us alone, and gone once loaded, so that
        # no private key outlives this call, whatever becomes of the run (SIGKILL included).
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(cert_file, key_file)
        finally:
            key_file.unlink(missing_ok=True)
            cert_file.unlink(missing_ok=True)
        return context


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
        self._server = _Server((host, port), _Handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

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
        return self._server.server_address[:2]

    def presented_name(self, sock: ssl.SSLSocket, name: str | None, context: ssl.SSLContext) -> None:
        """SNI: for an API domain, present that domain's certificate (a client speaking TLS to the proxy names
        the host it wants, not the proxy)."""
        if name and (name.lower(), 443) in self.allowed:
            sock.context = self.ca.server_context(name)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> ConnectProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"timconform-connect-proxy-{self.address[1]}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ConnectProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PlainAnswers:
    """For both proxies' request handlers: read a request body, or refuse in plain text."""

    def _read_body(self) -> bytes | None:
        body, problem = read_body(self.rfile, self.headers)
        if problem is not None:
            self._refuse(*problem)
        return body

    def _refuse(self, status: int, text: str) -> None:
        send_plain(self, status, text)


class ProxyServer(ThreadingHTTPServer):
    """The one server class of both proxies: a thread per connection, a listen backlog that holds a burst, and a
    client that resets its connection is no traceback on stderr."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # socketserver's default of 5 refused connections under a client's burst
    proxy: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError)):
            return  # the client left or broke the TLS session: nothing to answer, nothing of ours to fix
        print(f"timconform proxy: error while serving {client_address[0]}: {type(error).__name__}: {error}",
              file=sys.stderr)


_Server = ProxyServer


class _Handler(PlainAnswers, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server: _Server
    tunnel_host: str | None = None

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass  # quiet: the recording is the log

    def setup(self) -> None:
        """A client that speaks TLS to the proxy itself (axios before 0.19, given HTTPS_PROXY for an https URL)
        gets TLS, with a certificate for the proxy's own address from the run's CA; its requests then come in
        absolute form and are served like a tunnel's."""
        self.request.settimeout(self.timeout)
        try:
            first = self.request.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if first == TLS_HANDSHAKE:
            proxy = self.server.proxy
            context = proxy.ca.server_context(self.request.getsockname()[0])
            context.sni_callback = proxy.presented_name  # the certificate of the API domain the client names
            try:
                self.request = self.connection = context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                self.close_connection = True  # the client refused our certificate, or left
        super().setup()

    # -- the tunnel -------------------------------------------------------------------------------

    def do_CONNECT(self) -> None:  # noqa: N802 - the stdlib's naming
        proxy = self.server.proxy
        if self.tunnel_host is not None:
            self._refuse(400, "CONNECT inside a tunnel")
            return
        host, _, port_text = self.path.rpartition(":")
        host = host.strip("[]").lower()
        try:
            port = int(port_text)
        except ValueError:
            port = -1
        if (host, port) not in proxy.allowed:
            proxy.log.add("refused", self.path)
            self._refuse(403, f"CONNECT {self.path} refused: only the API domains of openapi.yaml on port 443 "
                              "are tunnelled, and only to the loopback emulator")
            return
        if proxy._upstream is None:
            self._refuse(503, "no upstream is set")
            return
        proxy.log.add("allowed", f"{host}:{port}")
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = proxy.ca.server_context(host).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True  # the client refused our certificate, or left
            return
        self.connection = self.request = tls
        self.rfile = tls.makefile("rb", self.rbufsize)
        self.wfile = socketserver._SocketWriter(tls)  # type: ignore[attr-defined]
        self.tunnel_host = host
        self.close_connection = False

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.tunnel_host is not None:
                try:
                    self.connection.close()
                except OSError:
                    pass  # the tunnel is already broken: closing it is all that was left to do

    # -- requests inside the tunnel -------------------------------------------------------------

    def _forward(self) -> None:
        proxy = self.server.proxy
        path = self.path
        if self.tunnel_host is None:
            # Old HTTP libraries (axios before 0.19) send an https:// URL to the proxy in absolute form instead
            # of a CONNECT; to a loopback proxy that is harmless, so an API domain's request is served as one.
            target = urlsplit(self.path)
            if target.scheme != "https" or ((target.hostname or "").lower(), target.port or 443) not in proxy.allowed:
                proxy.log.add("plain_refused", f"{self.command} {self.path}")
                self._refuse(403, "this proxy only tunnels HTTPS (CONNECT) to the API domains")
                return
            proxy.log.add("allowed", f"{target.hostname}:{target.port or 443} (an https URL sent in absolute form)")
            path = target.path + (f"?{target.query}" if target.query else "")
        body = self._read_body()
        if body is None:
            return
        upstream = proxy._upstream
        if upstream is None:
            self._refuse(502, "no upstream")
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"content-length"}]
        connection = http.client.HTTPConnection(upstream[0], upstream[1], timeout=UPSTREAM_TIMEOUT)
        try:
            connection.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if body or self.command not in ("GET", "HEAD"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            payload = response.read()
            status, reason, answer_headers = response.status, response.reason, response.getheaders()
        except (OSError, http.client.HTTPException) as exc:
            self._refuse(502, f"the loopback upstream failed: {type(exc).__name__}")
            return
        finally:
            connection.close()
        send_answer(self, status, answer_headers, payload, skip={"date", "server"}, reason=reason)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward  # noqa: N815


def send_answer(handler, status: int, headers, payload: bytes, *, skip=frozenset(), reason: str | None = None) -> None:
    """Relay an upstream answer: its headers less hop-by-hop ones and ``skip``, with our own Content-Length."""
    dropped = HOP_BY_HOP | {"content-length"} | set(skip)
    try:
        handler.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in dropped:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
    except OSError:
        handler.close_connection = True  # the client gave up (its timeout): nothing to answer


def send_plain(handler, status: int, text: str) -> None:
    """A proxy's own refusal: plain text, and the connection closed."""
    data = (text + "\n").encode("utf-8")
    handler.close_connection = True
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        pass  # the client is gone: nobody reads the refusal


def read_body(rfile, headers) -> tuple[bytes | None, tuple[int, str] | None]:
    """A request body by Content-Length or chunked encoding: (body, None) or (None, (status, why))."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        chunks, size = [], 0
        while True:
            line = rfile.readline(65537)
            try:
                length = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                return None, (400, "bad chunked body")
            if length < 0:  # "-1" would read to the end of the stream, past every cap
                return None, (400, "bad chunked body: a negative chunk size")
            if length == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailer lines after the last chunk: read and dropped, as HTTP/1.1 allows
                return b"".join(chunks), None
            size += length
            if size > MAX_BODY:
                return None, (413, "body too large for the proxy")
            chunks.append(rfile.read(length))
            rfile.readline(65537)
    try:
        length = int(headers.get("Content-Length", "0"))
    except ValueError:
        return None, (400, "bad Content-Length")
    if not 0 <= length <= MAX_BODY:
        return None, (413, "body too large for the proxy")
    return (rfile.read(length) if length else b""), None


def probe_refusal(proxy_url: str, target: str, *, timeout: float = 5.0) -> int:
    """Send ``CONNECT target`` to the proxy and return the status it answers (a self-test for refusals)."""
    parts = urlsplit(proxy_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("ascii"))
        line = sock.makefile("rb").readline().decode("latin-1")
    return int(line.split()[1])
