"""Concurrent clients over loopback (acceptance point C): the emulator served by uvicorn in a thread on
127.0.0.1, many httpx clients at once. Nothing acknowledged is lost (FI-PARTIAL-SUCCESS), the friend
limit holds under races (FI-FRIEND-LIMIT-3000), and in the conflict mode every write is either stored
or refused with 30008 and not stored (FI-WRITE-CONFLICT).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.serve import start_in_thread

ADMIN = "administrator"
IMPORT = "/v4/sns/friend_import"
CHECK = "/v4/sns/friend_check"
ACCOUNTS = "/v4/im_open_login_svc/multiaccount_import"
CLIENTS = 24


class Api:
    """One emulator on a loopback port and the query string every call carries."""

    def __init__(self, running) -> None:
        self.running = running
        self.emulator: Emulator = running.emulator
        assert running.base_url.startswith("http://127.0.0.1:")
        self.sig = self.emulator.usersig()
        self.sdkappid = self.emulator.config.sdkappid

    def url(self, path: str, random: int = 1) -> str:
        return (f"{self.running.base_url}{path}?sdkappid={self.sdkappid}&identifier={ADMIN}&usersig={self.sig}"
                f"&random={random}&contenttype=json")

    def client(self) -> httpx.AsyncClient:
        # trust_env=False: loopback only, never through a proxy from the environment.
        return httpx.AsyncClient(timeout=30, trust_env=False, limits=httpx.Limits(max_connections=4))

    async def call(self, client: httpx.AsyncClient, path: str, body: dict, random: int = 1) -> dict:
        response = await client.post(self.url(path, random), json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def create_accounts(self, names: list[str]) -> None:
        async with self.client() as client:
            answers = await asyncio.gather(*(self.call(client, ACCOUNTS, {"Accounts": names[i:i + 100]})
                                             for i in range(0, len(names), 100)))
        assert all(a["ActionStatus"] == "OK" and "FailAccounts" not in a for a in answers), answers

    async def friends_by_check(self, client: httpx.AsyncClient, owner: str, candidates: list[str]) -> set[str]:
        """The candidates ``owner`` has as friends, asked through friend_check (1000 at a time)."""
        found = set()
        for i in range(0, len(candidates), 1000):
            chunk = candidates[i:i + 1000]
            answer = await self.call(client, CHECK, {"From_Account": owner, "To_Account": chunk,
                                                     "CheckType": "CheckResult_Type_Single"})
            assert answer["ActionStatus"] == "OK", answer
            found |= {item["To_Account"] for item in answer["InfoItem"]
                      if item["Relation"] == "CheckResult_Type_AWithB"}
        return found


@pytest.fixture
def api() -> Iterator[Api]:
    with start_in_thread(Emulator(EmulatorConfig(rate_limit=None))) as running:
        yield Api(running)


@pytest.fixture
def conflict_api() -> Iterator[Api]:
    config = EmulatorConfig(rate_limit=None, behaviour={"FI-WRITE-CONFLICT": "conflict-30008"},
                            write_hold_seconds=0.02)
    with start_in_thread(Emulator(config)) as running:
        yield Api(running)


def _item(to: str) -> dict:
    return {"To_Account": to, "AddSource": "AddSource_Type_Race", "GroupName": [f"L{hash(to) % 5}"]}


def test_concurrent_imports_for_several_users_lose_nothing_acknowledged(api: Api) -> None:
    """FI-PARTIAL-SUCCESS under concurrency: 24 clients import for 6 users at once, each client several
    batches; afterwards every item answered ResultCode 0 is a friendship (friend_check and the model agree),
    and nothing not acknowledged is stored."""
    users = [f"u{i}" for i in range(6)]
    targets = [f"t{i}" for i in range(600)]

    async def run() -> None:
        await api.create_accounts(users + targets)
        acknowledged: dict[str, set[str]] = {u: set() for u in users}
        refused: dict[str, set[str]] = {u: set() for u in users}

        async def worker(n: int) -> None:
            async with api.client() as client:
                for batch in range(5):
                    user = users[(n + batch) % len(users)]
                    chunk = [targets[(n * 25 + batch * 7 + k) % len(targets)] for k in range(20)]
                    answer = await api.call(client, IMPORT, {"From_Account": user,
                                                             "AddFriendItem": [_item(t) for t in chunk]}, n * 10 + batch)
                    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0, answer
                    for item in answer["ResultItem"]:
                        # 30001: already a friend (OPEN-EXISTING-FRIEND default) or a later duplicate.
                        assert item["ResultCode"] in (0, 30001), item
                        (acknowledged if item["ResultCode"] == 0 else refused)[user].add(item["To_Account"])

        await asyncio.gather(*(worker(n) for n in range(CLIENTS)))
        async with api.client() as client:
            for user in users:
                stored = await api.friends_by_check(client, user, targets)
                assert stored == acknowledged[user], (user, stored ^ acknowledged[user])
                assert stored == set(api.emulator.app_state.friends.get(user, {}))
                # Every item refused as "already a friend" names a friendship some other call acknowledged.
                assert refused[user] <= acknowledged[user]
        assert sum(map(len, acknowledged.values())) > 1000

    asyncio.run(run())


def test_friend_limit_holds_under_racing_imports(api: Api) -> None:
    """FI-FRIEND-LIMIT-3000 under races: 40 concurrent imports of 100 distinct friends each for one user
    (4000 in all): exactly 3000 are stored, exactly 3000 items are answered 0, and every other item is
    answered 30010 and not stored."""
    limit = api.emulator.spec.limit("friends_per_user")
    targets = [f"c{i}" for i in range(limit + 1000)]

    async def run() -> None:
        await api.create_accounts(["owner"] + targets)
        chunks = [targets[i:i + 100] for i in range(0, len(targets), 100)]
        clients = [api.client() for _ in range(CLIENTS)]
        try:
            answers = await asyncio.gather(*(
                api.call(clients[n % CLIENTS], IMPORT, {"From_Account": "owner",
                                                        "AddFriendItem": [_item(t) for t in chunk]}, n)
                for n, chunk in enumerate(chunks)))
            ok = {i["To_Account"] for a in answers for i in a["ResultItem"] if i["ResultCode"] == 0}
            over = {i["To_Account"] for a in answers for i in a["ResultItem"] if i["ResultCode"] == 30010}
            assert all(a["ActionStatus"] == "OK" for a in answers)
            assert len(ok) == limit and len(over) == len(targets) - limit and not ok & over
            assert all(set(a.get("Fail_Account", [])) == {i["To_Account"] for i in a["ResultItem"] if i["ResultCode"]}
                       for a in answers)
            stored = await api.friends_by_check(clients[0], "owner", targets)
            assert stored == ok
            assert len(api.emulator.app_state.friends["owner"]) == limit
            # Full: one more import is refused per item, and the table does not grow.
            again = await api.call(clients[0], IMPORT, {"From_Account": "owner", "AddFriendItem": [_item("owner")]})
            assert again["ResultItem"][0]["ResultCode"] in (30001, 30010)
            assert len(api.emulator.app_state.friends["owner"]) == limit
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    asyncio.run(run())


def test_default_mode_serialises_concurrent_writes_for_one_user(api: Api) -> None:
    """FI-WRITE-CONFLICT default "serialised": concurrent writes for one user are never refused with 30008
    (before the fix in app.py, the default profile behaved as the conflict mode)."""

    async def run() -> None:
        targets = [f"s{i}" for i in range(CLIENTS)]
        await api.create_accounts(["solo"] + targets)
        clients = [api.client() for _ in range(CLIENTS)]
        try:
            answers = await asyncio.gather(*(
                api.call(c, IMPORT, {"From_Account": "solo", "AddFriendItem": [_item(t)]}, n)
                for n, (c, t) in enumerate(zip(clients, targets))))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        assert [a["ErrorCode"] for a in answers] == [0] * CLIENTS, answers
        assert all(a["ResultItem"][0]["ResultCode"] == 0 for a in answers)
        assert set(api.emulator.app_state.friends["solo"]) == set(targets)

    asyncio.run(run())


def test_conflict_mode_each_write_is_stored_or_refused_with_30008(conflict_api: Api) -> None:
    """FI-WRITE-CONFLICT=conflict-30008: of 24 concurrent single-user writes, each is either answered OK
    and stored, or answered 30008 (request level) and not stored; both happen; writes for different users
    do not conflict; and a retried refused write succeeds."""
    api = conflict_api

    async def run() -> None:
        targets = [f"w{i}" for i in range(CLIENTS)]
        others = [f"o{i}" for i in range(CLIENTS)]
        await api.create_accounts(["hot"] + targets + others)
        clients = [api.client() for _ in range(CLIENTS)]
        try:
            answers = await asyncio.gather(*(
                api.call(c, IMPORT, {"From_Account": "hot", "AddFriendItem": [_item(t)]}, n)
                for n, (c, t) in enumerate(zip(clients, targets))))
            stored = set(api.emulator.app_state.friends.get("hot", {}))
            won, lost = set(), set()
            for target, answer in zip(targets, answers):
                if answer["ActionStatus"] == "OK":
                    assert answer["ResultItem"] == [{"To_Account": target, "ResultCode": 0, "ResultInfo": ""}]
                    won.add(target)
                else:
                    assert answer["ErrorCode"] == 30008, answer
                    lost.add(target)
            assert stored == won and not stored & lost
            assert won and lost, (won, lost)
            assert await api.friends_by_check(clients[0], "hot", targets) == won

            # Different users at once: no conflict.
            spread = await asyncio.gather(*(
                api.call(c, IMPORT, {"From_Account": o, "AddFriendItem": [_item("hot")]}, 1000 + n)
                for n, (c, o) in enumerate(zip(clients, others))))
            assert [a["ErrorCode"] for a in spread] == [0] * CLIENTS, spread

            # A refused write retried alone succeeds (30008 is retryable).
            for target in sorted(lost)[:3]:
                retry = await api.call(clients[0], IMPORT, {"From_Account": "hot", "AddFriendItem": [_item(target)]})
                assert retry["ResultItem"][0]["ResultCode"] == 0, retry
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    asyncio.run(run())


def test_loopback_server_answers_every_concurrent_malformed_request_and_keeps_state(api: Api) -> None:
    """FI-HTTP-200 over a real socket under concurrency: malformed requests (bad JSON, empty body, GET,
    unknown command) interleaved with valid imports all get HTTP 200 with their codes; the valid ones stick."""

    async def run() -> None:
        await api.create_accounts(["m"] + [f"mt{i}" for i in range(CLIENTS * 5)])

        async def one(client: httpx.AsyncClient, n: int) -> None:
            kind = n % 5
            if kind == 0:
                answer = await api.call(client, IMPORT, {"From_Account": "m", "AddFriendItem": [_item(f"mt{n}")]}, n)
                assert answer["ResultItem"][0]["ResultCode"] == 0, answer
                return
            if kind == 1:
                response = await client.post(api.url(IMPORT, n), content=b'{"From_Account": "m", ')
                code = 60003
            elif kind == 2:
                response = await client.post(api.url(IMPORT, n), content=b"")
                code = 60003
            elif kind == 3:
                response = await client.get(api.url(IMPORT, n))
                code = 60002
            else:
                response = await client.post(api.url("/v4/sns/friend_importx", n), content=b"{}")
                code = 60009
            assert response.status_code == 200
            assert response.json()["ErrorCode"] == code, response.text

        clients = [api.client() for _ in range(CLIENTS)]
        try:
            await asyncio.gather(*(one(clients[n % CLIENTS], n) for n in range(CLIENTS * 5)))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        assert set(api.emulator.app_state.friends["m"]) == {f"mt{n}" for n in range(0, CLIENTS * 5, 5)}

    asyncio.run(run())


def test_clients_that_disconnect_mid_body_are_not_emulator_errors(api: Api, caplog) -> None:
    """Transport: 24 clients each announce a body and hang up half-way, concurrently. Nothing is processed,
    no traceback is logged (before the fix, each one logged "internal error" with a ClientDisconnect
    traceback), and the server goes on answering."""
    import logging
    import socket

    caplog.set_level(logging.INFO, logger="timconform.emulator")
    target = api.url(IMPORT).split(api.running.base_url, 1)[1]

    def hang_up() -> None:
        with socket.create_connection(("127.0.0.1", api.running.port), timeout=5) as sock:
            sock.sendall(f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         f"Content-Length: 500\r\n\r\n".encode() + b'{"From_Account": "dc", "AddFriendItem": [')

    async def run() -> None:
        await api.create_accounts(["dc", "dc1"])
        await asyncio.gather(*(asyncio.to_thread(hang_up) for _ in range(CLIENTS)))
        async with api.client() as client:
            for _ in range(50):  # the server notices the hang-ups asynchronously
                if sum("disconnected" in r.getMessage() for r in caplog.records) >= CLIENTS:
                    break
                await asyncio.sleep(0.05)
            answer = await api.call(client, IMPORT, {"From_Account": "dc", "AddFriendItem": [_item("dc1")]})
        assert answer["ResultItem"][0]["ResultCode"] == 0, answer

    asyncio.run(run())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert sum("disconnected" in r.getMessage() for r in caplog.records) == CLIENTS
    assert set(api.emulator.app_state.friends["dc"]) == {"dc1"}
