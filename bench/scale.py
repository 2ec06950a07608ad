"""One million friendships in one emulator: import time, memory per friendship, 1000-item latency at size.

    python bench/scale.py [--users 1000] [--friends 1000] [--repeats 30]

In-process, through the emulator's ASGI app (the same path as over HTTP minus the socket: query string,
UserSig, JSON body, validation, model, JSON answer), with the default behaviour profile:

1. 1,001 accounts are imported (multiaccount_import, 100 per call): u0000 ... u1000.
2. Users u0000 ... u0999 each import 1,000 friends, every other account but themselves (u1000 included),
   in one 1000-item friend_import each; every item as the seed's basic request (To_Account, AddSource,
   AddTime). That is 1,000,000 one-way friendships; every ResultCode is checked to be 0.
   Reported: wall time and friendships/s; memory per friendship twice: the tracemalloc delta (bytes
   still allocated by Python after the imports, measured in a second, identical emulator with tracemalloc on,
   so the timing is not slowed by it) and the RSS delta of the timed run (includes allocator slack).
3. Latency of one 1000-item friend_import (u1000, who has no friends, imports u0000 ... u0999), measured
   --repeats times on an emulator with no friendship (only the 1,001 accounts) and on the loaded one, both
   alive at once and measured in alternating batches of 5 calls (so drift on a shared machine hits both);
   after each call the 1000 friendships are removed again through the model (not timed), so every timed
   call is the same full import. Median and p90 are reported, and the ratio loaded / empty.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

ADD_SOURCE = "AddSource_Type_Bench"
ADD_TIME = 1420000001


class AsgiCaller:
    """Calls one emulator's ASGI app directly on a private event loop: no socket, no thread."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.loop = asyncio.new_event_loop()
        sig = emulator.usersig()
        self.query = f"sdkappid={c.SDKAPPID}&identifier={c.ADMIN}&usersig={sig}&contenttype=json&random="
        self.n = 0

    def post(self, path: str, body: bytes) -> dict:
        self.n += 1
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": (self.query + str(self.n)).encode(), "client": ("127.0.0.1", 50000),
                 "server": ("127.0.0.1", 80), "headers": [(b"host", b"emulator"), (b"content-type", b"application/json"),
                                                          (b"content-length", str(len(body)).encode())]}
        return self.loop.run_until_complete(self._call(scope, body))

    async def _call(self, scope, body: bytes) -> dict:
        sent = False
        chunks = []

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.emulator(scope, receive, send)
        return json.loads(b"".join(chunks))

    def close(self) -> None:
        self.loop.close()


def names(n: int) -> list[str]:
    return [f"u{i:04d}" for i in range(n)]


def import_body(owner: str, friends: list[str]) -> bytes:
    return json.dumps({"From_Account": owner, "AddFriendItem": [
        {"To_Account": f, "AddSource": ADD_SOURCE, "AddTime": ADD_TIME} for f in friends]},
        separators=(",", ":")).encode()


def new_emulator(accounts: list[str]):
    from timconform.emulator import Emulator, EmulatorConfig

    emulator = Emulator(EmulatorConfig(rate_limit=None))
    caller = AsgiCaller(emulator)
    for start in range(0, len(accounts), 100):
        answer = caller.post("/v4/im_open_login_svc/multiaccount_import",
                             json.dumps({"Accounts": accounts[start:start + 100]}).encode())
        assert answer["ActionStatus"] == "OK", answer
    return emulator, caller


def load(caller: AsgiCaller, accounts: list[str], users: int, friends: int) -> int:
    """Every user imports ``friends`` friends; returns the friendships made."""
    made = 0
    for index in range(users):
        owner = accounts[index]
        others = [a for a in accounts if a != owner][:friends]
        answer = caller.post("/v4/sns/friend_import", import_body(owner, others))
        codes = [item["ResultCode"] for item in answer["ResultItem"]]
        assert answer["ActionStatus"] == "OK" and not any(codes), answer
        made += len(codes)
    return made


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def latency(emulator, caller: AsgiCaller, owner: str, friends: list[str], repeats: int) -> list[float]:
    body = import_body(owner, friends)
    app = emulator.app_state
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = caller.post("/v4/sns/friend_import", body)
        out.append((time.perf_counter() - started) * 1000)
        assert answer["ActionStatus"] == "OK" and not any(i["ResultCode"] for i in answer["ResultItem"]), answer
        # Undo (not timed) so that the next call is the same full import.
        emulator.model.friend_delete(app, owner, friends, False)
    return out


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(ms):.2f} ms, p90 {p90:.2f} ms, min {ordered[0]:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--friends", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if args.friends > args.users:
        sys.exit("--friends must be at most --users (every friend is another user)")
    c.print_machine()
    accounts = names(args.users + 1)
    late_owner, late_friends = accounts[args.users], accounts[:args.friends]

    # 2. the timed load (no tracemalloc), RSS delta
    emulator, caller = new_emulator(accounts)
    gc.collect()
    rss_before = rss_bytes()
    started = time.perf_counter()
    made = load(caller, accounts, args.users, args.friends)
    load_s = time.perf_counter() - started
    gc.collect()
    rss_delta = rss_bytes() - rss_before
    stored = sum(len(t) for t in emulator.app_state.friends.values())
    assert stored == made == args.users * args.friends, (stored, made)
    print(f"load: {made:,} friendships in {load_s:.1f} s = {made / load_s:,.0f} friendships/s "
          f"({args.users} friend_import calls of {args.friends} items, {load_s / args.users * 1000:.2f} ms each)")

    # 3. latency: the empty and the loaded emulator side by side, in alternating batches of 5 calls
    empty, empty_caller = new_emulator(accounts)
    empty_ms: list[float] = []
    loaded_ms: list[float] = []
    for target, target_caller in ((empty, empty_caller), (emulator, caller)):
        latency(target, target_caller, late_owner, late_friends, 3)  # warm-up
    while len(loaded_ms) < args.repeats:
        empty_ms += latency(empty, empty_caller, late_owner, late_friends, 5)
        loaded_ms += latency(emulator, caller, late_owner, late_friends, 5)
    empty_caller.close()
    caller.close()

    # memory, tracemalloc: a second identical emulator, measured from after its accounts exist
    del empty, empty_caller
    gc.collect()
    second, second_caller = new_emulator(accounts)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    load(second_caller, accounts, args.users, args.friends)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    second_caller.close()

    print(f"memory: {traced / made:.0f} bytes per friendship (tracemalloc delta {traced / 2**20:.1f} MiB), "
          f"{rss_delta / made:.0f} bytes per friendship by RSS delta ({rss_delta / 2**20:.1f} MiB)")
    print(f"1000-item import, empty emulator:        {summary(empty_ms)}")
    print(f"1000-item import, {made:,} friendships: {summary(loaded_ms)}")
    ratio = statistics.median(loaded_ms) / statistics.median(empty_ms)
    print(f"loaded / empty (medians): {ratio:.2f}")
    result = {"machine": c.machine(), "friendships": made, "load_seconds": load_s,
              "bytes_per_friendship_tracemalloc": traced / made, "bytes_per_friendship_rss": rss_delta / made,
              "empty_ms": empty_ms, "loaded_ms": loaded_ms, "ratio_medians": ratio}
    out = c.BENCH / ".work" / "scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
