"""Slow clients cannot hold the server: a request must arrive whole within a deadline, and connections are capped.

uvicorn times out idle keep-alive connections but not a request sent a byte at a time: about 20,000 half-sent
requests once held every file descriptor of the process. This protocol (uvicorn's httptools one, which
uvicorn[standard] installs) closes a connection whose request, headers and body, has not arrived in full
``request_timeout`` seconds after the connection opened or the previous answer left; and it closes at once a
connection past ``max_connections``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REQUEST_TIMEOUT = 10.0  # seconds for a whole request to arrive: a 32 MiB body over loopback takes well under one
MAX_CONNECTIONS = 4096


def protocol(request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS) -> type:
    """The protocol class to hand uvicorn (``Config(http=...)``), with these limits."""

    class DeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.close()
                return
            self._arm()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request, on this kept-alive connection, has its own deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(request_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return DeadlineProtocol
