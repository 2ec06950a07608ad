"""Where the emulator's state lives: one interface, two stores. No HTTP and no API rules in here.

The model (model.py) decides every answer; a store only keeps accounts, one-way friend tables and each
user's friend-list counts, and makes a friend_import's read-plan-write one unit. :class:`MemoryStore` keeps
them in the :class:`~timconform.emulator.model.App` object of this process (the default); the Redis store
(redis_store.py) keeps them in Redis, for emulators that share state or outlive a restart.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from timconform.emulator.codes import ACCOUNT_CAP
from timconform.emulator.errors import ApiError

# plan(table, lists, existing accounts) -> (codes, writes, the owner's list counts after the writes)
Planner = Callable[[dict[str, Any], dict[str, int], set[str]], tuple[list[int], list[tuple[str, Any]], dict[str, int]]]


def adjust_lists(lists: dict[str, int], groups: Iterable[str], delta: int) -> None:
    """Count a friend in (+1) or out of (-1) each of its lists; a list with nobody in it is gone."""
    for name in groups:
        count = lists.get(name, 0) + delta
        if count > 0:
            lists[name] = count
        else:
            lists.pop(name, None)


class MemoryStore:
    """State in this process: the App's own dicts, every write under one lock."""

    name = "memory"

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def attach(self, app: Any) -> None:
        """Nothing to do: the App made its admins accounts when it was made."""

    def clear(self, app: Any) -> None:
        with self.lock:
            app.clear()

    # -- accounts -------------------------------------------------------------------------------

    def existing(self, app: Any, users: Iterable[str]) -> set[str]:
        return {user for user in users if user in app.accounts}

    def account_ids(self, app: Any) -> list[str]:
        return list(app.accounts)

    def profile(self, app: Any, user: str) -> Any:
        return app.accounts.get(user)

    def add_accounts(self, app: Any, users: Sequence[str], *, profile: Any = None, overwrite: bool = False,
                     cap: int | None = None) -> None:
        """Import ``users`` (``overwrite``: their profile too); past ``cap`` accounts nothing is imported."""
        with self.lock:
            new = [user for user in dict.fromkeys(users) if user not in app.accounts]
            if cap is not None and new and len(app.accounts) + len(new) > cap:
                raise ApiError(ACCOUNT_CAP)
            for user in users:
                if overwrite or user not in app.accounts:
                    app.accounts[sys.intern(user)] = profile

    def delete_account(self, app: Any, user: str) -> None:
        """The account and its relationship chain, both ways."""
        with self.lock:
            app.accounts.pop(user, None)
            app.friends.pop(user, None)
            app.lists.pop(user, None)
            for owner, table in app.friends.items():
                friend = table.pop(user, None)
                if friend is not None and friend.groups:
                    self._count(app, owner, friend.groups, -1)

    # -- friend tables --------------------------------------------------------------------------

    def friend(self, app: Any, owner: str, to: str) -> Any:
        return app.friends.get(owner, {}).get(to)

    def friends_of(self, app: Any, owner: str) -> list[str]:
        return list(app.friends.get(owner, {}))

    def follows(self, app: Any, pairs: Iterable[tuple[str, str]]) -> list[bool]:
        """For each (owner, to): is ``to`` in ``owner``'s table?"""
        return [to in app.friends.get(owner, ()) for owner, to in pairs]

    def friendships(self, app: Any) -> dict[str, list[str]]:
        return {owner: list(table) for owner, table in app.friends.items() if table}

    def import_batch(self, app: Any, owner: str, candidates: Sequence[str], plan: Planner) -> list[int]:
        with self.lock:
            table = app.friends.setdefault(sys.intern(owner), {})
            codes, writes, lists = plan(table, dict(app.lists.get(owner, {})), self.existing(app, candidates))
            for to, friend in writes:
                # a new key is the interned UserID, one copy shared with app.accounts; an old key stays
                table[to if to in table else sys.intern(to)] = friend
            if lists:
                app.lists[owner] = lists
            else:
                app.lists.pop(owner, None)
            return codes

    def delete_friends(self, app: Any, owner: str, tos: Sequence[str], both: bool) -> list[bool]:
        """Remove each of ``tos`` from ``owner``'s table (``both``: and ``owner`` from theirs); which were there."""
        removed = []
        with self.lock:
            mine = app.friends.get(owner, {})
            for to in tos:
                friend = mine.pop(to, None)
                removed.append(friend is not None)
                if friend is None:
                    continue
                self._count(app, owner, friend.groups, -1)
                if both:
                    theirs = app.friends.get(to, {}).pop(owner, None)
                    if theirs is not None:
                        self._count(app, to, theirs.groups, -1)
        return removed

    @staticmethod
    def _count(app: Any, user: str, groups: Iterable[str], delta: int) -> None:
        if not groups:
            return
        lists = app.lists.setdefault(user, {})
        adjust_lists(lists, groups, delta)
        if not lists:
            del app.lists[user]
