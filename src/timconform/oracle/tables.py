"""Reading a friend table back for one rule: what an import must leave behind, and what it must not.

The scenario reads the table (friend_check, friend_get_list) and shows the check what it found: ``friends``,
the accounts among those asked about that are in ``owner``'s table, and ``accounts`` (or the observation's
``account``), the ones the rule speaks of.
"""

from __future__ import annotations

from typing import Any

from timconform.oracle.registry import PASS, Observation, failure
from timconform.spec import Rule, Spec


def _accounts(observation: Observation) -> list[str]:
    if observation.account is not None:
        return [observation.account]
    return list(observation["accounts"])


def kept(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Accounts imported with ResultCode 0 are in the owner's friend table."""
    friends, owner = observation["friends"], observation["owner"]
    missing = [a for a in _accounts(observation) if a not in friends]
    if missing:
        raise failure(rule, observation, f"Expected {observation.note or 'the imported items'} in {owner}'s friend "
                                         f"table. Received no friendship with {missing[:5]}"
                                         f"{f' ({len(missing)} missing)' if len(missing) > 5 else ''}.")
    return PASS


def not_kept(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Nothing of a refused request (or item) is in the owner's friend table."""
    friends, owner = observation["friends"], observation["owner"]
    stored = [a for a in _accounts(observation) if a in friends]
    if stored:
        raise failure(rule, observation, f"Expected nothing stored for {observation.note or 'the refused request'}. "
                                         f"Received {len(stored)} friendship(s) {owner} -> {stored[:5]}.")
    return PASS


def table(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """The owner's friend table, among the accounts asked about, is exactly ``expected``."""
    friends, expected, owner = set(observation["friends"]), set(observation["expected"]), observation["owner"]
    if friends != expected:
        raise failure(rule, observation, f"Expected {owner}'s friends {observation.note or ''} to be exactly the "
                                         f"{len(expected)} expected. Received {len(friends)}: missing "
                                         f"{sorted(expected - friends)[:5]}, unexpected {sorted(friends - expected)[:5]}.")
    return PASS


def same(sent: Any, read: Any) -> bool:
    if isinstance(sent, list):  # Tag_SNS_IM_Group reads back as a set of names
        return isinstance(read, list) and set(read) == set(sent)
    return read == sent


def reads_back(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Each tag of ``sent`` reads back as the value imported (friend_get_list's ``read``)."""
    sent, read = observation["sent"], observation["read"] or {}
    wrong = {tag: (want, read.get(tag)) for tag, want in sent.items() if not same(want, read.get(tag))}
    if wrong:
        raise failure(rule, observation, f"Expected {observation.note or 'the imported values'} to read back "
                                         f"unchanged. Received (sent, read) {wrong}.")
    return PASS


def any_kept(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Of the accounts imported with ResultCode 0, some are in the owner's friend table: the target stores what it
    accepts at all (a rule about which of them must be stored builds on this one)."""
    friends, owner, accounts = observation["friends"], observation["owner"], _accounts(observation)
    if accounts and not any(a in friends for a in accounts):
        raise failure(rule, observation, f"Expected {observation.note or 'the imported items'} in {owner}'s friend "
                                         f"table. Received none of the {len(accounts)} of them.")
    return PASS
