"""Facts read back from the target, kept as where they came from rather than as values.

A scenario that tells two open outcomes apart by reading the friend table back hands the check a fact
("the Remark read back", "the friends among these accounts"). Given as a plain value, the fact is tied to the
answers of the run that made it; given as a :class:`Derived`, it names the read-back answers and the pure
function that reads it from them, so that ``timconform parity`` can judge the same observation again on the
answers a replay got (parity/replay.py). :class:`Instant` does the same for the clock: a time of the run,
which a replay shifts to its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

FRIEND_RELATIONS = ("CheckResult_Type_AWithB", "CheckResult_Type_BothWay")
NOT_A_FRIEND = "not a friend"


class Instant(float):
    """A moment of the run (epoch seconds): a replay judges with its own moment at the same offset."""


def _body(reply: Any) -> Any:
    return getattr(reply, "body", None)


def _info_items(reply: Any) -> list[dict]:
    body = _body(reply)
    items = body.get("InfoItem") if isinstance(body, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def tags_of(replies: Sequence[Any], account: str) -> dict[str, Any] | None:
    """friend_get_list: the tags listed for ``account`` ({tag: value}), None when it is no friend."""
    for info in _info_items(replies[0]):
        if info.get("To_Account") == account and type(info.get("ResultCode")) is int:
            if info["ResultCode"] != 0:
                return None
            pairs = info.get("SnsProfileItem") or ()
            return {p.get("Tag"): p.get("Value") for p in pairs if isinstance(p, dict)}
    return None


def tag_value(replies: Sequence[Any], account: str, tag: str, absent: Any = None) -> Any:
    """friend_get_list: ``tag``'s value for ``account``; ``absent`` when it is no friend."""
    values = tags_of(replies, account)
    return absent if values is None else values.get(tag)


def extra_tags(replies: Sequence[Any], account: str, standard: Sequence[str]) -> dict[str, Any]:
    """friend_get_list: the tags listed for ``account`` that are not among ``standard``."""
    return {t: v for t, v in (tags_of(replies, account) or {}).items() if t not in standard}


def friends(replies: Sequence[Any], asked: Sequence[str]) -> set[str]:
    """friend_check (CheckResult_Type_Both, any number of chunks): the asked accounts that are friends."""
    found = {i.get("To_Account") for r in replies for i in _info_items(r) if i.get("Relation") in FRIEND_RELATIONS}
    return found & set(asked)


def relations(replies: Sequence[Any], asked: Sequence[str]) -> dict[str, Any]:
    """friend_check: To_Account -> Relation, for the asked accounts."""
    wanted = set(asked)
    return {i.get("To_Account"): i.get("Relation") for r in replies for i in _info_items(r)
            if i.get("To_Account") in wanted}


def relation(replies: Sequence[Any], account: str) -> Any:
    """friend_check: the Relation of ``account`` (None when it is not answered)."""
    return relations(replies, [account]).get(account)


def statuses(replies: Sequence[Any]) -> dict[str, Any]:
    """account_check: UserID -> AccountStatus."""
    body = _body(replies[0])
    items = body.get("ResultItem") if isinstance(body, dict) else None
    return {i.get("UserID"): i.get("AccountStatus") for i in items if isinstance(i, dict)} \
        if isinstance(items, list) else {}


def after_delete(replies: Sequence[Any], account: str, deleted: str, kept: str) -> dict[str, str]:
    """account_delete's answer for ``account`` (its first item): the status account_check should then show,
    ``deleted`` when the item was answered 0, else ``kept``."""
    body = _body(replies[0])
    items = body.get("ResultItem") if isinstance(body, dict) else None
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    return {account: deleted if first.get("ResultCode") == 0 else kept}


def is_friend(replies: Sequence[Any], account: str) -> bool:
    """friend_check: ``account`` is a friend."""
    return account in friends(replies, [account])


def listed_friends(replies: Sequence[Any], accounts: Sequence[str]) -> set[str]:
    """friend_get_list: the accounts listed as friends (ResultCode 0)."""
    return {a for a in accounts if tags_of(replies, a) is not None}


def accepted_and_friend(replies: Sequence[Any], account: str) -> bool:
    """The first reply accepted, and friend_check (the rest) shows ``account`` a friend."""
    first = replies[0]
    return bool(getattr(first, "ok", False)) and account in friends(replies[1:], [account])


DERIVATIONS: dict[str, Callable[..., Any]] = {f.__name__: f for f in (tags_of, tag_value, extra_tags, friends, is_friend,
                                                                      listed_friends, accepted_and_friend, relations,
                                                                      relation, statuses, after_delete)}


@dataclass(frozen=True)
class Derived:
    """``DERIVATIONS[name](replies, *args)``, computed once: a fact read from the answers ``replies``."""

    name: str
    replies: tuple[Any, ...]
    args: tuple[Any, ...] = ()
    _cache: list = field(default_factory=list, compare=False, repr=False)

    @property
    def value(self) -> Any:
        if not self._cache:
            self._cache.append(DERIVATIONS[self.name](self.replies, *self.args))
        return self._cache[0]


class FriendSet(set):
    """The friends friend_check showed, remembering the answers they were read from."""

    def __init__(self, derived: Derived) -> None:
        super().__init__(derived.value)
        self.derived = derived


def resolve(value: Any) -> Any:
    return value.value if isinstance(value, Derived) else value
