"""What the gateway remembers between calls, in Redis, so that every emulator process on one Redis is one service:
the rate-limit windows, the recent ``random`` values, the fault plan and its call counts, the recorded requests,
and the writes in flight (conflict mode). Each has the interface of its in-process counterpart in app.py.

What belongs to one app (its rate windows, its randoms, its users' write holds) lives in that app's key space
(``timconform:<SDKAppID>:``, redis_store.py), so clearing an app clears them too and touches no other app; what
belongs to the service (the fault plan, the recordings) lives under ``timconform-service:<SDKAppID>:`` of the
app it was started for. Read-check-write steps are Lua scripts: Redis runs each one whole,
with nothing from another process in between (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from timconform.emulator.ratelimit import ClockFreezing
from timconform.emulator.redis_store import unlink_matching

# A sliding window: drop calls older than the window, refuse at the limit, else count this one. Refused calls
# are not counted (a client that backs off recovers after one window), as in ratelimit.SlidingWindowLimiter.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
return 1
"""

# The most recent ARGV[2] random values: 1 if ARGV[1] is among them, else remember it (the oldest goes).
_SEEN = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[2]) then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0) end
return 0
"""


class RedisLimiter(ClockFreezing):
    """ratelimit.SlidingWindowLimiter over Redis: one window per key for every process. Times come from the
    caller's wall clock (the processes of one host share it), so ``frozen()`` works as in-process."""

    def __init__(self, client: Any, prefix: str, *, window: float = 1.0, clock: Callable[[], float] = time.time):
        """``prefix``: "timconform:" (redis_store.PREFIX and its colon); a key (SDKAppID, operation) becomes
        ``timconform:<SDKAppID>:rate:<operation>``."""
        self._redis, self._prefix, self._window, self._clock = client, prefix, window, clock
        self._admit = client.register_script(_ADMIT)

    def admit(self, key: Hashable, limit: int) -> bool:
        app, *rest = key if isinstance(key, tuple) else (key,)
        name = f"{self._prefix}{app}:rate:" + ":".join(map(str, rest))
        now = self._clock()
        member = f"{now:.6f}:{os.getpid()}:{time.perf_counter_ns()}"  # unique: two calls in one microsecond
        return bool(self._admit(keys=[name], args=[f"{now:.6f}", self._window, limit, member]))

    def forget(self, sdkappid: int) -> None:
        unlink_matching(self._redis, f"{self._prefix}{sdkappid}:rate:*")



class RedisRandomMemory:
    """gateway.RandomMemory over Redis: a random seen by any process is seen by all."""

    def __init__(self, client: Any, prefix: str, size: int) -> None:
        self._redis, self._prefix, self._size = client, prefix, size
        self._seen = client.register_script(_SEEN)

    def seen_before(self, sdkappid: int, random: int | str) -> bool:
        keys = [f"{self._prefix}{sdkappid}:randoms", f"{self._prefix}{sdkappid}:randoms-count"]
        return bool(self._seen(keys=keys, args=[json.dumps(random), self._size]))

    def forget(self, sdkappid: int) -> None:
        self._redis.delete(f"{self._prefix}{sdkappid}:randoms", f"{self._prefix}{sdkappid}:randoms-count")


class RedisRecordings:
    """The --record ring (app.py's deque) as a capped Redis list, newest last when read."""

    def __init__(self, client: Any, prefix: str, maxlen: int) -> None:
        self._redis, self._key, self.maxlen = client, f"{prefix}recorded", maxlen

    def append(self, record: dict[str, Any]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(self._key, json.dumps(record, ensure_ascii=False))
        pipe.ltrim(self._key, 0, self.maxlen - 1)
        pipe.execute()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter([json.loads(text) for text in reversed(self._redis.lrange(self._key, 0, -1))])

    def __len__(self) -> int:
        return self._redis.llen(self._key)

    def clear(self) -> None:
        self._redis.delete(self._key)


class RedisHolds:
    """Writes in flight per user (conflict mode): a key that exists while one process writes for that user."""

    def __init__(self, client: Any, prefix: str, *, ttl_seconds: float = 60.0) -> None:
        self._redis, self._prefix, self._ttl_ms = client, prefix, int(ttl_seconds * 1000)

    def take(self, key: tuple[int, str]) -> bool:
        """True: held now by this caller. The expiry frees the user if the holder dies mid-write."""
        return bool(self._redis.set(self._name(key), "1", nx=True, px=self._ttl_ms))

    def release(self, key: tuple[int, str]) -> None:
        self._redis.delete(self._name(key))

    def _name(self, key: tuple[int, str]) -> str:
        return f"{self._prefix}{key[0]}:hold:{key[1]}"


class MemoryHolds:
    """RedisHolds' interface over a set, for the in-process emulator."""

    def __init__(self) -> None:
        self._held: set[tuple[int, str]] = set()

    def take(self, key: tuple[int, str]) -> bool:
        if key in self._held:
            return False
        self._held.add(key)
        return True

    def release(self, key: tuple[int, str]) -> None:
        self._held.discard(key)


# One call counted, and the plan's version read, in one round trip.
_NEXT_CALL = """
return {redis.call('GET', KEYS[1]), redis.call('HINCRBY', KEYS[2], ARGV[1], 1)}
"""


class RedisFaultCalls:
    """A fault plan's call counts (faults.FaultPlan's counter) in Redis: call N of an operation is call N for
    every process."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._redis, self.key = client, f"{prefix}faults:calls"

    def next(self, operation: str) -> int:
        return int(self._redis.hincrby(self.key, operation, 1))

    def counts(self) -> dict[str, int]:
        return {operation: int(n) for operation, n in self._redis.hgetall(self.key).items()}


class RedisFaultPlans:
    """The installed fault plan, shared: installing one anywhere installs it everywhere, with fresh counts."""

    def __init__(self, client: Any, prefix: str, parse: Callable[[Any], Any]) -> None:
        self._redis, self._prefix, self._parse = client, prefix, parse
        self.calls = RedisFaultCalls(client, prefix)
        self._next_call = client.register_script(_NEXT_CALL)
        self._version: str | None = None
        self._plan: Any = None

    def install(self, plan: Any, data: list[dict[str, Any]]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(f"{self._prefix}faults:plan", json.dumps(data))
        pipe.delete(f"{self._prefix}faults:calls")
        pipe.incr(f"{self._prefix}faults:version")
        pipe.execute()
        self._version, self._plan = None, None

    def next_call(self, operation: str) -> list[Any]:
        """FaultPlan.next_call for the shared plan: the faults that hit this call of ``operation``."""
        version, call = self._next_call(keys=[f"{self._prefix}faults:version", self.calls.key], args=[operation])
        plan = self.current(version)
        return [fault for fault in plan.faults if fault.hits(operation, int(call))]

    def current(self, version: Any = None) -> Any:
        version = version if version is not None else self._redis.get(f"{self._prefix}faults:version")
        if self._plan is None or version != self._version:
            data = self._redis.get(f"{self._prefix}faults:plan")
            self._plan, self._version = self._parse(json.loads(data) if data else []), version
            self._plan.counter = self.calls
        return self._plan
