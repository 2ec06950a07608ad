"""Behaviour profiles: where the docs are silent, which outcome the emulator shows.

A profile maps rule ids to outcome ids of schemas/rules.yaml, e.g. ``OPEN-EXISTING-FRIEND: overwrite``.
Every rule with outcomes has a documented default there; a profile file (``--behaviour FILE``, YAML
or JSON) pins others. The suite writes the outcomes it observed on a target in the same format, so
the emulator can be made to behave like that target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from timconform.inputs import InputError, read_document, unknown_keys
from timconform.spec import Spec

# The switches whose outcomes change the model's semantics rather than just the code it answers,
# with the outcome ids of schemas/rules.yaml that the emulator implements for each.
SEMANTIC_SWITCHES = {
    "existing_friend": "OPEN-EXISTING-FRIEND",
    "unknown_from_account": "FI-ACCOUNT-FROM-EXISTS",
    "unknown_to_account": "OPEN-UNKNOWN-TO-ACCOUNT-LEVEL",
    "self_import": "OPEN-SELF-IMPORT",
    "duplicate_to_account": "OPEN-DUPLICATE-TO-ACCOUNT",
    "empty_batch": "OPEN-EMPTY-ADDFRIENDITEM",
    "custom_tag_unconfigured": "FI-LIMIT-CUSTOM-TAG-CONFIGURED",
    "custom_value_integer": "OPEN-CUSTOM-VALUE-INTEGER",
    "time_field_range": "OPEN-TIME-FIELD-RANGE",
    "content_type_header": "OPEN-CONTENT-TYPE-HEADER",
    "unknown_query_param": "OPEN-UNKNOWN-QUERY-PARAM",
    "repeated_query_param": "FI-QUERY-REPEATED",
    "random_reuse": "OPEN-RANDOM-REUSE",
    "random_out_of_range": "OPEN-RANDOM-OUT-OF-RANGE",
    "concurrent_write": "FI-WRITE-CONFLICT",
}
IMPLEMENTED = {
    "existing_friend": {"per-item-30001", "overwrite", "keep"},
    "unknown_from_account": {"request-30003", "per-item-30003"},
    "unknown_to_account": {"per-item-30003", "request-30003"},
    "self_import": {"per-item-30001", "request-30001", "accepted"},
    "duplicate_to_account": {"later-duplicate-30001", "last-wins", "first-wins", "request-30001"},
    "empty_batch": {"request-30001", "ok-empty"},
    "custom_tag_unconfigured": {"per-item-30001", "request-30001", "ignored"},
    "custom_value_integer": {"accepted", "stringified", "per-item-30001"},
    "time_field_range": {"per-item-30001", "request-30001", "accepted"},
    "content_type_header": {"accept-any", "reject"},
    "unknown_query_param": {"ignored", "reject-60002"},
    "repeated_query_param": {"reject-60002", "first-wins", "last-wins"},
    "random_reuse": {"accepted", "rejected"},
    "random_out_of_range": {"reject-60002", "accepted"},
    "concurrent_write": {"serialised", "conflict-30008"},
}
# Rules with outcomes that are not a code choice and that the emulator shows one way only.
FIXED = {
    "OPEN-REMARKTIME-READBACK": {"not-exposed"},
    "OPEN-ADDTIME-READBACK": {"verbatim"},
    "OPEN-RESULTINFO-TEXT": {"identifier"},
    "OPEN-REQUEST-SIZE-LIMIT": {"processed"},
    "OPEN-USERID-CASE": {"distinct"},
    "OPEN-TEXT-CONTROL-CHARS": {"stored-verbatim"},
    "OPEN-TEXT-LONE-SURROGATE": {"per-item-30001"},
}


class BehaviourError(ValueError):
    """A behaviour profile names an unknown rule or outcome."""


@dataclass(frozen=True)
class Behaviour:
    """The chosen outcome id for every rule with outcomes, plus attribute access to the semantic ones."""

    outcomes: Mapping[str, str]

    def __getattr__(self, name: str) -> str:
        rule_id = SEMANTIC_SWITCHES.get(name)
        if rule_id is None:
            raise AttributeError(name)
        return self.outcomes[rule_id]

    def code(self, spec: Spec, rule_id: str) -> int:
        """The code the emulator answers for ``rule_id``: its chosen outcome's first code, else its first code."""
        rule = spec.rules[rule_id]
        chosen = self.outcomes.get(rule_id)
        if chosen is not None:
            codes = rule.outcome(chosen).codes
            if codes:
                return codes[0]
        if not rule.codes:
            raise BehaviourError(f"rule {rule_id} names no code to answer with")
        return rule.codes[0]


def outcome_code(spec: Spec, rule_id: str, outcome_id: str) -> int:
    """The first code of one named outcome, for answers that a non-default outcome describes."""
    codes = spec.rules[rule_id].outcome(outcome_id).codes
    if not codes:
        raise BehaviourError(f"outcome {outcome_id} of rule {rule_id} names no code")
    return codes[0]


def defaults(spec: Spec) -> dict[str, str]:
    return {rule.id: rule.default for rule in spec.rules.values() if rule.outcomes and rule.default}


def load(spec: Spec, overrides: Mapping[str, str] | Path | str | None = None) -> Behaviour:
    """The default profile of the catalogue with ``overrides`` (a mapping or a YAML/JSON file) applied."""
    if isinstance(overrides, (str, Path)):
        path = Path(overrides)
        try:
            return load(spec, read_profile(path))
        except BehaviourError as exc:
            text = str(exc)
            raise BehaviourError(text if str(path) in text else text.replace("behaviour profile", f"behaviour profile "
                                                                             f"{path}", 1)) from None
    chosen = defaults(spec)
    for rule_id, outcome_id in (overrides or {}).items():
        rule = spec.rules.get(rule_id)
        if rule is None or not rule.outcomes:
            raise BehaviourError(f"behaviour profile: {rule_id} is not a rule with outcomes")
        if outcome_id not in {o.id for o in rule.outcomes}:
            known = ", ".join(o.id for o in rule.outcomes)
            raise BehaviourError(f"behaviour profile: {rule_id} has no outcome {outcome_id!r} (known: {known})")
        chosen[rule_id] = outcome_id
    showable = {rule_id: IMPLEMENTED[switch] for switch, rule_id in SEMANTIC_SWITCHES.items()} | FIXED
    for rule_id, outcome_id in chosen.items():
        allowed = showable.get(rule_id)
        if allowed is None:  # a pure code choice: any outcome that names a code can be shown
            allowed = {o.id for o in spec.rules[rule_id].outcomes if o.codes}
        if outcome_id not in allowed:
            raise BehaviourError(f"behaviour profile: the emulator cannot show {rule_id}={outcome_id!r} "
                                 f"(it can show: {', '.join(sorted(allowed))})")
    return Behaviour(outcomes=chosen)


def read_profile(path: Path) -> dict[str, str]:
    try:
        data: Any = read_document(path, "behaviour profile")
        if isinstance(data, dict) and "outcomes" in data:
            unknown_keys(data, ("outcomes",), f"behaviour profile {path}")
            data = data["outcomes"]
    except InputError as exc:
        raise BehaviourError(str(exc)) from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise BehaviourError(f"behaviour profile {path}: expected a mapping of rule id to outcome id")
    return data
