"""The practical ceiling: a bare Starlette endpoint that reads the body and returns a fixed JSON body.

Served by uvicorn with exactly the settings the emulator uses (timconform.emulator.serve.uvicorn_config:
loop and http "auto", i.e. uvloop + httptools where installed, access log off, log level warning).

    python bench/bare_app.py --port 8090 [--response FILE]

--response names a file whose bytes are the fixed answer (emulator_throughput.py passes the emulator's
own answer for the same batch size, so both servers put the same bytes on the wire); the default is
the emulator's answer to a 1-item import.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DEFAULT_RESPONSE = (b'{"ResultItem":[{"To_Account":"f0000","ResultCode":0,"ResultInfo":""}],'
                    b'"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}')
JSON_TYPE = "application/json; charset=utf-8"


def create_app(fixed: bytes = DEFAULT_RESPONSE) -> Starlette:
    async def friend_import(request: Request) -> Response:
        await request.body()
        return Response(fixed, media_type=JSON_TYPE)

    return Starlette(routes=[Route("/v4/sns/friend_import", friend_import, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--response", type=Path)
    args = parser.parse_args()
    fixed = args.response.read_bytes() if args.response else DEFAULT_RESPONSE
    uvicorn.run(create_app(fixed), host=args.host, port=args.port, log_level="warning", access_log=False,
                loop="auto", http="auto", lifespan="on", timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
