"""The documented rate limits: one short burst per limit, faster than the limit, from 32 threads.

The burst is judged only when more calls than the limit provably landed within one second (each call
is known to have reached the target between its send and its answer); otherwise the rules get an
Error saying the client could not go fast enough, never a verdict. The embedded emulator serves the
rest of the suite unthrottled, so its documented limit is switched on for the burst alone, with its
limiter's clock held still: the burst then meets the limit however loaded the machine is, and the
verdict no longer depends on how fast this process can send (a loopback target is judged in real time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from timconform.oracle.rate import Shot
from timconform.suite.registry import scenario
from timconform.suite.session import Session, item

RULES = ("FI-RATE-LIMIT-200", "OPEN-RATE-LIMIT-CODE", "SUPPORT-RATE-LIMIT-100")
OVERSHOOT = 1.3  # calls per burst, as a multiple of the limit: enough over it to see refusals
WORKERS = 32  # a loopback call takes ~40 ms; 32 in flight clear 200/s with room to spare
SETTLE = 1.1  # seconds for the target's window to empty, before and after the bursts


def _embedded_emulator(session: Session) -> Any:
    target = session.client.target
    return target.emulator if target.kind == "emulator" else None


@contextmanager
def documented_limits(session: Session) -> Iterator[bool]:
    """The embedded emulator's documented limits on, for the burst only (through the target, no import),
    with its limiter's clock held still: every call of the burst then lands within one window of the
    target's own clock, on a loaded machine too. Yields whether that is so (False for any other target,
    whose window is real time and is judged from the calls' send and answer times)."""
    emulator = _embedded_emulator(session)
    if emulator is None:
        yield False
        return
    old = emulator.config.rate_limit
    emulator.config.rate_limit = "documented"
    try:
        with emulator.limiter.frozen():
            yield True
    finally:
        emulator.config.rate_limit = old


def burst(session: Session, operation: str, bodies: list[Any]) -> list[Shot]:
    """Send ``bodies`` as fast as the client can, from WORKERS threads released together."""
    gate = threading.Barrier(WORKERS)

    def worker(share: list[Any]) -> list[Shot]:
        gate.wait()
        shots = []
        for body in share:
            started = time.monotonic()
            reply = session.client.call(operation, body, retry_rate_limit=False)
            shots.append(Shot(started, time.monotonic(), reply, body))
        return shots

    with session.client.unpaced(), ThreadPoolExecutor(WORKERS) as pool:
        shares = list(pool.map(worker, [bodies[n::WORKERS] for n in range(WORKERS)]))
    return [shot for share in shares for shot in share]


def _burst_rules(session: Session, rule_id: str, operation: str, shots: list[Shot], one_window: bool) -> None:
    """The burst's rule, and which code refused it (when the burst could be judged at all)."""
    found = session.judge(rule_id, "burst", operation=operation, shots=shots, one_window=one_window)
    if found.status != "error":
        limit = session.spec.limit(session.spec.rules[rule_id].limit)
        session.judge("OPEN-RATE-LIMIT-CODE", "burst", shots=shots, note=f"{operation} over {limit} calls/s")


@scenario("rate-limit-burst", rules=RULES, needs=("rate-burst",),
          replay="a burst against a rate limit: its answers depend on the timing of the calls and on the emulator's "
                 "rate limit, switched on by the suite outside HTTP")
def rate_limit_burst(session: Session) -> None:
    """Over 200 friend_import and over 100 account_check calls within one second meet a rate-limit code in
    HTTP 200 after the documented number of calls."""
    import_limit = session.spec.limit(session.spec.rules["FI-RATE-LIMIT-200"].limit)
    check_limit = session.spec.limit(session.spec.rules["SUPPORT-RATE-LIMIT-100"].limit)
    # A sender per call: concurrent writes to one user may meet 30008 (FI-WRITE-CONFLICT), which is not the test.
    to, *senders = session.accounts(1 + int(import_limit * OVERSHOOT))
    imports = [{"From_Account": sender, "AddFriendItem": [item(to)]} for sender in senders]
    checks = [{"CheckItem": [{"UserID": sender}]} for sender in senders[:int(check_limit * OVERSHOOT)]]
    # An emulator whose limit is off has counted nothing, and counts nothing afterwards: no wait either side.
    emulator = _embedded_emulator(session)
    settle = SETTLE if emulator is None or emulator.config.rate_limit is not None else 0.0
    time.sleep(settle)  # the setup's and earlier scenarios' calls leave the window
    try:
        with documented_limits(session) as one_window:
            import_shots = burst(session, "friend_import", imports)
            check_shots = burst(session, "account_check", checks)
    finally:
        time.sleep(settle)  # later scenarios (and runs) start with an empty window
    _burst_rules(session, "FI-RATE-LIMIT-200", "friend_import", import_shots, one_window)
    _burst_rules(session, "SUPPORT-RATE-LIMIT-100", "account_check", check_shots, one_window)
    # A call refused for the rate is a FAIL answer: nothing of it imported. One friend_check from ``to``'s side
    # tells for every refused sender whether it has ``to`` after all (BWithA).
    refused = [s.body["From_Account"] for s in import_shots if not s.reply.ok]
    if refused:
        session.judge("FI-RATE-LIMIT-200", "refused_not_kept", account=to, shots=import_shots,
                      relations=session.relations(to, refused))
