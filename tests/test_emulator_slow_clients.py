"""Slow clients cannot hold the emulator (issue 15, point 2): 2,000 half-sent requests are closed by the
server within its request timeout, and a normal client is served meanwhile."""

from __future__ import annotations

import selectors
import socket
import time

import httpx

from timconform import usersig
from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.serve import start_in_thread

SLOW = 2000
TIMEOUT = 1.0


def test_half_sent_requests_are_closed_within_the_timeout_while_a_normal_client_is_served() -> None:
    emulator = Emulator(EmulatorConfig(rate_limit=None, request_timeout=TIMEOUT))
    sig = usersig.generate(emulator.config.sdkappid, emulator.config.admins[0], emulator.config.secret_key)
    with start_in_thread(emulator) as running:
        slow = []
        try:
            for n in range(SLOW):
                sock = socket.create_connection((running.host, running.port), timeout=5)
                # Headers promising a body, half of the headers for some: never finished.
                head = b"POST /v4/sns/friend_import HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                sock.sendall(head + (b"Content-Length: 100\r\n\r\n{" if n % 2 else b""))
                slow.append(sock)
            opened = time.monotonic()
            query = (f"sdkappid={emulator.config.sdkappid}&identifier={emulator.config.admins[0]}&usersig={sig}"
                     f"&random=1&contenttype=json")
            served = httpx.post(f"{running.base_url}/v4/im_open_login_svc/account_check?{query}",
                                json={"CheckItem": [{"UserID": emulator.config.admins[0]}]}, timeout=5)
            assert served.status_code == 200 and served.json()["ActionStatus"] == "OK"
            open_ones = set(slow)
            watch = selectors.DefaultSelector()  # epoll: select() stops at descriptor 1024
            for sock in slow:
                watch.register(sock, selectors.EVENT_READ)
            while open_ones and time.monotonic() - opened < TIMEOUT + 5:
                for key, _ in watch.select(timeout=0.5):
                    try:
                        data = key.fileobj.recv(4096)
                    except OSError:
                        data = b""
                    if not data:  # closed by the server
                        open_ones.discard(key.fileobj)
                        watch.unregister(key.fileobj)
            watch.close()
            closed_after = time.monotonic() - opened
            assert not open_ones, f"{len(open_ones)} of {SLOW} slow connections still open after {closed_after:.1f} s"
            assert closed_after < TIMEOUT + 5
        finally:
            for sock in slow:
                sock.close()
