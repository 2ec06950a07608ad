"""The one HTTP/1.1 server of both proxies: asyncio for the I/O, h11 for the protocol.

h11 is the state machine httpx's transport (httpcore) speaks HTTP/1.1 with; here it parses and frames every
message, so neither proxy parses chunked bodies, Content-Length or keep-alive by hand. The server runs its
loop in a thread of its own, so that callers start and stop it like any context manager.

What it bounds, whoever the client is:
- a request's body, whatever its framing (``max_body``; h11 de-frames Content-Length and chunked alike and
  refuses a malformed chunk size, a negative one included); a declared length over the cap is refused unread;
- a request's head (h11's ``max_incomplete_event_size``);
- the time a whole request may take to arrive: ``request_timeout`` from the connection's opening (TLS
  handshake included) or from the previous answer, so a client sending a byte at a time, or idling on a
  kept-alive connection, is closed;
- the connections at once (``max_connections``; more are closed as they arrive), with a listen backlog
  that holds a burst.
A client that leaves or breaks its TLS session costs one closed connection, never a traceback.
"""

from __future__ import annotations

import abc
import asyncio
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11
import httpx

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade"})
MAX_BODY = 64 * 1024 * 1024
MAX_HEAD = 64 * 1024
REQUEST_TIMEOUT = 30.0  # a whole request, or the TLS handshake and the first request of a tunnel
MAX_CONNECTIONS = 1024
BACKLOG = 1024  # socketserver's 5 refused connections under a client's burst
READ_CHUNK = 64 * 1024
TLS_HANDSHAKE = b"\x16"  # the first byte of a TLS record carrying a ClientHello
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass
class Request:
    """One request as the client sent it: the target unparsed, header names in their own case."""

    method: str
    target: bytes
    headers: list[tuple[str, str]]
    body: bytes
    started: float  # time.monotonic() when its head had arrived
    tunnel: str | None = None  # the host of the CONNECT tunnel that carried it (None: not tunnelled)
    local: str = ""  # the address the client connected to

    @property
    def text_target(self) -> str:
        return self.target.decode("latin-1")


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: str = ""
    close: bool = False


def plain(status: int, text: str) -> Answer:
    """A proxy's own refusal: plain text, and the connection closed after it."""
    return Answer(status, [("Content-Type", "text/plain; charset=utf-8")], (text + "\n").encode("utf-8"), close=True)


class Handler(abc.ABC):
    """What a proxy does with a request. ``handle`` is required; the rest refuse by default."""

    sniffs_tls = False  # True: a connection opening with a TLS handshake gets TLS from ``tls()``

    async def open(self) -> None:
        """Called in the server's loop before the first connection (e.g. to make an async HTTP client)."""

    async def close(self) -> None:
        """Called in the server's loop after the last connection."""

    @abc.abstractmethod
    async def handle(self, request: Request) -> Answer:
        """The answer to one request (forwarded, or the proxy's own refusal)."""

    def tunnel(self, request: Request) -> ssl.SSLContext | Answer:
        """A CONNECT: the TLS context to terminate the tunnel with, or the refusal."""
        return plain(405, "this proxy does not tunnel (no CONNECT)")

    def tls(self, local: str) -> ssl.SSLContext | None:
        """The context for a client that speaks TLS to the proxy itself on ``local`` (None: close it)."""
        return None


class _TooLarge(Exception):
    """A request body over ``max_body``: answered 413, and the connection closed."""


