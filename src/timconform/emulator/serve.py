"""Serving the emulator over loopback: in the foreground (the CLI) or in a background thread (fixtures)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn

from timconform.emulator import timeouts
from timconform.emulator.app import Emulator

LOOPBACK = "127.0.0.1"
BACKLOG = 2048  # uvicorn's default
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def uvicorn_config(emulator: Emulator, host: str, port: int, *, log_level: str = "warning") -> uvicorn.Config:
    # uvloop and httptools where installed: the server stack alone moves throughput about 3x
    # (docs/reference/perf-anchors.md).
    # proxy_headers=False: the peer is the socket's, never an X-Forwarded-For's (the control plane trusts loopback).
    # http: uvicorn's httptools protocol with a deadline for each request and a connection cap (timeouts.py).
    # An app wrapping the emulator (the client certification's recorder) serves under the emulator's limits.
    config = getattr(emulator, "config", None) or getattr(getattr(emulator, "emulator", None), "config", None)
    http = timeouts.protocol(getattr(config, "request_timeout", timeouts.REQUEST_TIMEOUT),
                             getattr(config, "max_connections", timeouts.MAX_CONNECTIONS))
    return uvicorn.Config(emulator, host=host, port=port, log_level=log_level, access_log=False,
                          loop="auto", http=http, lifespan="on", timeout_graceful_shutdown=2, proxy_headers=False,
                          forwarded_allow_ips="")


@dataclass
class RunningEmulator:
    """An emulator served on a loopback port from a background thread."""

    emulator: Emulator
    host: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening at once means a client that connects as soon as the address is announced waits in the
        # backlog until the server accepts, instead of being refused.
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def serve_forever(emulator: Emulator, sock: socket.socket, *, log_level: str = "warning",
                  on_ready: Callable[[], None] | None = None) -> None:
    """Serve in the foreground until SIGINT or SIGTERM, then shut down gracefully and return.

    ``on_ready`` runs once the socket listens and the stop signals are handled (e.g. to print the
    address), so a signal sent as soon as the address is announced still stops the server cleanly.
    """
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn_config(emulator, host, port, log_level=log_level))
    with _stop_on_signals(server):
        if on_ready is not None:
            on_ready()
        server.run(sockets=[sock])


class _Worker(uvicorn.Server):
    """A worker's server: it takes no signals. Its parent stops it by closing the worker pipe (below): a signal
    handler runs in the main thread only between bytecodes, so one that lands just before the loop blocks can
    wait unseen (2 hung workers in about 170 starts stopped at once); the end of a pipe wakes the thread that
    reads it whenever it comes."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_workers(make_emulator: Callable[[], Emulator], sock: socket.socket, workers: int, *,
                  log_level: str = "warning", on_ready: Callable[[], None] | None = None) -> int:
    """Serve with ``workers`` processes forked from this one, all accepting on ``sock`` (the kernel spreads the
    connections), until SIGINT or SIGTERM reaches this process; then every worker shuts down gracefully. Each
    worker makes its own emulator after the fork (its own Redis connections: a client's sockets never cross a
    fork). The workers ignore stop signals (a terminal's Ctrl-C reaches the whole group) and stop when the pipe
    from this process closes: on a stop signal, or whenever this process ends, so no worker outlives it.
    Returns 0, or 1 when a worker ended on its own (its one line is on stderr)."""
    children: list[int] = []
    stop_read, stop_write = os.pipe()
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # a stop during the forks waits for ``stop`` below
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: serve, then leave without running the parent's exit handlers
            os.close(stop_write)
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            os._exit(_work(make_emulator, sock, stop_read, log_level))
        children.append(pid)
    os.close(stop_read)
    sock.close()  # the workers hold it: the parent only supervises

    def stop(sig: object = None, frame: object = None) -> None:
        with contextlib.suppress(OSError):
            os.close(stop_write)  # every worker reads the end of the pipe

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    failed = False
    try:
        if on_ready is not None:
            on_ready()
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                # Not os.wait(): a stop signal that lands after Python's last check and before the blocking call
                # has its handler wait for that call to return, i.e. for a worker to exit (seen: 1 hang in 400
                # starts stopped at once). A short sleep bounds that wait to its length.
                time.sleep(0.1)
                continue
            if pid in children:
                children.remove(pid)
                if os.waitstatus_to_exitcode(status) != 0:
                    failed = True
                    stop()  # one worker gone wrong: the service stops whole
    finally:
        stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _work(make_emulator: Callable[[], Emulator], sock: socket.socket, stop_read: int, log_level: str) -> int:
    """One worker's life: serve until the parent's pipe closes. Its exit code."""
    try:
        emulator = make_emulator()
        host, port = sock.getsockname()[:2]
        server = _Worker(uvicorn_config(emulator, host, port, log_level=log_level))

        def wait_for_stop() -> None:
            while os.read(stop_read, 1):
                pass  # nothing is ever written: the pipe only closes
            server.should_exit = True

        threading.Thread(target=wait_for_stop, name="timconform-worker-stop", daemon=True).start()
        server.run(sockets=[sock])
        return 0
    except BaseException as exc:  # noqa: BLE001 - one line for the operator, then this worker ends
        print(f"timconform emulator worker {os.getpid()}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1


@contextlib.contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """Handle SIGINT and SIGTERM by asking ``server`` to stop, before, during and after uvicorn's own handlers.

    After a signalled shutdown uvicorn re-raises the signal to the handler installed before it ran: with
    Python's defaults that ends the process with a KeyboardInterrupt traceback (SIGINT) or killed by
    SIGTERM, never with exit code 0. With this handler in place the re-raised signal is a no-op. It also
    covers a signal that arrives before uvicorn installs its handlers (the server then stops at startup).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(sig: int, frame: object) -> None:
        if server.should_exit and sig == signal.SIGINT:
            server.force_exit = True  # a second Ctrl-C: do not wait for open connections
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def start_in_thread(emulator: Emulator, *, host: str = LOOPBACK, port: int = 0) -> RunningEmulator:
    """Serve ``emulator`` on ``host:port`` (port 0: an ephemeral one) until ``stop()``."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(emulator, host, bound_port))
    # uvicorn listens for signals only in the main thread, so a background server leaves them alone.

    def run() -> None:
        # The loop uvicorn would pick in the foreground (uvloop where installed): under the plain asyncio
        # loop every loopback call here stalled ~40 ms on a delayed ACK, against 0.3 ms under uvloop.
        loop = _new_loop()
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"timconform-emulator-{bound_port}", daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    if not server.started:
        sock.close()
        raise RuntimeError(f"the emulator did not start on {host}:{bound_port}")
    return RunningEmulator(emulator, host, bound_port, server, thread)
