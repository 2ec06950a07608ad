"""The rules about the friend tables an import leaves behind: direction, round trip, counts, concurrency."""

from __future__ import annotations

from typing import Any

from timconform.oracle.answers import all_imported, imported, refused, seen
from timconform.oracle.registry import PASS, Observation, Outcome, check, failure
from timconform.oracle.tables import kept, reads_back, table
from timconform.spec import Rule, Spec

A_WITH_B, B_WITH_A = "CheckResult_Type_AWithB", "CheckResult_Type_BWithA"


def forward(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_check(From -> To, Both) after From imported To: AWithB (To did not gain From)."""
    relation = observation["relation"]
    if relation != A_WITH_B:
        raise failure(rule, observation, f"Expected friend_check({observation['owner']} -> {observation.account}, "
                                         f"Both) {A_WITH_B}: the import adds {observation['owner']} to nobody's table. "
                                         f"Received {relation!r}.")
    return PASS


def backward(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_check(To -> From, Both) after From imported To: BWithA."""
    relation = observation["relation"]
    if relation != B_WITH_A:
        raise failure(rule, observation, f"Expected friend_check({observation['owner']} -> {observation.account}, "
                                         f"Both) {B_WITH_A}. Received {relation!r}.")
    return PASS


def not_listed(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """friend_get_list(To -> From) after From imported To: the per-item code for "not a friend"."""
    codes = spec.rules["SUPPORT-FRIEND-GET-LIST-NOT-FRIEND"].codes
    infos = (observation.reply.body or {}).get("InfoItem") if isinstance(observation.reply.body, dict) else None
    first = infos[0] if isinstance(infos, list) and infos else {}
    code = first.get("ResultCode") if isinstance(first, dict) else None
    if code not in codes:
        raise failure(rule, observation, f"Expected friend_get_list({observation['owner']} -> {observation.account}) "
                                         f"per-item ResultCode {'/'.join(map(str, codes))} (not a friend). "
                                         f"Received {code!r}.")
    return PASS


def expected_values(entry: dict[str, Any]) -> dict[str, Any]:
    """What each tag of an imported AddFriendItem must read back as through friend_get_list."""
    expected = {"Tag_SNS_IM_AddSource": entry["AddSource"]}
    if "Remark" in entry:
        expected["Tag_SNS_IM_Remark"] = entry["Remark"]
    if "AddWording" in entry:
        expected["Tag_SNS_IM_AddWording"] = entry["AddWording"]
    for custom in entry.get("CustomItem", ()):
        if isinstance(custom["Value"], str):
            expected[custom["Tag"]] = custom["Value"]
    return expected


def round_trip(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Every field of an imported item (``sent``) reads back through friend_get_list (``read``, None: no friend)."""
    entry, values = observation["sent"], observation["read"]
    if values is None:
        raise failure(rule, observation, f"Expected {entry['To_Account']} to read back as a friend. Received a "
                                         "failure.")
    wrong = {tag: (value, values.get(tag)) for tag, value in expected_values(entry).items()
             if values.get(tag) != value}
    if entry.get("GroupName") and set(values.get("Tag_SNS_IM_Group") or ()) != set(entry["GroupName"]):
        wrong["Tag_SNS_IM_Group"] = (entry["GroupName"], values.get("Tag_SNS_IM_Group"))
    if wrong:
        raise failure(rule, observation, f"Expected the imported values to read back. Received (sent, read) {wrong}")
    return PASS


def writes(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Concurrent imports for one user (``accounts``, one per reply in ``replies``): each applied (code 0 and
    stored) or refused with a conflict code and not applied. The outcome says whether any conflicted."""
    friends, conflicted = observation["friends"], []
    for to, reply in zip(observation["accounts"], observation["replies"]):
        observed = seen(reply, account=to)
        if observed is not None and observed.code == 0 and to not in friends:
            raise failure(rule, _on(observation, reply), f"Expected the acknowledged concurrent import of {to} "
                                                         "stored. Received no friendship.")
        if observed is not None and observed.code in rule.codes:
            if to in friends:
                raise failure(rule, _on(observation, reply), f"Expected the conflicting import of {to} "
                                                             f"({observed.describe()}) not applied. Received a "
                                                             "friendship.")
            conflicted.append(to)
        elif observed is None or observed.code != 0:
            got = observed.describe() if observed is not None else "no readable answer"
            raise failure(rule, _on(observation, reply), f"Expected each concurrent import applied (code 0) or "
                                                         f"refused with {sorted(rule.codes)}. Received {got}.")
    return Outcome("conflict-30008" if conflicted else "serialised")


def _on(observation: Observation, reply) -> Observation:
    return Observation(observation.kind, reply=reply, note=observation.note)


check("FI-ONE-WAY", forward=forward, backward=backward, not_listed=not_listed)
check("FI-ROUND-TRIP", round_trip=round_trip, reads_back=reads_back)
check("FI-FRIEND-LIMIT-3000", all_imported=all_imported, imported=imported, refused=refused, table=table)
check("FI-FRIEND-LIST-LIMIT-32", all_imported=all_imported, imported=imported, refused=refused, table=table)
check("FI-WRITE-CONFLICT", writes=writes, imported=imported, kept=kept)
