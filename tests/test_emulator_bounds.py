"""Bounded work per request (issue 15, point 2): a pathological body is answered at once and the emulator
keeps answering others meanwhile; a deep fault plan is a JSON 400; --record stays within its bound."""

from __future__ import annotations

import json
import threading
import time

import httpx

from timconform import usersig
from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.app import RECORD_TEXT_BYTES
from timconform.emulator.serve import start_in_thread

IMPORT = "/v4/sns/friend_import"


def _query(emulator: Emulator) -> str:
    sig = usersig.generate(emulator.config.sdkappid, emulator.config.admins[0], emulator.config.secret_key)
    return f"sdkappid={emulator.config.sdkappid}&identifier={emulator.config.admins[0]}&usersig={sig}" \
           f"&random=7&contenttype=json"


def test_a_32_mib_body_of_nested_arrays_is_answered_within_2_s_while_health_answers_within_1_s() -> None:
    unit = b"[" * 500 + b"]" * 500
    body = b"[" + b",".join([unit] * ((32 << 20) // (len(unit) + 1) - 1)) + b"]"
    assert 31 << 20 < len(body) <= 32 << 20
    emulator = Emulator(EmulatorConfig(rate_limit=None))
    with start_in_thread(emulator) as running, httpx.Client(base_url=running.base_url, timeout=30) as client:
        health: list[float] = []

        def check_health() -> None:
            headers = {"Authorization": f"Bearer {emulator.control_token}"}
            for _ in range(20):
                started = time.perf_counter()
                assert client.get("/_timconform/health", headers=headers).status_code == 200
                health.append(time.perf_counter() - started)
                time.sleep(0.05)

        watcher = threading.Thread(target=check_health)
        watcher.start()
        started = time.perf_counter()
        answer = client.post(f"{IMPORT}?{_query(emulator)}", content=body,
                             headers={"Content-Type": "application/json"})
        took = time.perf_counter() - started
        watcher.join()
    assert answer.status_code == 200 and answer.json()["ErrorCode"] == 60003, answer.text[:200]
    assert took < 2.0, took
    assert max(health) < 1.0, health


def test_a_deeply_nested_fault_plan_is_a_json_400_not_a_500() -> None:
    emulator = Emulator(EmulatorConfig(rate_limit=None))
    with start_in_thread(emulator) as running:
        response = httpx.put(f"{running.base_url}/_timconform/faults", content=b"[" * 100000 + b"]" * 100000,
                             headers={"Authorization": f"Bearer {emulator.control_token}",
                                      "Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400 and "error" in response.json()
    assert emulator.faults.describe()["faults"] == []


def test_record_keeps_the_newest_requests_within_its_bound() -> None:
    """300 large imports (1000 items each) recorded: at most record_limit entries, each body cut."""
    emulator = Emulator(EmulatorConfig(rate_limit=None, record=True, record_limit=50))
    items = [{"To_Account": f"user{n}", "AddSource": "AddSource_Type_Bound", "Remark": "r" * 90} for n in range(1000)]
    body = json.dumps({"From_Account": "owner", "AddFriendItem": items}).encode()
    assert len(body) > 100_000
    transport = httpx.ASGITransport(app=emulator)

    async def send_all() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
            for _ in range(300):
                await client.post(f"{IMPORT}?{_query(emulator)}", content=body)

    import asyncio

    asyncio.run(send_all())
    recorded = list(emulator.recorded)
    assert len(recorded) == 50
    held = sum(len(r["body"]) + len(r["response"]) for r in recorded)
    assert held <= 50 * 2 * (RECORD_TEXT_BYTES + 64), held
    assert all(r["body"].endswith("bytes, cut]") for r in recorded)
