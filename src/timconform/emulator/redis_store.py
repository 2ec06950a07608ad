"""The emulator's state in Redis (``timconform emulator --store redis://HOST:PORT/DB``).

The same interface as :class:`~timconform.emulator.store.MemoryStore`, so the model decides every answer the
same way over both. Each app has a key space of its own (``timconform:<SDKAppID>:``), as moto keeps one
backend per account:

- ``…:accounts``      hash  UserID -> profile (JSON; "" for none)
- ``…:friends:<user>`` hash  To_Account -> the friend entry (a compact JSON array, see ``_dump``)
- ``…:lists:<user>``   hash  friend-list name -> how many of the user's friends are in it

A friend_import is read, planned and written as one unit with WATCH/MULTI (https://redis.io/docs/latest/
develop/interact/transactions/#optimistic-locking-using-check-and-set): if another writer changed the
user's table, lists or the accounts in between, nothing is written and the batch is planned again on what
is there now. So concurrent imports through any number of emulator processes never exceed the friend or
friend-list limit and never leave half a batch.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from timconform.emulator.codes import ACCOUNT_CAP, WRITE_CONFLICT
from timconform.emulator.errors import ApiError
from timconform.emulator.store import Planner, adjust_lists

PREFIX = "timconform"
RETRY_SECONDS = 10.0  # how long a write keeps re-planning against other writers before it gives up
STRIPES = 64  # in-process locks, by user: this process's own writers queue instead of re-planning each other
# What a friend_import plans on, in one round trip: the user's table, the user's list counts, the accounts asked.
_READ_BATCH = """
local accounts = {}
if #ARGV > 0 then accounts = redis.call('HMGET', KEYS[3], unpack(ARGV)) end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), accounts}
"""


class StoreError(Exception):
    """The store cannot be used (Redis unreachable, a bad URL): one line for the CLI, exit 2."""


def connect(url: str) -> Any:
    """A client for ``url`` that answers a PING, or StoreError."""
    import redis

    try:
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5)
        client.ping()
    except ValueError as exc:
        raise StoreError(f"--store {url!r}: {exc}") from None
    except redis.RedisError as exc:
        raise StoreError(f"--store {url!r}: Redis did not answer ({exc})") from None
    return client


def unlink_matching(client: Any, pattern: str) -> None:
    """Remove every key matching ``pattern``, a thousand at a time (SCAN: Redis never blocks on a KEYS)."""
    batch = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


class RedisStore:
    name = "redis"

    def __init__(self, client: Any) -> None:
        from redis.exceptions import WatchError

        self.redis, self._watch_error = client, WatchError
        self._stripes = [threading.Lock() for _ in range(STRIPES)]

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        return cls(connect(url))

    # -- keys ---------------------------------------------------------------------------------

    @staticmethod
    def _accounts(app: Any) -> str:
        return f"{PREFIX}:{app.sdkappid}:accounts"

    @staticmethod
    def _friends(app: Any, user: str) -> str:
        return f"{PREFIX}:{app.sdkappid}:friends:{user}"

    @staticmethod
    def _lists(app: Any, user: str) -> str:
        return f"{PREFIX}:{app.sdkappid}:lists:{user}"

    def attach(self, app: Any) -> None:
        """An app's admins are accounts from the start (as in the console)."""
        for admin in app.admins:
            self.redis.hsetnx(self._accounts(app), admin, "")

    def clear(self, app: Any) -> None:
        """This app's keys only: other apps in the same Redis keep theirs."""
        unlink_matching(self.redis, f"{PREFIX}:{app.sdkappid}:*")
        self.attach(app)

    # -- accounts -----------------------------------------------------------------------------

    def existing(self, app: Any, users: Iterable[str]) -> set[str]:
        return self.existing_in(self.redis, self._accounts(app), list(users))

    def account_ids(self, app: Any) -> list[str]:
        return self.redis.hkeys(self._accounts(app))

    def profile(self, app: Any, user: str) -> Any:
        value = self.redis.hget(self._accounts(app), user)
        return tuple(json.loads(value)) if value else None

    def add_accounts(self, app: Any, users: Sequence[str], *, profile: Any = None, overwrite: bool = False,
                     cap: int | None = None) -> None:
        key, stored = self._accounts(app), json.dumps(list(profile)) if profile else ""

        def write(pipe: Any) -> None:
            if cap is not None:
                present = self.existing_in(pipe, key, users)
                new = [user for user in dict.fromkeys(users) if user not in present]
                if new and pipe.hlen(key) + len(new) > cap:
                    raise ApiError(ACCOUNT_CAP)
            pipe.multi()
            for user in users:
                (pipe.hset if overwrite else pipe.hsetnx)(key, user, stored)

        self._transaction([key], write)

    @staticmethod
    def existing_in(pipe: Any, key: str, users: Sequence[str]) -> set[str]:
        """Which of ``users`` are in the accounts hash ``key`` (read through ``pipe``: a client, or a watching
        pipeline)."""
        users = list(dict.fromkeys(users))
        found = pipe.hmget(key, users) if users else []
        return {user for user, value in zip(users, found) if value is not None}

    def delete_account(self, app: Any, user: str) -> None:
        """The account and its relationship chain, both ways (every table that holds it)."""
        owners = self._owners(app)
        keys = [self._accounts(app), self._friends(app, user), self._lists(app, user)]
        keys += [k for owner in owners for k in (self._friends(app, owner), self._lists(app, owner))]

        def write(pipe: Any) -> None:
            changes = []
            for owner in owners:
                entry = pipe.hget(self._friends(app, owner), user)
                if entry is not None:
                    lists = {name: int(count) for name, count in pipe.hgetall(self._lists(app, owner)).items()}
                    adjust_lists(lists, _load(entry).groups, -1)
                    changes.append((owner, lists))
            pipe.multi()
            pipe.hdel(self._accounts(app), user)
            pipe.delete(self._friends(app, user), self._lists(app, user))
            for owner, lists in changes:
                pipe.hdel(self._friends(app, owner), user)
                self._put_lists(pipe, app, owner, lists)

        self._transaction(keys, write)

    # -- friend tables ------------------------------------------------------------------------

    def friend(self, app: Any, owner: str, to: str) -> Any:
        entry = self.redis.hget(self._friends(app, owner), to)
        return None if entry is None else _load(entry)

    def friends_of(self, app: Any, owner: str) -> list[str]:
        return self.redis.hkeys(self._friends(app, owner))

    def follows(self, app: Any, pairs: Iterable[tuple[str, str]]) -> list[bool]:
        pipe = self.redis.pipeline(transaction=False)
        for owner, to in pairs:
            pipe.hexists(self._friends(app, owner), to)
        return [bool(found) for found in pipe.execute()]

    def friendships(self, app: Any) -> dict[str, list[str]]:
        owners = self._owners(app)
        pipe = self.redis.pipeline(transaction=False)
        for owner in owners:
            pipe.hkeys(self._friends(app, owner))
        return {owner: tos for owner, tos in zip(owners, pipe.execute()) if tos}

    def _owners(self, app: Any) -> list[str]:
        """Every user with a friend table (a UserID may hold ':' or glob characters: the prefix is cut, not split)."""
        prefix = self._friends(app, "")
        pattern = prefix.replace("[", "[[]") + "*"
        return [key[len(prefix):] for key in self.redis.scan_iter(match=pattern, count=1000)]

    def import_batch(self, app: Any, owner: str, candidates: Sequence[str], plan: Planner) -> list[int]:
        table_key, lists_key, accounts_key = self._friends(app, owner), self._lists(app, owner), self._accounts(app)
        answer: list[int] = []

        asked = list(dict.fromkeys(candidates))

        def write(pipe: Any) -> None:
            entries, counts, found = pipe.eval(_READ_BATCH, 3, table_key, lists_key, accounts_key, *asked)
            table = {entries[n]: _load(entries[n + 1]) for n in range(0, len(entries), 2)}
            lists = {counts[n]: int(counts[n + 1]) for n in range(0, len(counts), 2)}
            existing = {user for user, value in zip(asked, found) if value is not None}
            codes, writes, new_lists = plan(table, dict(lists), existing)
            answer[:] = codes
            pipe.multi()
            if writes:
                pipe.hset(table_key, mapping={to: _dump(friend) for to, friend in writes})
            if new_lists != lists:
                self._put_lists(pipe, app, owner, new_lists)

        with self._stripes[hash(table_key) % STRIPES]:
            self._transaction([table_key, lists_key, accounts_key], write)
        return answer

    def delete_friends(self, app: Any, owner: str, tos: Sequence[str], both: bool) -> list[bool]:
        keys = [self._friends(app, owner), self._lists(app, owner)]
        if both:
            keys += [k for to in tos for k in (self._friends(app, to), self._lists(app, to))]
        removed: list[bool] = []

        def write(pipe: Any) -> None:
            lists: dict[str, dict[str, int]] = {}
            deletions: list[tuple[str, str]] = []
            removed.clear()

            def take(user: str, to: str) -> bool:
                entry = pipe.hget(self._friends(app, user), to)
                if entry is None or (user, to) in deletions:
                    return False
                if user not in lists:
                    lists[user] = {k: int(v) for k, v in pipe.hgetall(self._lists(app, user)).items()}
                adjust_lists(lists[user], _load(entry).groups, -1)
                deletions.append((user, to))
                return True

            for to in tos:
                gone = take(owner, to)
                removed.append(gone)
                if gone and both:
                    take(to, owner)
            pipe.multi()
            for user, to in deletions:
                pipe.hdel(self._friends(app, user), to)
            for user, counts in lists.items():
                self._put_lists(pipe, app, user, counts)

        self._transaction(keys, write)
        return removed

    # -- writing ------------------------------------------------------------------------------

    def _put_lists(self, pipe: Any, app: Any, user: str, lists: dict[str, int]) -> None:
        pipe.delete(self._lists(app, user))
        if lists:
            pipe.hset(self._lists(app, user), mapping=lists)

    def _transaction(self, keys: Sequence[str], write: Any) -> None:
        """WATCH ``keys``, let ``write`` read and queue its writes after ``pipe.multi()``, EXEC; on a conflict,
        all over again on what is there now, for at most RETRY_SECONDS."""
        deadline = time.monotonic() + RETRY_SECONDS
        pause = 0.001
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(*keys)
                    write(pipe)
                    pipe.execute()
                    return
                except self._watch_error:
                    if time.monotonic() > deadline:  # the documented answer to a write that met another
                        raise ApiError(WRITE_CONFLICT) from None
            time.sleep(pause)  # many writers on one user: back off a little, with no lock held
            pause = min(pause * 2, 0.05)


# A friend entry as a JSON array, trailing empty fields left out: a basic friendship is about 40 bytes.
_FIELDS = ("add_source", "add_time", "remark", "remark_time", "groups", "add_wording", "custom")


def _dump(friend: Any) -> str:
    values = [getattr(friend, name) for name in _FIELDS]
    values[4], values[6] = list(values[4]), [list(pair) for pair in values[6]]
    while values and values[-1] in (None, []):
        values.pop()
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def _load(text: str) -> Any:
    from timconform.emulator.model import Friend

    values = json.loads(text) + [None] * len(_FIELDS)
    return Friend(values[0], values[1], values[2], values[3], tuple(values[4] or ()), values[5],
                  tuple((k, v) for k, v in values[6] or ()))
