#!/usr/bin/env python3
"""certify-client adapter for the PyPI package ``timsdk`` (1.1.12), used unmodified.

    pip install timsdk
    timconform certify-client --report-dir reports/timsdk -- python examples/timsdk_adapter.py

timsdk always sends to https://console.tim.qq.com (the host is hard-coded), so this adapter ignores
TIMCONFORM_TARGET: certify-client hands the process HTTPS_PROXY (its loopback CONNECT proxy) and
REQUESTS_CA_BUNDLE (the CA made for the run), which ``requests`` honours, and the calls reach the
emulator without any change to timsdk and without leaving the machine.

The adapter convention (examples/README.md): hand the whole input to the client's import function
once per import, exit 0 when the client reports success through its own API and non-zero when it
reports a failure. timsdk reports a failure only by raising (HTTP errors, timeouts); for any HTTP 200
answer ``friend_import`` returns the parsed body, which it never inspects. This adapter adds no logic
of its own: it does not look at that body either.
"""

from __future__ import annotations

import json
import os
import sys

from timsdk import TimClient


def main() -> int:
    with open(os.environ["TIMCONFORM_SCENARIO_INPUT"], encoding="utf-8") as handle:
        data = json.load(handle)
    imports = data if isinstance(data, list) else [data]
    client = TimClient(int(os.environ["TIMCONFORM_SDKAPPID"]), os.environ["TIMCONFORM_SECRET_KEY"],
                       os.environ["TIMCONFORM_IDENTIFIER"])
    failed = False
    for one in imports:
        try:
            client.sns.friend_import(one["From_Account"], one["AddFriendItem"])
        except Exception as exc:  # noqa: BLE001 - timsdk's only way of reporting a failure
            print(f"timsdk reported a failure: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
