"""The emulator's state: apps, accounts and one-way friend tables. No HTTP in here.

Operations take already-typed input, return per-item codes, and raise :class:`ApiError` for a
whole-request refusal. friend_import plans the whole batch first and writes only after every
item has its verdict (rules FI-PARTIAL-SUCCESS, FI-FRIEND-LIMIT-3000, FI-FRIEND-LIST-LIMIT-32).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from timconform.emulator.behaviour import SEMANTIC_SWITCHES, Behaviour
from timconform.emulator.errors import ApiError

from timconform.emulator.codes import (ACCOUNT_CAP, ACCOUNT_MISSING, ACCOUNT_NOT_IMPORTED, FRIEND_LIMIT, LIST_LIMIT,
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
    """Every app the emulator serves, partitioned by SDKAppID (no global state)."""

    def __init__(self, behaviour: Behaviour, limits: Limits) -> None:
        self.behaviour = behaviour
        self.limits = limits
        self.apps: dict[int, App] = {}
        self._write_lock = threading.Lock()

    def limits_for(self, operation: str) -> int:
        return self.limits.batch[operation]

    def add_app(self, app: App) -> App:
        self.apps[app.sdkappid] = app
        return app

    def reset(self) -> None:
        for app in self.apps.values():
            app.clear()

    # -- accounts -------------------------------------------------------------------------------

    def account_import(self, app: App, user_id: str, profile: tuple[str, str] | None = None) -> None:
        with self._write_lock:
            if user_id not in app.accounts and self._at_account_cap(app):
                raise ApiError(ACCOUNT_CAP)
            app.accounts[sys.intern(user_id)] = profile

    def multiaccount_import(self, app: App, user_ids: Sequence[str]) -> list[str]:
        """The accounts that failed (FailAccounts). A call that would take a Free Trial app past its account cap
        is refused as a whole with 70398, the request-level code error-codes.json catalogues for it
        (SUPPORT-FREE-TRIAL-ACCOUNTS), and imports nothing."""
        with self._write_lock:
            new = {user_id for user_id in user_ids if user_id not in app.accounts}
            if app.edition == "free-trial" and len(app.accounts) + len(new) > self.limits.free_trial_accounts:
                raise ApiError(ACCOUNT_CAP)
            for user_id in user_ids:
                app.accounts.setdefault(sys.intern(user_id), None)
        return []

    def account_check(self, app: App, user_ids: Sequence[str]) -> list[tuple[str, bool]]:
        return [(user_id, user_id in app.accounts) for user_id in user_ids]

    def account_delete(self, app: App, user_ids: Sequence[str]) -> list[tuple[str, int]]:
        results = []
        with self._write_lock:
            for user_id in user_ids:
                if user_id not in app.accounts:
                    results.append((user_id, ACCOUNT_NOT_IMPORTED))
                elif app.edition != "free-trial":
                    results.append((user_id, NOT_FREE_TRIAL))
                else:
                    self._delete_account(app, user_id)
                    results.append((user_id, OK))
        return results

    def _at_account_cap(self, app: App) -> bool:
        return app.edition == "free-trial" and len(app.accounts) >= self.limits.free_trial_accounts

    def _delete_account(self, app: App, user_id: str) -> None:
        # Deleting an account deletes its relationship chain too (api-facts §4.4).
        del app.accounts[user_id]
        app.friends.pop(user_id, None)
        app.lists.pop(user_id, None)
        for owner, table in app.friends.items():
            friend = table.pop(user_id, None)
            if friend is not None:
                _count_lists(app, owner, friend.groups, -1)

    # -- friend_import --------------------------------------------------------------------------

    def friend_import(self, app: App, from_account: str, items: Sequence[ImportItem]) -> list[int]:
        """Per-item codes in request order; the whole batch is judged before anything is written."""
        if from_account not in app.accounts:
            if self.behaviour.outcomes[_UNKNOWN_FROM] == "request-30003":
                raise ApiError(ACCOUNT_MISSING, "Err_Sns_Invalid_Account")
            return [item.code or ACCOUNT_MISSING for item in items]
        self._refuse_whole_batch(app, from_account, items)
        with self._write_lock:
            codes, writes = self._plan_import(app, from_account, items)
            table = app.friends.setdefault(sys.intern(from_account), {})
            intern = sys.intern
            for to_account, friend in writes:
                old = table.get(to_account)
                if old is None:
                    table[intern(to_account)] = friend  # one copy of each UserID, shared with app.accounts
                else:
                    if old.groups:
                        _count_lists(app, from_account, old.groups, -1)
                    table[to_account] = friend  # an existing key keeps its (interned) string
                if friend.groups:
                    _count_lists(app, from_account, friend.groups, +1)
            return codes

    def _refuse_whole_batch(self, app: App, from_account: str, items: Sequence[ImportItem]) -> None:
        """The open questions whose chosen outcome refuses the whole request."""
        outcomes = self.behaviour.outcomes
        unknown_to = outcomes[_UNKNOWN_TO] == "request-30003"
        self_import = outcomes[_SELF_IMPORT] == "request-30001"
        duplicate = outcomes[_DUPLICATE] == "request-30001"
        if not (unknown_to or self_import or duplicate):
            return
        valid = [item.to_account for item in items if item.code == OK]
        if unknown_to and any(a not in app.accounts for a in valid):
            raise ApiError(ACCOUNT_MISSING)
        if self_import and from_account in valid:
            raise ApiError(PARAM_ERROR, "Err_SNS_FriendImport_Add_Self")
        if duplicate and len(set(valid)) < len(valid):
            raise ApiError(PARAM_ERROR, "Err_SNS_FriendImport_Duplicate_To_Account")

    def _plan_import(self, app: App, from_account: str, items: Sequence[ImportItem]):
        """(codes, writes): each item judged in order against the table and the items before it."""
        plan = _ImportPlan(self, app, from_account)
        codes = [plan.answer(item) for item in items]
        return codes, list(plan.planned.items())

    # -- friend reads and deletes ---------------------------------------------------------------

    def friend_check(self, app: App, from_account: str, to_accounts: Sequence[str], both: bool):
        self._require_account(app, from_account)
        mine = app.friends.get(from_account, {})
        results = []
        for to_account in to_accounts:
            a_with_b = to_account in mine
            b_with_a = both and from_account in app.friends.get(to_account, {})
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
        return app.friends.get(from_account, {}).get(to_account)

    def friend_delete(self, app: App, from_account: str, to_accounts: Sequence[str], both: bool) -> list[int]:
        self._require_account(app, from_account)
        codes = []
        with self._write_lock:
            mine = app.friends.get(from_account, {})
            for to_account in to_accounts:
                friend = mine.pop(to_account, None)
                if friend is None:
                    codes.append(NOT_A_FRIEND_DELETE)
                    continue
                _count_lists(app, from_account, friend.groups, -1)
                if both:
                    theirs = app.friends.get(to_account, {}).pop(from_account, None)
                    if theirs is not None:
                        _count_lists(app, to_account, theirs.groups, -1)
                codes.append(OK)
        return codes

    def _require_account(self, app: App, user_id: str) -> None:
        if user_id not in app.accounts:
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

    def __init__(self, model: Model, app: App, from_account: str) -> None:
        outcomes = model.behaviour.outcomes
        self.self_per_item = outcomes[_SELF_IMPORT] == "per-item-30001"
        self.duplicate, self.existing_friend = outcomes[_DUPLICATE], outcomes[_EXISTING]
        self.most_friends, self.most_lists = model.limits.friends_per_user, model.limits.friend_lists_per_user
        self.accounts, self.from_account = app.accounts, from_account
        self.table = app.friends.get(from_account, {})
        self.lists = dict(app.lists.get(from_account, {}))
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
            _adjust(self.lists, existing.groups, -1)
        if friend.groups:
            _adjust(self.lists, friend.groups, +1)
        self.planned[item.to_account] = friend
        return OK


def _adjust(lists: dict[str, int], groups: Iterable[str], delta: int) -> None:
    for name in groups:
        count = lists.get(name, 0) + delta
        if count > 0:
            lists[name] = count
        else:
            lists.pop(name, None)


def _lists_fit(lists: dict[str, int], existing: Friend | None, friend: Friend, maximum: int) -> bool:
    """Would the user still have at most ``maximum`` distinct friend lists after this item?"""
    new_names = {name for name in friend.groups if name not in lists}
    freed = 0
    if existing is not None:
        freed = sum(1 for name in set(existing.groups) if lists.get(name) == 1 and name not in friend.groups)
    return len(lists) - freed + len(new_names) <= maximum


def _count_lists(app: App, user: str, groups: Iterable[str], delta: int) -> None:
    if not groups:
        return
    lists = app.lists.setdefault(user, {})
    _adjust(lists, groups, delta)
    if not lists:
        del app.lists[user]
