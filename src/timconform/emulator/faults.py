"""Fault plans: make chosen calls fail in chosen ways, deterministically by call count.

A plan is a list of faults; each names an operation (or "*"), which of its calls it hits (1-based
call numbers of that operation, counted from the moment the plan is installed) and an action:

- ``code``: answer a catalogue code at the ``request`` level (ActionStatus FAIL; nothing stored) or
  the ``item`` level (the chosen items fail with that code and are not stored; the others proceed);
- ``http``: answer an HTTP status (e.g. 502) with a plain-text body, as a gateway in trouble does;
- ``non-json``: answer HTTP 200 with a body that is not JSON;
- ``delay``: wait ``seconds`` before handling the call normally (to trip client timeouts);
- ``old-shape``: handle the call, then answer in the older documented shape (``Fail_Account: []``
  even on success and an ``Invalid_Account`` list; api-facts §4.2).

Calls are counted once they pass the gateway's checks (path, method, query, SDKAppID, UserSig, admin,
rate limit): a fault stands for trouble behind the gateway, so a call the gateway refuses never uses it
up. ``after_second: true`` on any fault holds the answer until the emulator's clock is in a later
second than when the call came: a client that makes a new UserSig as soon as it is told its UserSig
expired (70001) then makes a different one, since a UserSig carries its time in whole seconds.

Example (YAML)::

    faults:
      - {operation: friend_import, calls: [1], action: code, code: 30006}
      - {operation: friend_import, calls: [2, 3], action: code, code: 30010, level: item, items: [0]}
      - {calls: [4], action: http, status: 502}
"""

from __future__ import annotations

from timconform.inputs import InputError, read_document
import threading
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


ACTIONS = ("code", "http", "non-json", "delay", "old-shape")


class FaultPlanError(ValueError):
    """A fault plan that cannot be applied; the message names the entry and the field."""


@dataclass(frozen=True)
class Fault:
    action: str
    operation: str = "friend_import"
    calls: frozenset[int] | None = None  # None: every call
    code: int | None = None
    level: str = "request"
    items: tuple[int, ...] | None = None  # None: every item
    status: int = 502
    seconds: float = 0.0
    body: str = ""
    after_second: bool = False  # answer only once the emulator's clock has passed into the next second

    def hits(self, operation: str, call: int) -> bool:
        return self.operation in ("*", operation) and (self.calls is None or call in self.calls)

    def hits_item(self, index: int) -> bool:
        return self.items is None or index in self.items


@dataclass
class FaultPlan:
    faults: tuple[Fault, ...] = ()
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Counts kept elsewhere (redis_shared.RedisFaultCalls: shared by every emulator process); None: ``_counts``.
    counter: Any = field(default=None, repr=False, compare=False)

    def next_call(self, operation: str) -> list[Fault]:
        """Count one call of ``operation`` and return the faults that hit it."""
        if self.counter is not None:
            call = self.counter.next(operation)
        else:
            with self._lock:
                call = self._counts.get(operation, 0) + 1
                self._counts[operation] = call
        return [f for f in self.faults if f.hits(operation, call)]

    def counts(self) -> dict[str, int]:
        if self.counter is not None:
            return self.counter.counts()
        with self._lock:
            return dict(self._counts)

    def data(self) -> list[dict[str, Any]]:
        """The plan as ``parse`` reads it: what a shared store keeps."""
        return [{**_describe(f), **({"body": f.body} if f.action in ("http", "non-json") else {})}
                for f in self.faults]

    def describe(self) -> dict[str, Any]:
        return {"faults": [_describe(f) for f in self.faults], "calls": self.counts()}


def parse(data: Any, *, known_codes: Container[int], operations: Container[str]) -> FaultPlan:
    if isinstance(data, Mapping):
        if set(data) != {"faults"}:  # a typo ("fautls:") is never an empty plan
            raise FaultPlanError(f"a fault plan mapping holds exactly one key, 'faults'; found "
                                 f"{', '.join(sorted(map(str, data))) or 'none'}")
        data = data["faults"]
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)):
        raise FaultPlanError("a fault plan is a list of faults (or a mapping with a 'faults' list)")
    return FaultPlan(faults=tuple(_fault(i, entry, known_codes, operations) for i, entry in enumerate(data)))


def load(path: Path, *, known_codes: Container[int], operations: Container[str]) -> FaultPlan:
    try:
        return parse(read_document(path, "fault plan"), known_codes=known_codes, operations=operations)
    except (InputError, FaultPlanError) as exc:
        text = str(exc)
        raise FaultPlanError(text if text.startswith("fault plan ") else f"fault plan {path}: {text}") from None


