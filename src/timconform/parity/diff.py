"""Divergences between two answers, by JSON path: values, types, missing and added fields, and field order.

Bodies are parsed with their objects as :class:`Obj` (the key/value pairs in the order received), because
the order of the fields is part of what the live gateway sends and an emulator is asked to match it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


class Obj(list):
    """A JSON object as its (key, value) pairs, in order."""

    def keys(self) -> list[str]:
        return [k for k, _ in self]

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self if k == key), default)


NOT_JSON = object()


def parse(text: str | None) -> Any:
    """The body with its objects as Obj; NOT_JSON when it is no JSON."""
    if text is None:
        return NOT_JSON
    try:
        return json.loads(text, object_pairs_hook=Obj)
    except (ValueError, RecursionError):
        return NOT_JSON


def plain(value: Any) -> Any:
    """An Obj tree as ordinary JSON values (for messages and reports)."""
    if isinstance(value, Obj):
        return {k: plain(v) for k, v in value}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Divergence:
    path: str
    kind: str  # "value", "type", "missing", "added", "order", "status", "text"
    recorded: Any
    replayed: Any


def diff(recorded: Any, replayed: Any, path: str = "$") -> list[Divergence]:
    if isinstance(recorded, Obj) and isinstance(replayed, Obj):
        return _objects(recorded, replayed, path)
    if isinstance(recorded, list) and isinstance(replayed, list) and not isinstance(recorded, Obj) \
            and not isinstance(replayed, Obj):
        out = []
        for index in range(max(len(recorded), len(replayed))):
            at = f"{path}[{index}]"
            if index >= len(replayed):
                out.append(Divergence(at, "missing", plain(recorded[index]), None))
            elif index >= len(recorded):
                out.append(Divergence(at, "added", None, plain(replayed[index])))
            else:
                out += diff(recorded[index], replayed[index], at)
        return out
    if _kind(recorded) != _kind(replayed):
        return [Divergence(path, "type", plain(recorded), plain(replayed))]
    if recorded != replayed:
        return [Divergence(path, "value", plain(recorded), plain(replayed))]
    return []


def _objects(recorded: Obj, replayed: Obj, path: str) -> list[Divergence]:
    mine, theirs = recorded.keys(), replayed.keys()
    if (len(set(mine)) < len(mine) or len(set(theirs)) < len(theirs)) and plain_pairs(recorded) != plain_pairs(replayed):
        # A key given twice: which copy a reader takes is the reader's choice, so the pairs are compared as sent.
        return [Divergence(path, "duplicate-keys", plain_pairs(recorded), plain_pairs(replayed))]
    out = []
    for key in mine:
        at = _child(path, key)
        if key not in theirs:
            out.append(Divergence(at, "missing", plain(recorded.get(key)), None))
        else:
            out += diff(recorded.get(key), replayed.get(key), at)
    out += [Divergence(_child(path, k), "added", None, plain(replayed.get(k))) for k in theirs if k not in mine]
    shared = [k for k in mine if k in theirs]
    if shared != [k for k in theirs if k in mine]:
        out.append(Divergence(path, "order", shared, [k for k in theirs if k in mine]))
    return out


def plain_pairs(value: Obj) -> list[list[Any]]:
    return [[k, plain(v)] for k, v in value]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"  # 0 and 0.0, 1000 and 1e3 are written differently: a strict reader tells them apart
    if isinstance(value, float):
        return "number"
    if isinstance(value, Obj):
        return "object"
    return type(value).__name__


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def pattern(declared: str) -> re.Pattern[str]:
    """A declared path as a pattern: ``[*]`` any index, ``*`` any one key (``$.ResultItem[*].ResultInfo``)."""
    text = re.escape(declared).replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", r"[^.\[\]]+")
    return re.compile(text)
