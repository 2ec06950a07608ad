"""Helpers for the tests that run the conformance suite: demo credentials, fake targets, loopback servers."""

import socket

from starlette.responses import Response

from timconform.emulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY

CREDENTIALS = {"TIMCONFORM_SDKAPPID": str(DEMO_SDKAPPID), "TIMCONFORM_IDENTIFIER": DEMO_ADMIN,
               "TIMCONFORM_SECRET_KEY": DEMO_SECRET_KEY}
TAGS = {"TIMCONFORM_CUSTOM_TAGS": "Tag_SNS_Custom_XXXX,Tag_SNS_Custom_YYYY"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def bad_gateway(scope, receive, send) -> None:
    """A front end in trouble: HTTP 502 to everything."""
    if scope["type"] == "http":
        await Response("Bad Gateway", status_code=502)(scope, receive, send)


class StatusOnInvalidJson:
    """An emulator that answers invalid JSON with an HTTP error status instead of 200 + 60003."""

    def __init__(self, emulator, status: int) -> None:
        self.emulator, self.status = emulator, status

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.emulator(scope, receive, send)
        body, more = b"", True
        messages = []
        while more:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            import json

            json.loads(body.decode("utf-8")) if body.strip() else None
        except (ValueError, UnicodeDecodeError):
            return await Response("Bad Request", status_code=self.status)(scope, receive, send)

        async def replay():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        await self.emulator(scope, replay, send)
