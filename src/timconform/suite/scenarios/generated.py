"""Batches generated from openapi.yaml by schemathesis, with invalid items mixed in by Hypothesis.

Each example gets fresh accounts, its custom tags mapped onto the target's, and a few items that
break one documented limit each (byte boundaries in multi-byte text among them). The suite
predicts each item's fate from the limits, then judges the answer, the round trip and one-way-ness.
Schemathesis's own response-schema check runs too; its status-code checks do not (an always-200 API
makes them blind, docs/reference/peers.md §A.8).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import schemathesis
from hypothesis import strategies as st

from timconform.oracle.predict import OPEN_VIOLATIONS
from timconform.suite import drawing_schema
from timconform.suite.generation import run_generated
from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES, one_way, round_trip
from timconform.suite.session import ADD_SOURCE, Session

MAX_ITEMS = 12
LONG_ID = "<33 bytes>"  # replaced by a fresh name padded to 33 bytes, unique so results can be matched by account
# One entry per documented limit: (rule, field builder). Multi-byte text sits on the byte boundary.
VIOLATIONS = {
    "FI-LIMIT-REMARK-BYTES": lambda d: {"Remark": d(st.sampled_from(["好" * 32 + "a", "é" * 48 + "a", "a" * 97]))},
    "FI-LIMIT-ADDWORDING-BYTES": lambda d: {"AddWording": d(st.sampled_from(["好" * 85 + "ab", "a" * 257]))},
    "FI-LIMIT-GROUPNAME-BYTES": lambda d: {"GroupName": [d(st.sampled_from(["好" * 10 + "a", "a" * 31]))]},
    "FI-LIMIT-GROUPNAME-NONEMPTY": lambda d: {"GroupName": [""]},
    "FI-LIMIT-ADDSOURCE-FORM": lambda d: {"AddSource": d(st.sampled_from(
        ["Android", "AddSource_Type_", "AddSource_Type_Abcdefghi", "AddSource_Type_A1", "addsource_type_Web"]))},
    "FI-LIMIT-CUSTOM-TAG-FORM": lambda d: {"CustomItem": [{"Tag": d(st.sampled_from(
        ["Tag_SNS_Custom_", "Tag_SNS_Custom_Abcdefghi", "Tag_SNS_IM_Remark", "Custom_Abc"])), "Value": "v"}]},
    "FI-LIMIT-USERID-BYTES": lambda d: {"To_Account": LONG_ID},
}


def _schemathesis_config():
    """Schemathesis's sanitisation does not know usersig (peers.md §A.8): add it, so its curl commands hide it."""
    keys = list(schemathesis.Config().output.sanitization.keys_to_sanitize) + ["usersig"]
    return schemathesis.Config.from_dict({"output": {"sanitization": {"keys-to-sanitize": keys}}})


@functools.lru_cache(maxsize=4)
def _operation(openapi_path: str, custom_tags: tuple[str, ...]):
    """Loaded once per process and tag set: parsing openapi.yaml costs ~0.17 s, every run used to pay it."""
    path = drawing_schema.openapi_copy(openapi_path, custom_tags, MAX_ITEMS)
    return schemathesis.openapi.from_path(path, config=_schemathesis_config())["/v4/sns/friend_import"]["POST"]


def _strategy(session: Session):
    fixed = {"sdkappid": 1, "identifier": "admin", "usersig": "x", "random": 1, "contenttype": "json"}
    operation = _operation(str(session.spec.openapi_path), tuple(session.custom_tags))
    return st.tuples(operation.as_strategy(query=fixed), st.data())


def _integral(value: Any) -> Any:
    """JSON Schema counts 0.0 as an integer and schemathesis sends it; the seed says Integer, so send 0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _sanitise(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    """Integer literals, each custom tag once (its first value), at most 32 friend lists.

    The drawing schema (timconform.suite.drawing_schema) already keeps the batch within MAX_ITEMS and
    the tags to the configured ones.
    """
    body = _integral(copy.deepcopy(body))
    items = body["AddFriendItem"]
    for entry in items:
        if "CustomItem" in entry:
            seen: dict[str, Any] = {}
            for custom in entry["CustomItem"]:
                seen.setdefault(custom["Tag"], custom["Value"])
            entry["CustomItem"] = [{"Tag": t, "Value": v} for t, v in seen.items()]
    _cap_friend_lists(items, session.spec.limit("friend_lists_per_user"))
    return body


def _cap_friend_lists(items: list[dict[str, Any]], maximum: int) -> None:
    """A user has at most ``maximum`` distinct friend lists (FI-FRIEND-LIST-LIMIT-32): a valid batch keeps to them."""
    kept: list[str] = []
    for entry in items:
        names = []
        for name in entry.get("GroupName", ()):
            if name not in kept and len(kept) < maximum:
                kept.append(name)
            names.append(name if name in kept else kept[len(names) % len(kept)])
        if "GroupName" in entry:
            entry["GroupName"] = list(dict.fromkeys(names))


def _example(session: Session, value) -> None:
    case, data = value
    draw = data.draw
    body = _sanitise(session, case.body)
    broken = draw(st.lists(st.sampled_from(sorted(VIOLATIONS)), max_size=3))
    for rule_id in broken:
        position = draw(st.integers(0, len(body["AddFriendItem"])))
        body["AddFriendItem"].insert(position, {"To_Account": "", "AddSource": ADD_SOURCE, **VIOLATIONS[rule_id](draw)})
    items = body["AddFriendItem"]
    fresh = session.accounts(1 + len(items))
    body["From_Account"] = fresh[0]
    limit = session.spec.limit("user_id_bytes")
    for entry, name in zip(items, fresh[1:]):
        entry["To_Account"] = name.ljust(limit + 1, "x") if entry["To_Account"] == LONG_ID else name
    reply = session.send_import(body)
    case.body = body
    session.judge("FI-ENVELOPE-SHAPE", "schemathesis", reply, case=case)
    codes = session.codes_by_account(reply, items)
    if codes is None:
        return  # the response rules have judged this answer already
    for index, (entry, code) in enumerate(zip(items, codes)):
        violation = session.predictor.violation(entry)
        if violation is None:
            session.judge("FI-VALID-ITEM-IMPORTED", "imported", reply, account=entry["To_Account"],
                          note=f"item {index} ({entry['To_Account']}), within every limit")
        elif violation in OPEN_VIOLATIONS and code == 0:
            continue  # accepted: which accepting outcome (stored as sent, stringified, ignored) needs a read-back
        else:
            session.judge(violation, "refused", reply, account=entry["To_Account"], note=f"item {index}")
    round_trip(session, body["From_Account"], items, codes)
    ok = [e["To_Account"] for e, c in zip(items, codes) if c == 0]
    if ok:
        one_way(session, body["From_Account"], ok[0])


@scenario("generated-batches", rules=RESPONSE_RULES + tuple(VIOLATIONS) + tuple(OPEN_VIOLATIONS) + (
    "FI-VALID-ITEM-IMPORTED", "FI-ROUND-TRIP", "FI-ONE-WAY", "OPEN-ADDTIME-READBACK"))
def generated_batches(session: Session) -> None:
    """Schemathesis-generated batches mixed with items that break one limit each."""
    run_generated(session, _strategy(session), _example)
