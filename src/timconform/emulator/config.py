"""The emulator's settings, with the defaults a user gets when naming none."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from timconform.emulator.faults import FaultPlan

DEMO_SDKAPPID = 1400000000
DEMO_ADMIN = "administrator"
# Tencent's public sample key from the tls-sig-api-v2 README (clients.md §4): a demo key, never a real one.
DEMO_SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
# No body limit is documented (OPEN-REQUEST-SIZE-LIMIT). The largest valid request, 1000 items at every
# byte limit with 20 custom tags of 500-byte values, escaped as \uXXXX, is 23.7 MB (measured by the
# body-size scenario), so the cap refuses nothing a documented request can be.
MAX_BODY_BYTES = 32 * 1024 * 1024
# How long a write holds its user in conflict mode (FI-WRITE-CONFLICT: conflict-30008).
WRITE_HOLD_SECONDS = 0.005
DOCUMENTED = "documented"


@dataclass(frozen=True)
class AppConfig:
    """One more app the emulator serves beside its own (``--app``): its SDKAppID, admins and secret key."""

    sdkappid: int
    admins: tuple[str, ...]
    secret_key: str


@dataclass
class EmulatorConfig:
    sdkappid: int = DEMO_SDKAPPID
    admins: tuple[str, ...] = (DEMO_ADMIN,)
    secret_key: str = DEMO_SECRET_KEY
    custom_tags: tuple[str, ...] = ()
    edition: str = "pro"
    apps: tuple[AppConfig, ...] = ()  # more apps, each with its state apart (the same custom tags and edition)
    # "documented" (200/s, 100/s for the account-admin operations), a number for every operation, or None (off).
    rate_limit: int | str | None = DOCUMENTED
    behaviour: Mapping[str, str] | Path | None = None
    faults: FaultPlan | Path | None = None
    accounts: Path | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    record: bool = False
    # --record keeps the newest RECORD_LIMIT requests, each body and answer cut at RECORD_TEXT_BYTES: at most
    # about RECORD_LIMIT x 2 x RECORD_TEXT_BYTES (32 MiB) however long the emulator runs.
    record_limit: int = 1000
    request_timeout: float = 10.0  # seconds for a whole request to arrive (emulator/timeouts.py)
    max_connections: int = 4096
    write_hold_seconds: float = WRITE_HOLD_SECONDS
    # None: state in this process. "redis://HOST:PORT/DB": the state in Redis (redis_store.py, redis_shared.py),
    # shared by every emulator on it and kept across restarts.
    store: str | None = None
    control_token: str | None = None  # the control plane's token; None: a new one for every start
    clock: Callable[[], float] = field(default=time.time)
    monotonic: Callable[[], float] = field(default=time.monotonic)
