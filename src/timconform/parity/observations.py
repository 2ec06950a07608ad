"""What a check saw, as JSON, and back: the observation a replay judges again on its own answers.

An answer is written as a reference to its exchange (``{"$exchange": n}``), a fact read back as its
derivation (oracle/derived.py), a moment of the run as its offset from the run's start. A value that none of
these describes (a schemathesis case, a Python object) makes the observation unrecordable: the cassette then
keeps the finding without it, and a replay says that rule was not judged again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from timconform.oracle.derived import Derived, FriendSet, Instant
from timconform.oracle.registry import Observation


class NotRecordable(Exception):
    """A value of the observation has no JSON form that a replay could give back."""


def encode(observation: Observation, *, exchange_of: Callable[[Any], int | None], started: float,
           body_of: Callable[[Any], str | None]) -> dict[str, Any]:
    """``exchange_of(reply)``: the cassette number of a reply's exchange; ``body_of(value)``: "body" or
    "AddFriendItem" when ``value`` is (part of) the body its exchange was sent with, else None."""
    encoder = _Encoder(exchange_of, started, body_of)
    out = {"kind": observation.kind, "reply": encoder(observation.reply), "request": encoder(observation.request),
           "facts": {k: encoder(v) for k, v in observation.facts.items()}}
    for name in ("item", "account", "note", "unreached"):
        if getattr(observation, name) not in (None, ""):
            out[name] = getattr(observation, name)
    return out


class _Encoder:
    def __init__(self, exchange_of: Callable[[Any], int | None], started: float,
                 body_of: Callable[[Any], str | None]) -> None:
        self.exchange_of, self.started, self.body_of = exchange_of, started, body_of

    def __call__(self, value: Any) -> Any:
        if isinstance(value, Instant):
            return {"$instant": round(float(value) - self.started, 3)}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (FriendSet, Derived)):
            return self.derived(value.derived if isinstance(value, FriendSet) else value)
        if hasattr(value, "exchange") and hasattr(value, "status"):  # a Reply
            number = self.exchange_of(value)
            if number is None:
                raise NotRecordable("an answer that is not in the cassette")
            return {"$exchange": number}
        part = self.body_of(value)
        if part is not None:
            return {"$sent": part}
        return self.container(value)

    def derived(self, value: Derived) -> dict[str, Any]:
        return {"$derived": value.name, "replies": [self(r) for r in value.replies], "args": self(list(value.args))}

    def container(self, value: Any) -> Any:
        if isinstance(value, (set, frozenset)):
            return {"$set": sorted((self(v) for v in value), key=repr)}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        if isinstance(value, Mapping) and all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: self(v) for k, v in value.items()}
        raise NotRecordable(f"a {type(value).__name__}")


def decode(data: Mapping[str, Any], *, reply_of: Callable[[int], Any], sent_of: Callable[[int, str], Any],
           started: float, exchange: int) -> Observation:
    """The observation again, with the replies ``reply_of(n)`` gives, and the request parts ``sent_of``."""

    def dec(value: Any) -> Any:
        if isinstance(value, list):
            return [dec(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "$exchange" in value:
            return reply_of(value["$exchange"])
        if "$instant" in value:
            return Instant(started + value["$instant"])
        if "$derived" in value:
            return Derived(value["$derived"], tuple(dec(r) for r in value["replies"]), tuple(dec(value["args"])))
        if "$sent" in value:
            return sent_of(exchange, value["$sent"])
        if "$set" in value:
            return {_hashable(dec(v)) for v in value["$set"]}
        return {k: dec(v) for k, v in value.items()}

    return Observation(data["kind"], reply=dec(data.get("reply")), request=dec(data.get("request")),
                       item=data.get("item"), account=data.get("account"), note=data.get("note", ""),
                       facts={k: dec(v) for k, v in data.get("facts", {}).items()}, unreached=data.get("unreached"))


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value
