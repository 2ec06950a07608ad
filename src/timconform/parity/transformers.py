"""Named transformers: the volatile parts of an exchange, made comparable (LocalStack's snapshot transformers).

Request side, a replay supplies its own: ``usersig`` (each ``<usersig:N>`` made again from its description with
the replay's key), ``random`` (drawn afresh), ``credentials`` (the replay's SDKAppID and identifier) and
``account-prefix`` (the recording's generated account names under a fresh prefix of the same length, so that
a replay against the same app starts from empty tables and every name keeps its byte length).

Answer side, before comparing: ``account-prefix`` (the replay's names read as the recording's) and
``server-time`` (an integer within five minutes of either run reads ``<server time>`` on its own side).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from timconform.parity.diff import Obj

CLOCK_SKEW = 300
EPOCH_FLOOR = 1_000_000_000
SERVER_TIME = "<server time>"


@dataclass(frozen=True)
class Window:
    """When a run happened (epoch seconds)."""

    started: float
    ended: float

    def holds(self, value: int) -> bool:
        # Never a code or a count: a time of the run is an epoch second, past 2001.
        return value >= EPOCH_FLOOR and self.started - CLOCK_SKEW <= value <= self.ended + CLOCK_SKEW


def fresh_prefix(recorded: str) -> str:
    """A new account prefix as long as the recorded one (the run prefix is "tc" and six letters)."""
    head = recorded[:2] if recorded.startswith("tc") else ""
    return head + "".join(secrets.choice(string.ascii_lowercase) for _ in range(max(len(recorded) - len(head), 1)))


def walk(value: Any, on_text: Callable[[str], Any], on_int: Callable[[int], Any]) -> Any:
    if isinstance(value, Obj):
        return Obj((on_text(k), walk(v, on_text, on_int)) for k, v in value)
    if isinstance(value, list):
        return [walk(v, on_text, on_int) for v in value]
    if isinstance(value, str):
        return on_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return on_int(value)
    return value


@dataclass(frozen=True)
class Transformer:
    name: str
    doc: str
    text: Callable[[str], Any] = lambda s: s
    integer: Callable[[int], Any] = lambda n: n

    def __call__(self, value: Any) -> Any:
        return walk(value, self.text, self.integer)


def account_prefix(rename_back: Callable[[str], str]) -> Transformer:
    return Transformer("account-prefix", "the replay's generated account names (either letter case) and its admin "
                                         "read as the recording's", text=rename_back)


def server_time(window: Window) -> Transformer:
    return Transformer("server-time", "an integer within five minutes of the run reads <server time>",
                       integer=lambda n: SERVER_TIME if window.holds(n) else n)


def fill_query(query: str, *, usersig: Callable[[int], str], sdkappid: int, identifier: str) -> str:
    """The recorded query string with its tokens replaced by the replay's values."""
    pieces = []
    for piece in query.split("&") if query else []:
        key, eq, value = piece.partition("=")
        if value.startswith("<usersig:") and value.endswith(">"):
            value = quote_plus(usersig(int(value[len("<usersig:"):-1])))
        elif value == "<random>":
            value = str(secrets.randbelow(2**32))
        elif value == "<sdkappid>":
            value = str(sdkappid)
        elif value == "<identifier>":
            value = quote_plus(identifier)
        pieces.append(f"{key}{eq}{value}")
    return "&".join(pieces)
