"""The executable specification, loaded and cross-checked once.

Every other module reaches openapi.yaml, the JSON Schemas, the limits, the error catalogue and
the rule catalogue only through :func:`load`, so a broken catalogue fails at start-up with one
clear message rather than as a wrong verdict later.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

STRENGTHS = ("documented", "inferred", "open")


class SpecError(Exception):
    """The specification files are missing or contradict each other."""


@dataclass(frozen=True)
class Outcome:
    id: str
    description: str
    codes: tuple[int, ...] = ()
    level: str | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    operation: str
    category: str
    statement: str
    strength: str
    source: Mapping[str, str]
    codes: tuple[int, ...] = ()
    level: str | None = None
    limit: str | None = None
    outcomes: tuple[Outcome, ...] = ()
    default: str | None = None
    code_strength: str | None = None
    note: str | None = None
    why_default: str | None = None
    unobservable: str | None = None  # why no target's answer can break the rule (reported as Skip)

    def outcome(self, outcome_id: str) -> Outcome:
        for outcome in self.outcomes:
            if outcome.id == outcome_id:
                return outcome
        raise KeyError(f"rule {self.id} has no outcome {outcome_id!r}")


@dataclass(frozen=True)
class ErrorCode:
    code: int
    name: str
    meaning: str
    level: str
    retry: str
    operations: tuple[str, ...]
    error_info: str
    error_info_documented: bool
    source: Mapping[str, str]
    confidence: str
    klass: str
    note: str | None = None
    error_info_variants: tuple[Mapping[str, Any], ...] = ()
    error_info_source: Mapping[str, str] | None = None  # the evidence for error_info, when not the code's source

    def applies_to(self, operation: str) -> bool:
        return "*" in self.operations or operation in self.operations

    def info(self, operation: str) -> str:
        """The ErrorInfo text for ``operation``: a documented per-operation variant where the docs show one."""
        for variant in self.error_info_variants:
            if variant["operation"] == operation and variant.get("documented"):
                return variant["error_info"]
        return self.error_info


@dataclass(frozen=True)
class Limit:
    name: str
    value: int
    unit: str
    rule: str


@dataclass(frozen=True)
class Operation:
    name: str
    path: str
    rate_per_second: int
    request_schema: str
    response_schema: str
    tags: tuple[str, ...]


@dataclass(frozen=True, eq=False)  # identity hash: the loaded spec keys caches
class Spec:
    root: Path
    openapi: Mapping[str, Any]
    rules: Mapping[str, Rule]
    codes: Mapping[int, ErrorCode]
    limits: Mapping[str, Limit]
    operations: Mapping[str, Operation]
    servers: Mapping[str, str]
    sha256: str
    _registry: Registry = field(repr=False)

    @property
    def openapi_path(self) -> Path:
        return self.root / "openapi.yaml"

    def limit(self, name: str) -> int:
        return self.limits[name].value

    def code(self, code: int) -> ErrorCode:
        return self.codes[code]

    def code_named(self, name: str) -> int:
        """The code schemas/error-codes.json calls ``name`` (e.g. SNS_INVALID_PARAMETER): how the emulator and the
        client certification spell a code no rule's codes pick, so that no code is written twice."""
        found = [code for code, entry in self.codes.items() if entry.name == name]
        if len(found) != 1:
            raise SpecError(f"error-codes.json has {len(found)} codes named {name!r}")
        return found[0]

    def operation_by_path(self, path: str) -> Operation | None:
        return _path_index(self).get(path)

    def validator(self, schema: str) -> Draft202012Validator:
        """A validator for ``schemas/<schema>`` (e.g. ``friend_import.request.json``)."""
        return _validator(self, schema)


