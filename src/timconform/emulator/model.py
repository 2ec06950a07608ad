"""The emulator's state: apps, accounts and one-way friend tables. No HTTP in here.

Operations take already-typed input, return per-item codes, and raise :class:`ApiError` for a
whole-request refusal. friend_import plans the whole batch first and writes only after every
item has its verdict (rules FI-PARTIAL-SUCCESS, FI-FRIEND-LIMIT-3000, FI-FRIEND-LIST-LIMIT-32).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from timconform.emulator.behaviour import SEMANTIC_SWITCHES, Behaviour
from timconform.emulator.errors import ApiError
from timconform.emulator.store import MemoryStore, adjust_lists

from timconform.emulator.codes import (ACCOUNT_MISSING, ACCOUNT_NOT_IMPORTED, FRIEND_LIMIT, LIST_LIMIT,
                                       NOT_A_FRIEND_DELETE, NOT_FREE_TRIAL, OK, PARAM_ERROR)

RELATION_BOTH = "CheckResult_Type_BothWay"
RELATION_A_WITH_B = "CheckResult_Type_AWithB"
RELATION_B_WITH_A = "CheckResult_Type_BWithA"
RELATION_NONE = "CheckResult_Type_NoRelation"

# The rule ids behind the behaviour switches friend_import reads (Behaviour.<switch> is outcomes[rule id]);
# read straight from the outcomes once per call rather than through Behaviour.__getattr__ once per item.
_UNKNOWN_FROM = SEMANTIC_SWITCHES["unknown_from_account"]
_UNKNOWN_TO = SEMANTIC_SWITCHES["unknown_to_account"]
_SELF_IMPORT = SEMANTIC_SWITCHES["self_import"]
_DUPLICATE = SEMANTIC_SWITCHES["duplicate_to_account"]
_EXISTING = SEMANTIC_SWITCHES["existing_friend"]


class Friend:
    """One entry of a friend table. Slots and interned strings keep a basic friendship small."""

    __slots__ = ("add_source", "add_time", "remark", "remark_time", "groups", "add_wording", "custom")

    def __init__(self, add_source: str, add_time: int | None = None, remark: str | None = None,
                 remark_time: int | None = None, groups: tuple[str, ...] = (), add_wording: str | None = None,
                 custom: tuple[tuple[str, str | int], ...] = ()) -> None:
        self.add_source = sys.intern(add_source)
        self.add_time = add_time
        self.remark = remark
        self.remark_time = remark_time
        self.groups = groups
        self.add_wording = add_wording
        self.custom = custom

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Friend) and all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class ImportItem:
    """One AddFriendItem after field validation: ``code`` is non-zero when a field was invalid."""

    to_account: str
    friend: Friend | None
    code: int = OK


@dataclass(frozen=True)
class Limits:
    friends_per_user: int
    friend_lists_per_user: int
    free_trial_accounts: int
    batch: Mapping[str, int]  # operation -> most items (accounts) one request may carry


class App:
    """One SDKAppID: its key, admins, configured custom tags, accounts and friend tables."""

    def __init__(self, sdkappid: int, secret_key: str, admins: Iterable[str], *, custom_tags: Iterable[str] = (),
                 edition: str = "pro") -> None:
        if edition not in ("free-trial", "pro"):
            raise ValueError(f"edition={edition!r}, but only 'free-trial' or 'pro' are known")

        self.sdkappid = sdkappid
        self.secret_key = secret_key
        self.admins = frozenset(admins)
        self.custom_tags = frozenset(custom_tags)
        self.edition = edition
        self.accounts: dict[str, tuple[str, str] | None] = {}
        self.friends: dict[str, dict[str, Friend]] = {}
        # user -> friend-list name -> how many friends are in it; the keys are the user's distinct lists.
        self.lists: dict[str, dict[str, int]] = {}
        for admin in self.admins:
            self.accounts[sys.intern(admin)] = None

    def clear(self) -> None:
        self.accounts = {sys.intern(a): None for a in self.admins}
        self.friends.clear()
        self.lists.clear()


class Model:
    """Every app the emulator serves, partitioned by SDKAppID (no global state); the state itself is kept by
    ``store`` (store.py: this process's memory by default, or Redis)."""

    def __init__(self, behaviour: Behaviour, limits: Limits, store: Any = None) -> None:
        self.behaviour = behaviour
        self.limits = limits
        self.store = store if store is not None else MemoryStore()
        self.apps: dict[int, App] = {}

    def limits_for(self, operation: str) -> int:
        return self.limits.batch[operation]

    def add_app(self, app: App) -> App:
        self.apps[app.sdkappid] = app
        self.store.attach(app)
        return app

    # -- accounts -------------------------------------------------------------------------------

    def account_import(self, app: App, user_id: str, profile: tuple[str, str] | None = None) -> None:
        self.store.add_accounts(app, [user_id], profile=profile, overwrite=True, cap=self._account_cap(app))

    def multiaccount_import(self, app: App, user_ids: Sequence[str]) -> list[str]:
        """The accounts that failed (FailAccounts). A call that would take a Free Trial app past its account cap
        is refused as a whole with 70398, the request-level code error-codes.json catalogues for it
        (SUPPORT-FREE-TRIAL-ACCOUNTS), and imports nothing."""
        self.store.add_accounts(app, user_ids, cap=self._account_cap(app))
        return []

    def account_check(self, app: App, user_ids: Sequence[str]) -> list[tuple[str, bool]]:
        existing = self.store.existing(app, user_ids)
        return [(user_id, user_id in existing) for user_id in user_ids]

    def account_delete(self, app: App, user_ids: Sequence[str]) -> list[tuple[str, int]]:
        results = []
        for user_id in user_ids:
            if not self.store.existing(app, [user_id]):
                results.append((user_id, ACCOUNT_NOT_IMPORTED))
            elif app.edition != "free-trial":
                results.append((user_id, NOT_FREE_TRIAL))
            else:
                self._delete_account(app, user_id)
                results.append((user_id, OK))
        return results

    def _account_cap(self, app: App) -> int | None:
        return self.limits.free_trial_accounts if app.edition == "free-trial" else None

    def _delete_account(self, app: App, user_id: str) -> None:
        # Deleting an account deletes its relationship chain too (api-facts §4.4).
        self.store.delete_account(app, user_id)

    # -- friend_import --------------------------------------------------------------------------

    def friend_import(self, app: App, from_account: str, items: Sequence[ImportItem]) -> list[int]:
        """Per-item codes in request order; the whole batch is judged before anything is written, and judged
        and written as one unit of the store."""
        if not self.store.existing(app, [from_account]):
            if self.behaviour.outcomes[_UNKNOWN_FROM] == "request-30003":
                raise ApiError(ACCOUNT_MISSING, "Err_Sns_Invalid_Account")
            return [item.code or ACCOUNT_MISSING for item in items]
        valid = [item.to_account for item in items if item.code == OK]
        self._refuse_whole_batch(app, from_account, valid)

        def plan(table, lists, existing):
            planned = _ImportPlan(self, table, lists, existing, from_account)
            codes = [planned.answer(item) for item in items]
            return codes, list(planned.planned.items()), planned.lists

        return self.store.import_batch(app, from_account, valid, plan)

    def _refuse_whole_batch(self, app: App, from_account: str, valid: Sequence[str]) -> None:
        """The open questions whose chosen outcome refuses the whole request."""
        outcomes = self.behaviour.outcomes
        unknown_to = outcomes[_UNKNOWN_TO] == "request-30003"
        self_import = outcomes[_SELF_IMPORT] == "request-30001"
        duplicate = outcomes[_DUPLICATE] == "request-30001"
        if not (unknown_to or self_import or duplicate):
            return
        if unknown_to and len(self.store.existing(app, valid)) < len(set(valid)):
            raise ApiError(ACCOUNT_MISSING)
        if self_import and from_account in valid:
            raise ApiError(PARAM_ERROR, "Err_SNS_FriendImport_Add_Self")
        if duplicate and len(set(valid)) < len(valid):
            raise ApiError(PARAM_ERROR, "Err_SNS_FriendImport_Duplicate_To_Account")

    # -- friend reads and deletes ---------------------------------------------------------------

    def friend_check(self, app: App, from_account: str, to_accounts: Sequence[str], both: bool):
        self._require_account(app, from_account)
        mine = self.store.follows(app, [(from_account, to) for to in to_accounts])
        theirs = self.store.follows(app, [(to, from_account) for to in to_accounts]) if both else [False] * len(mine)
        results = []
        for to_account, a_with_b, b_with_a in zip(to_accounts, mine, theirs):
            if a_with_b and b_with_a:
                relation = RELATION_BOTH
            elif a_with_b:
                relation = RELATION_A_WITH_B
            elif b_with_a:
                relation = RELATION_B_WITH_A
            else:
                relation = RELATION_NONE
            results.append((to_account, relation))
        return results

    def friend_get(self, app: App, from_account: str, to_account: str) -> Friend | None:
        self._require_account(app, from_account)
        return self.store.friend(app, from_account, to_account)

    def friend_delete(self, app: App, from_account: str, to_accounts: Sequence[str], both: bool) -> list[int]:
        self._require_account(app, from_account)
        removed = self.store.delete_friends(app, from_account, to_accounts, both)
        return [OK if gone else NOT_A_FRIEND_DELETE for gone in removed]

    def _require_account(self, app: App, user_id: str) -> None:
        if not self.store.existing(app, [user_id]):
            raise ApiError(ACCOUNT_MISSING, "Err_Sns_Invalid_Account")


# What a duplicate or an existing friend is answered when its chosen outcome settles it without a write
# (absent: it is written like any other item, and the limits decide).
_DUPLICATE_ANSWER = {"later-duplicate-30001": PARAM_ERROR, "first-wins": OK}
_EXISTING_ANSWER = {"per-item-30001": PARAM_ERROR, "keep": OK}


class _ImportPlan:
    """One friend_import judged item by item against the table and the items planned before it.

    An item is written unless a field was invalid, To_Account is unknown, it is the user themselves
    (per-item outcome), a duplicate or an existing friend whose outcome does not write, or it would take
    the user past the friend limit or the friend-list limit."""

    def __init__(self, model: Model, table: Mapping[str, Friend], lists: dict[str, int], accounts: set[str],
                 from_account: str) -> None:
        outcomes = model.behaviour.outcomes
        self.self_per_item = outcomes[_SELF_IMPORT] == "per-item-30001"
        self.duplicate, self.existing_friend = outcomes[_DUPLICATE], outcomes[_EXISTING]
        self.most_friends, self.most_lists = model.limits.friends_per_user, model.limits.friend_lists_per_user
        self.accounts, self.from_account = accounts, from_account
        self.table = table
        self.lists = lists  # a copy: it becomes the user's list counts after the writes
        self.friend_count = len(self.table)
        self.planned: dict[str, Friend] = {}

    def answer(self, item: ImportItem) -> int:
        settled = self._settled(item)
        return settled if settled is not None else self._fit(item)

    def _settled(self, item: ImportItem) -> int | None:
        """The answer of an item decided before the limits (None: the limits decide)."""
        if item.code != OK:
            return item.code
        to_account = item.to_account
        if to_account not in self.accounts:
            return ACCOUNT_MISSING
        if self.self_per_item and to_account == self.from_account:
            return PARAM_ERROR
        if to_account in self.planned:
            return _DUPLICATE_ANSWER.get(self.duplicate)
        if to_account in self.table:
            return _EXISTING_ANSWER.get(self.existing_friend)
        return None

    def _fit(self, item: ImportItem) -> int:
        """Planned, or refused for the friend limit or the friend-list limit."""
        existing = self.planned.get(item.to_account) or self.table.get(item.to_account)
        friend = item.friend
        if existing is None and self.friend_count >= self.most_friends:
            return FRIEND_LIMIT
        if friend.groups or (existing is not None and existing.groups):
            fits = _lists_fit(self.lists, existing, friend, self.most_lists)
        else:  # what _lists_fit computes when neither the old nor the new entry is in a list
            fits = len(self.lists) <= self.most_lists
        if not fits:
            return LIST_LIMIT
        if existing is None:
            self.friend_count += 1
        elif existing.groups:
            adjust_lists(self.lists, existing.groups, -1)
        if friend.groups:
            adjust_lists(self.lists, friend.groups, +1)
        self.planned[item.to_account] = friend
        return OK


def _lists_fit(lists: dict[str, int], existing: Friend | None, friend: Friend, maximum: int) -> bool:
    """Would the user still have at most ``maximum`` distinct friend lists after this item?"""
    new_names = {name for name in friend.groups if name not in lists}
    freed = 0
    if existing is not None:
        freed = sum(1 for name in set(existing.groups) if lists.get(name) == 1 and name not in friend.groups)
    return len(lists) - freed + len(new_names) <= maximum