class ProxyServer:
    """Serve ``handler`` on ``host:port``. ``start()``; ``stop()``; ``server_address`` once made."""

    backlog = BACKLOG

    def __init__(self, handler: Handler, host: str, port: int, *, max_body: int = MAX_BODY,
                 request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS,
                 name: str = "timconform-proxy") -> None:
        self.handler, self.max_body = handler, max_body
        self.request_timeout, self.max_connections, self.name = request_timeout, max_connections, name
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family, backlog=self.backlog)  # OSError: caller's
        self._socket.setblocking(False)
        self.server_address: tuple[str, int] = self._socket.getsockname()[:2]  # kept: still told after stop()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.Task] = set()
        self.refused_connections = 0  # closed at once: over max_connections

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def start(self) -> ProxyServer:
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:
                pass  # the loop has already ended: nothing is left to stop
            self._thread.join(timeout=10)
        self._socket.close()

    # -- the loop -----------------------------------------------------------------------------------------------

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        await self.handler.open()
        self._ready.set()
        accepting = asyncio.create_task(self._accept())
        try:
            await self._stopping.wait()
        finally:
            accepting.cancel()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(accepting, *self._connections, return_exceptions=True)
            await self.handler.close()

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, _ = await loop.sock_accept(self._socket)
            except OSError:
                await asyncio.sleep(0.05)  # out of descriptors (EMFILE) or an aborted handshake: try again
                continue
            if len(self._connections) >= self.max_connections:
                self.refused_connections += 1
                connection.close()
                continue
            task = asyncio.create_task(self._serve(connection))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _serve(self, connection: socket.socket) -> None:
        writer = None
        try:
            connection.setblocking(False)
            deadline = asyncio.get_running_loop().time() + self.request_timeout
            context = None
            if self.handler.sniffs_tls and await self._peek(connection, deadline) == TLS_HANDSHAKE:
                context = self.handler.tls(connection.getsockname()[0])
                if context is None:
                    return
            reader, writer = await asyncio.wait_for(_streams(connection, context), self._left(deadline))
            await self._exchanges(reader, writer, connection.getsockname()[0])
        except (OSError, ssl.SSLError, TimeoutError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass  # the client left, timed out or broke the protocol mid-answer: its connection is all it loses
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback, and the server goes on
            print(f"{self.name}: error while serving a connection: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            if writer is not None:
                writer.close()
            else:
                connection.close()

    async def _peek(self, connection: socket.socket, deadline: float) -> bytes:
        """The connection's first byte, left unread (a TLS handshake or a request line)."""
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        loop.add_reader(connection.fileno(), lambda: readable.done() or readable.set_result(None))
        try:
            await asyncio.wait_for(readable, self._left(deadline))
        finally:
            loop.remove_reader(connection.fileno())
        return connection.recv(1, socket.MSG_PEEK)

    def _left(self, deadline: float) -> float:
        return max(0.0, deadline - asyncio.get_running_loop().time())

    async def _exchanges(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, local: str) -> None:
        """Requests and answers on one connection until it closes; a CONNECT switches it to TLS in place."""
        protocol, tunnel = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD), None
        while True:
            try:
                request = await asyncio.wait_for(self._receive(protocol, reader, writer), self.request_timeout)
            except TimeoutError:
                return  # too slow, or idle on a kept-alive connection
            except h11.RemoteProtocolError as exc:
                await _send(protocol, writer, "", plain(exc.error_status_hint, f"bad request: {exc}"))
                return
            except _TooLarge:
                await _send(protocol, writer, "", plain(413, f"body too large for the proxy (over {self.max_body} bytes)"))
                return
            if request is None:
                return
            request.tunnel, request.local = tunnel, local
            if request.method == "CONNECT":
                outcome = self.handler.tunnel(request) if tunnel is None else plain(400, "CONNECT inside a tunnel")
                if isinstance(outcome, Answer):
                    await _send(protocol, writer, request.method, outcome)
                    return
                writer.write(protocol.send(h11.Response(status_code=200, headers=[], reason=b"Connection Established")))
                await writer.drain()
                early, _ = protocol.trailing_data
                if early:
                    return  # the client sent its handshake before our 200: nothing sound to do but close
                await asyncio.wait_for(writer.start_tls(outcome), self.request_timeout)
                protocol = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
                tunnel = request.text_target.rpartition(":")[0].strip("[]").lower()
                continue
            try:
                answer = await self.handler.handle(request)
            except Exception as exc:  # noqa: BLE001 - the proxy's own failure: the client hears of it, not a traceback
                print(f"{self.name}: error while answering {request.method}: {type(exc).__name__}: {exc}",
                      file=sys.stderr)
                answer = plain(500, f"timconform proxy: internal error ({type(exc).__name__})")
            await _send(protocol, writer, request.method, answer)
            if answer.close or protocol.our_state is h11.MUST_CLOSE:
                return
            protocol.start_next_cycle()

    async def _receive(self, protocol: h11.Connection, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> Request | None:
        head: h11.Request | None = None
        started, chunks, size = 0.0, [], 0
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                if protocol.they_are_waiting_for_100_continue:
                    writer.write(protocol.send(h11.InformationalResponse(status_code=100, headers=[])))
                protocol.receive_data(await reader.read(READ_CHUNK))
            elif isinstance(event, h11.Request):
                head, started = event, time.monotonic()
                declared = _header(event.headers, b"content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                    raise _TooLarge
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_body:
                    raise _TooLarge
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers.raw_items()]
                return Request(head.method.decode("ascii"), head.target, headers, b"".join(chunks), started)
            else:  # ConnectionClosed, or PAUSED after a switch: no request
                return None


async def _streams(connection: socket.socket,
                   context: ssl.SSLContext | None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams on an accepted socket, made as a server's are, so that a later ``start_tls`` (CONNECT) takes the
    server side. TLS from the first byte is set up here: the transport reads as soon as it exists, so a TLS
    session begun later would find the client's handshake already read as plain data."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2 * READ_CHUNK)
    made: asyncio.Future = loop.create_future()
    protocol = asyncio.StreamReaderProtocol(reader, lambda _, writer: made.set_result(writer))
    await loop.connect_accepted_socket(lambda: protocol, connection, ssl=context)
    return reader, await made


async def _send(protocol: h11.Connection, writer: asyncio.StreamWriter, method: str, answer: Answer) -> None:
    if protocol.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return  # a response has already begun: there is no sound way to answer again
    body = b"" if method == "HEAD" or answer.status in _NO_BODY_STATUSES else answer.body
    headers = [(name, value) for name, value in answer.headers if name.lower() not in HOP_BY_HOP | {"content-length"}]
    if answer.status not in _NO_BODY_STATUSES:
        headers.append(("Content-Length", str(len(answer.body))))
    if answer.close:
        headers.append(("Connection", "close"))
    data = protocol.send(h11.Response(status_code=answer.status, headers=_encoded(headers),
                                      reason=answer.reason.encode("latin-1", "replace")))
    if body:
        data += protocol.send(h11.Data(data=body))
    data += protocol.send(h11.EndOfMessage())
    writer.write(data)
    await writer.drain()


def _encoded(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1", "replace")) for name, value in headers]


def _header(headers, name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class UpstreamFailed(Exception):
    """The upstream gave no answer (refused, reset, timed out): the proxy's 502, never the upstream's."""


async def relay(http: httpx.AsyncClient, upstream: str, request: Request, target: bytes, *,
                skip: Iterable[str] = (), headers: list[tuple[str, str]] | None = None,
                decoded: bool = False) -> Answer:
    """Send ``request`` to ``upstream`` with ``target`` as its raw request target (httpcore's "target"
    extension: httpx would otherwise re-encode the query), and return the upstream's answer as it came, less
    hop-by-hop headers and ``skip`` (``decoded``: its body with any Content-Encoding undone)."""
    sent = [(k, v) for k, v in (request.headers if headers is None else headers)
            if k.lower() not in HOP_BY_HOP | {"content-length"}]
    prefix = urlsplit(upstream).path.rstrip("/").encode("latin-1")
    try:
        outgoing = http.build_request(request.method, upstream, headers=sent, content=request.body,
                                      extensions={"target": prefix + target})
        response = await http.send(outgoing, stream=True)
        try:
            chunks = response.aiter_bytes() if decoded else response.aiter_raw()
            payload = b"".join([chunk async for chunk in chunks])
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise UpstreamFailed(f"{type(exc).__name__}: {exc}") from None
    dropped = {name.lower() for name in skip}
    kept = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
            if k.decode("latin-1").lower() not in dropped]
    return Answer(response.status_code, kept, payload, reason=response.reason_phrase)
