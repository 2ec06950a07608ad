"""Serving the emulator over loopback: in the foreground (the CLI) or in a background thread (fixtures)."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass

import uvicorn

from timconform.emulator.app import Emulator

LOOPBACK = "127.0.0.1"


def uvicorn_config(emulator: Emulator, host: str, port: int, *, log_level: str = "warning") -> uvicorn.Config:
    # uvloop and httptools where installed: the server stack alone moves throughput about 3x
    # (../shared/reference/perf-anchors.md).
    return uvicorn.Config(emulator, host=host, port=port, log_level=log_level, access_log=False,
                          loop="auto", http="auto", lifespan="on", timeout_graceful_shutdown=2)


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
    sock.bind((host, port))
    return sock


def serve_forever(emulator: Emulator, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve in the foreground until SIGINT or SIGTERM, then shut down gracefully."""
    host, port = sock.getsockname()[:2]
    uvicorn.Server(uvicorn_config(emulator, host, port, log_level=log_level)).run(sockets=[sock])


def start_in_thread(emulator: Emulator, *, host: str = LOOPBACK, port: int = 0) -> RunningEmulator:
    """Serve ``emulator`` on ``host:port`` (port 0: an ephemeral one) until ``stop()``."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(emulator, host, bound_port))
    # uvicorn listens for signals only in the main thread, so a background server leaves them alone.

    def run() -> None:
        asyncio.run(server.serve(sockets=[sock]))

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
