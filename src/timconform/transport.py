"""One client, many transports: the suite talks to an in-process app and a remote URL the same way.

httpx's ASGITransport is async-only while Hypothesis drives the suite synchronously, so the bridge
runs an event loop in a background thread and hands each request to it.
"""

from __future__ import annotations

import asyncio
import threading

import httpx


class AsgiBridge(httpx.BaseTransport):
    """A synchronous httpx transport that serves requests from an ASGI app in this process."""

    def __init__(self, app, *, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        # An app that raises answers HTTP 500, as a server would, rather than crashing the harness.
        self._inner = httpx.ASGITransport(app=app, client=client, raise_app_exceptions=False)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="timconform-asgi-bridge", daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        future = asyncio.run_coroutine_threadsafe(self._send(request, content), self._loop)
        status, headers, body = future.result()
        # A stream, not content=: httpx sets .elapsed only when it reads and closes the stream itself.
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body), request=request)

    async def _send(self, request: httpx.Request, content: bytes):
        inner_request = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        response = await self._inner.handle_async_request(inner_request)
        body = await response.aread()
        return response.status_code, response.headers.raw, body

    def close(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