FIELDS = frozenset({"action", "operation", "calls", "code", "level", "items", "status", "seconds", "body",
                    "after_second"})


def _fault(index: int, entry: Any, known_codes: Container[int], operations: Container[str]) -> Fault:
    where = f"fault {index}"
    if not isinstance(entry, Mapping):
        raise FaultPlanError(f"{where}: expected a mapping")
    unknown = set(entry) - FIELDS
    if unknown:
        raise FaultPlanError(f"{where}: unknown field(s) {sorted(unknown)}")
    action = entry.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise FaultPlanError(f"{where}: action={action!r}, but only {', '.join(ACTIONS)} are known")
    fault = _common(where, entry, action, operations)
    parse = _ACTION_FIELDS.get(action)
    return Fault(**{**fault.__dict__, **parse(where, entry, fault, known_codes)}) if parse else fault


def _common(where: str, entry: Mapping[str, Any], action: str, operations: Container[str]) -> Fault:
    """The fields every action has: operation, calls, after_second."""
    operation = entry.get("operation", "friend_import")
    # isinstance first: a list or mapping here is unhashable, and `in` a mapping would raise TypeError.
    if operation != "*" and (not isinstance(operation, str) or operation not in operations):
        raise FaultPlanError(f"{where}: operation={operation!r} is not an operation of openapi.yaml")
    calls = entry.get("calls")
    if calls is not None and (not isinstance(calls, list) or not all(_positive_int(c) for c in calls)):
        raise FaultPlanError(f"{where}: calls={calls!r}, but it must be a list of call numbers from 1")
    after_second = entry.get("after_second", False)
    if not isinstance(after_second, bool):
        raise FaultPlanError(f"{where}: after_second={after_second!r}, but it must be true or false")
    return Fault(action=action, operation=operation, calls=frozenset(calls) if calls is not None else None,
                 after_second=after_second)


def _code_fields(where: str, entry: Mapping[str, Any], fault: Fault, known_codes: Container[int]) -> dict[str, Any]:
    code, level = entry.get("code"), entry.get("level", "request")
    if not _positive_int(code) or code not in known_codes:
        raise FaultPlanError(f"{where}: code={code!r} is not in schemas/error-codes.json")
    if not isinstance(level, str) or level not in ("request", "item"):
        raise FaultPlanError(f"{where}: level={level!r}, but only request or item are known")
    if level == "item" and fault.operation != "friend_import":
        raise FaultPlanError(f"{where}: item-level faults apply to friend_import only, not {fault.operation!r}")
    items = entry.get("items")
    if items is not None and (not isinstance(items, list) or not all(_index(i) for i in items)):
        raise FaultPlanError(f"{where}: items={items!r}, but it must be a list of item indexes from 0")
    return {"code": code, "level": level, "items": tuple(items) if items is not None else None}


def _http_fields(where: str, entry: Mapping[str, Any], fault: Fault, known_codes: Container[int]) -> dict[str, Any]:
    status = entry.get("status", 502)
    if not isinstance(status, int) or not 100 <= status <= 599 or status == 200:
        raise FaultPlanError(f"{where}: status={status!r}, but it must be an HTTP status other than 200")
    return {"status": status, "body": str(entry.get("body", "Bad Gateway"))}


def _delay_fields(where: str, entry: Mapping[str, Any], fault: Fault, known_codes: Container[int]) -> dict[str, Any]:
    seconds = entry.get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= 600:
        raise FaultPlanError(f"{where}: seconds={seconds!r}, but it must be a number from 0 to 600")
    return {"seconds": float(seconds)}


def _non_json_fields(where: str, entry: Mapping[str, Any], fault: Fault, known_codes: Container[int]) -> dict[str, Any]:
    return {"body": str(entry.get("body", "<html><body>upstream error</body></html>"))}


_ACTION_FIELDS = {"code": _code_fields, "http": _http_fields, "delay": _delay_fields, "non-json": _non_json_fields}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _describe(fault: Fault) -> dict[str, Any]:
    out: dict[str, Any] = {"action": fault.action, "operation": fault.operation}
    if fault.calls is not None:
        out["calls"] = sorted(fault.calls)
    if fault.after_second:
        out["after_second"] = True
    if fault.action == "code":
        out.update(code=fault.code, level=fault.level)
        if fault.items is not None:
            out["items"] = list(fault.items)
    elif fault.action == "http":
        out["status"] = fault.status
    elif fault.action == "delay":
        out["seconds"] = fault.seconds
    return out
