"""Sliding-window call limits per SDKAppID and API (rules FI-RATE-LIMIT-200, SUPPORT-RATE-LIMIT-100).

A sliding window rather than fixed one-second buckets: a fixed bucket lets 2x the limit through
across a bucket edge, which would hide a client that bursts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager


class ClockFreezing:
    """``frozen()`` for a limiter that reads its time from ``self._clock``."""

    _clock: Callable[[], float]

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Hold this limiter's clock at the present instant: every call admitted meanwhile falls in one
        window, however slowly the calls arrive. For a caller in the same process that must meet the
        limit itself whatever the machine's load (the suite's burst against its embedded emulator); the
        sliding of the window over real time is the emulator tests' to check."""
        clock, instant = self._clock, self._clock()
        self._clock = lambda: instant
        try:
            yield
        finally:
            self._clock = clock


class SlidingWindowLimiter(ClockFreezing):
    """Admits at most ``limit`` calls per key within any window of ``window`` seconds.

    Refused calls are not counted, so a client that backs off recovers after one window.
    """

    def __init__(self, *, window: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0:
            raise ValueError(f"window={window!r}, but it must be positive")
        self._window = window
        self._clock = clock
        self._calls: dict[Hashable, deque[float]] = {}

    def admit(self, key: Hashable, limit: int) -> bool:
        now = self._clock()
        calls = self._calls.get(key)
        if calls is None:
            calls = self._calls[key] = deque()
        horizon = now - self._window
        while calls and calls[0] <= horizon:
            calls.popleft()
        if len(calls) >= limit:
            return False
        calls.append(now)
        return True

    def reset(self) -> None:
        self._calls.clear()

    def forget(self, sdkappid: int) -> None:
        """One app's windows (keys are (SDKAppID, operation))."""
        for key in [k for k in self._calls if isinstance(k, tuple) and k and k[0] == sdkappid]:
            del self._calls[key]