def data_root() -> Path:
    """Where openapi.yaml and schemas/ live: inside the installed package, or the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data", here.parents[1]):
        if (candidate / "openapi.yaml").is_file() and (candidate / "schemas").is_dir():
            return candidate
    raise SpecError(f"openapi.yaml and schemas/ not found beside {here}")


@functools.lru_cache(maxsize=4)
def load(root: Path | None = None) -> Spec:
    root = Path(root) if root is not None else data_root()
    schemas_dir = root / "schemas"
    try:
        openapi = yaml.safe_load((root / "openapi.yaml").read_text(encoding="utf-8"))
        rules_doc = yaml.safe_load((schemas_dir / "rules.yaml").read_text(encoding="utf-8"))
        codes_doc = _read_json(schemas_dir / "error-codes.json")
        limits_doc = _read_json(schemas_dir / "limits.json")
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read the specification under {root}: {exc}") from exc

    registry = _registry(schemas_dir)
    for doc, schema_name in ((rules_doc, "rules.schema.json"), (codes_doc, "error-codes.schema.json"),
                             (limits_doc, "limits.schema.json")):
        errors = sorted(_validator_from(registry, schemas_dir, schema_name).iter_errors(doc), key=str)
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path)
            raise SpecError(f"{schema_name}: {len(errors)} error(s); first at /{where}: {errors[0].message}")

    rules = _rules(rules_doc)
    codes = _codes(codes_doc)
    limits = {name: Limit(name=name, **entry) for name, entry in limits_doc["limits"].items()}
    operations = _operations(openapi)
    servers = {s["x-region"]: s["url"].rstrip("/") for s in openapi.get("servers", []) if "x-region" in s}
    _cross_check(rules, codes, limits)
    return Spec(root=root, openapi=openapi, rules=MappingProxyType(rules), codes=MappingProxyType(codes),
                limits=MappingProxyType(limits), operations=MappingProxyType(operations),
                servers=MappingProxyType(servers), sha256=_digest(root), _registry=registry)


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _registry(schemas_dir: Path) -> Registry:
    resources = []
    for path in sorted(schemas_dir.rglob("*.json")):
        resource = Resource.from_contents(_read_json(path), default_specification=DRAFT202012)
        resources.append((path.resolve().as_uri(), resource))
    return Registry().with_resources(resources)


def _validator_from(registry: Registry, schemas_dir: Path, schema: str) -> Draft202012Validator:
    uri = (schemas_dir / schema).resolve().as_uri()
    if uri not in registry:
        raise SpecError(f"no schema named {schema!r} under {schemas_dir}")
    return Draft202012Validator({"$ref": uri}, registry=registry)


@functools.lru_cache(maxsize=64)
def _validator(spec: Spec, schema: str) -> Draft202012Validator:
    return _validator_from(spec._registry, spec.root / "schemas", schema)


@functools.lru_cache(maxsize=4)
def _path_index(spec: Spec) -> dict[str, Operation]:
    return {op.path: op for op in spec.operations.values()}


def _rules(doc: Mapping[str, Any]) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for entry in doc["rules"]:
        entry = dict(entry)
        outcomes = tuple(Outcome(id=o["id"], description=o["description"], codes=tuple(o.get("codes", ())),
                                 level=o.get("level")) for o in entry.pop("outcomes", ()))
        entry["codes"] = tuple(entry.get("codes", ()))
        if entry["id"] in rules:
            raise SpecError(f"rules.yaml: rule {entry['id']} is defined twice")
        rules[entry["id"]] = Rule(outcomes=outcomes, **entry)
    return rules


def _codes(doc: Mapping[str, Any]) -> dict[int, ErrorCode]:
    codes: dict[int, ErrorCode] = {}
    for entry in doc["codes"]:
        entry = dict(entry)
        entry["klass"] = entry.pop("class")
        entry["operations"] = tuple(entry["operations"])
        entry["error_info_variants"] = tuple(entry.get("error_info_variants", ()))
        if entry["code"] in codes:
            raise SpecError(f"error-codes.json: code {entry['code']} is listed twice")
        codes[entry["code"]] = ErrorCode(**entry)
    return codes


def _operations(openapi: Mapping[str, Any]) -> dict[str, Operation]:
    operations = {}
    for path, item in openapi["paths"].items():
        post = item["post"]
        content = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        response = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        operations[post["operationId"]] = Operation(
            name=post["operationId"], path=path, rate_per_second=post["x-rate-limit-per-second"],
            request_schema=content.removeprefix("schemas/"), response_schema=response.removeprefix("schemas/"),
            tags=tuple(post.get("tags", ())))
    return operations


def _cross_check(rules: Mapping[str, Rule], codes: Mapping[int, ErrorCode], limits: Mapping[str, Limit]) -> None:
    problems = []
    for rule in rules.values():
        named = set(rule.codes) | {c for o in rule.outcomes for c in o.codes}
        problems += [f"rule {rule.id} names code {c}, which error-codes.json lacks" for c in sorted(named - codes.keys())]
        if rule.limit is not None and rule.limit not in limits:
            problems.append(f"rule {rule.id} names limit {rule.limit!r}, which limits.json lacks")
        if rule.strength == "open":
            if len(rule.outcomes) < 2:
                problems.append(f"open rule {rule.id} lists fewer than two outcomes")
            if rule.default not in {o.id for o in rule.outcomes}:
                problems.append(f"open rule {rule.id} has default {rule.default!r}, not one of its outcomes")
    problems += [f"limit {limit.name} names rule {limit.rule}, which rules.yaml lacks"
                 for limit in limits.values() if limit.rule not in rules]
    if problems:
        raise SpecError("; ".join(problems))


def _digest(root: Path) -> str:
    """One hash over every specification file, so a report says exactly which spec judged it."""
    digest = hashlib.sha256()
    for path in [root / "openapi.yaml", *sorted((root / "schemas").rglob("*"))]:
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()
