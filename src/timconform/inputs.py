"""Reading the files a user hands timconform (baselines, behaviour profiles, fault plans, accounts, declared
divergences): one reader, so that every bad file gets the same kind of answer, one line naming the file and
the problem, whatever is wrong with it (not UTF-8, not YAML, nested too deeply, a key given twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 64  # far deeper than any input of ours needs; parsers recurse, so depth is bounded before parsing


class InputError(ValueError):
    """A file a user gave that timconform cannot use: the message is one line naming the file."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice (YAML keeps the last one silently)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                        key_node.start_mark)
        except TypeError:  # an unhashable key: SafeLoader's own error says so below
            break
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_document(path: str | Path, what: str) -> Any:
    """The YAML (or JSON) document in ``path``; InputError "<what> <path>: <problem>" otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    depth = nesting(text)
    if depth > MAX_DEPTH:
        raise InputError(f"{what} {path}: nested {depth} levels deep (at most {MAX_DEPTH})")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"{what} {path}: not valid YAML ({_one_line(exc)})") from None
    except RecursionError:
        raise InputError(f"{what} {path}: nested too deeply") from None


def nesting(text: str) -> int:
    """How deep the brackets of a YAML/JSON text nest (flow style), or its indentation does (block style)."""
    deepest = depth = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    indents = [len(line) - len(line.lstrip(" -")) for line in text.splitlines() if line.strip()]
    return max(deepest, max(indents, default=0) // 2)


def unknown_keys(mapping: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """InputError when ``mapping`` has a key outside ``allowed`` (a typo is never silently ignored)."""
    unknown = sorted(str(k) for k in mapping if k not in set(allowed))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(allowed))})")


def _one_line(exc: BaseException) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())[:200]
