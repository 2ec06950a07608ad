"""The emulator with its state in a real Redis (redis-server from Debian's packages, loopback, no persistence).

No mock of Redis: these tests claim Redis behaviour (transactions, key spaces, a restart). Where redis-server is
missing they are skipped, except under CI, where .ci/run installs it and a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.suite_support import CREDENTIALS, TAGS, free_port
from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.config import DEMO_ADMIN, DEMO_SDKAPPID
from timconform.emulator.serve import start_in_thread
from timconform.report.model import Verdict
from timconform.suite.runner import RunConfig, run


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    import redis

    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path_factory.mktemp("redis"))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def flushed(redis_url):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


def _emulator(url: str, **settings) -> Emulator:
    return Emulator(EmulatorConfig(store=url, **settings))


def _items(names, **fields):
    return [{"To_Account": name, "AddSource": "AddSource_Type_Web", **fields} for name in names]


def _post(client: httpx.Client, emulator: Emulator, command: str, body: dict) -> dict:
    sig = emulator.usersig()
    answer = client.post(f"/v4/{command}", params={"sdkappid": DEMO_SDKAPPID, "identifier": DEMO_ADMIN,
                                                   "usersig": sig, "random": time.monotonic_ns() % 2**32,
                                                   "contenttype": "json"}, json=body)
    assert answer.status_code == 200
    return answer.json()


def test_state_survives_a_restart_with_the_same_redis(flushed):
    first = _emulator(flushed)
    first.model.multiaccount_import(first.app_state, ["alice", "bob", "carol"])
    with start_in_thread(first) as server, httpx.Client(base_url=server.base_url, timeout=10) as client:
        answer = _post(client, first, "sns/friend_import", {"From_Account": "alice", "AddFriendItem": _items(
            ["bob"], Remark="r\u00e9", GroupName=["g1", "g2"], AddWording="hi", AddTime=1700000000)})
        assert answer["ActionStatus"] == "OK" and answer["ResultItem"][0]["ResultCode"] == 0
    second = _emulator(flushed)  # a new process would see the same: nothing is read from the first
    assert second.model.store.friends_of(second.app_state, "alice") == ["bob"]
    first_entry = first.model.store.friend(first.app_state, "alice", "bob")
    assert second.model.store.friend(second.app_state, "alice", "bob") == first_entry
    assert first_entry.remark == "r\u00e9" and first_entry.groups == ("g1", "g2") and first_entry.add_wording == "hi"
    with start_in_thread(second) as server, httpx.Client(base_url=server.base_url, timeout=10) as client:
        check = _post(client, second, "sns/friend_check", {"From_Account": "alice", "To_Account": ["bob", "carol"],
                                                           "CheckType": "CheckResult_Type_Single"})
    assert [i["Relation"] for i in check["InfoItem"]] == ["CheckResult_Type_AWithB", "CheckResult_Type_NoRelation"]


def test_concurrent_imports_through_two_emulators_never_pass_the_friend_limit(flushed):
    """50 clients over two emulators sharing one Redis, toward one user's 3000-friend limit: every item answered
    0 is stored, and the table never holds more than 3000."""
    workers = [_emulator(flushed), _emulator(flushed)]
    names = [f"u{n:05d}" for n in range(3400)]
    workers[0].model.multiaccount_import(workers[0].app_state, ["owner"])
    for start in range(0, len(names), 100):
        workers[0].model.multiaccount_import(workers[0].app_state, names[start:start + 100])
    acknowledged: list[str] = []
    lock = threading.Lock()
    with start_in_thread(workers[0]) as one, start_in_thread(workers[1]) as two:
        def client(n: int) -> None:
            server, worker = (one, workers[0]) if n % 2 else (two, workers[1])
            batch = names[n * 68:(n + 1) * 68]
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                answer = _post(http, worker, "sns/friend_import", {"From_Account": "owner",
                                                                   "AddFriendItem": _items(batch)})
            ok = [item["To_Account"] for item in answer.get("ResultItem", []) if item["ResultCode"] == 0]
            with lock:
                acknowledged.extend(ok)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    stored = set(workers[1].model.store.friends_of(workers[1].app_state, "owner"))
    assert len(stored) == 3000 and set(acknowledged) == stored


def test_a_reset_touches_one_app_only(flushed):
    one, other = _emulator(flushed), _emulator(flushed, sdkappid=DEMO_SDKAPPID + 1)
    for emulator in (one, other):
        emulator.model.multiaccount_import(emulator.app_state, ["alice", "bob"])
        assert emulator.model.friend_import(emulator.app_state, "alice", emulator.validator.parse(
            {"From_Account": "alice", "AddFriendItem": _items(["bob"])}, ())[1]) == [0]
    one.reset()
    assert one.model.store.friends_of(one.app_state, "alice") == []
    assert set(one.model.store.account_ids(one.app_state)) == {DEMO_ADMIN}
    assert other.model.store.friends_of(other.app_state, "alice") == ["bob"]


def test_an_unreachable_redis_is_one_line_and_exit_2(capsys):
    from timconform import cli

    assert cli.main(["emulator", "--store", f"redis://127.0.0.1:{free_port()}/0", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--store" in err[0] and "Redis did not answer" in err[0]


# The same answers from both stores, whatever the sequence of writes: one model, two places to keep its state.
USERS = ["a", "b", "c", "d"]
OPERATION = st.one_of(
    st.tuples(st.just("import"), st.sampled_from(USERS),
              st.lists(st.tuples(st.sampled_from(USERS + ["ghost"]), st.lists(st.sampled_from(["g1", "g2", "g3"]),
                                                                              max_size=2, unique=True)),
                       min_size=1, max_size=5)),
    st.tuples(st.just("delete"), st.sampled_from(USERS), st.lists(st.sampled_from(USERS), min_size=1, max_size=3),
              st.booleans()),
    st.tuples(st.just("check"), st.sampled_from(USERS), st.lists(st.sampled_from(USERS), min_size=1, max_size=4),
              st.booleans()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATION, min_size=1, max_size=12))
def test_both_stores_give_the_same_answers_and_keep_the_same_state(flushed, operations):
    import redis

    redis.Redis.from_url(flushed).flushdb()
    from timconform.emulator.model import Limits

    emulators = [Emulator(EmulatorConfig()), _emulator(flushed)]
    for emulator in emulators:  # small limits, so that sequences reach them
        emulator.model.limits = Limits(friends_per_user=3, friend_lists_per_user=2, free_trial_accounts=100,
                                       batch=emulator.model.limits.batch)
        emulator.model.multiaccount_import(emulator.app_state, USERS)
    for operation in operations:
        answers = []
        for emulator in emulators:
            model, app = emulator.model, emulator.app_state
            if operation[0] == "import":
                body = {"From_Account": operation[1], "AddFriendItem": [
                    {"To_Account": to, "AddSource": "AddSource_Type_Web", **({"GroupName": groups} if groups else {})}
                    for to, groups in operation[2]]}
                answers.append(model.friend_import(app, operation[1], emulator.validator.parse(body, ())[1]))
            elif operation[0] == "delete":
                answers.append(model.friend_delete(app, operation[1], operation[2], operation[3]))
            else:
                answers.append(model.friend_check(app, operation[1], operation[2], operation[3]))
        assert answers[0] == answers[1], operation
    memory, shared = (e.model.store for e in emulators)
    for user in USERS:
        assert sorted(memory.friends_of(emulators[0].app_state, user)) == \
            sorted(shared.friends_of(emulators[1].app_state, user))
        assert emulators[0].app_state.lists.get(user, {}) == {
            k: int(v) for k, v in shared.redis.hgetall(shared._lists(emulators[1].app_state, user)).items()}


# -- one service over many processes: what the gateway remembers is shared too ------------------------------------


def _call(server, emulator: Emulator, command: str, body: dict, *, random: int | None = None) -> dict:
    params = {"sdkappid": DEMO_SDKAPPID, "identifier": DEMO_ADMIN, "usersig": emulator.usersig(),
              "random": time.monotonic_ns() % 2**32 if random is None else random, "contenttype": "json"}
    answer = httpx.post(f"{server.base_url}/v4/{command}", params=params, json=body, timeout=30)
    assert answer.status_code == 200
    return answer.json()


def test_one_rate_limit_for_the_app_across_two_emulators(flushed):
    """260 friend_import calls within one second, spread over two emulators: 200 admitted in all, the rest refused
    with the profile's rate-limit code.
    Both limiters' clocks are held at one instant, so that the test does not depend on this machine's speed;
    the window's sliding over real time is the in-process limiter's tests' to check."""
    from concurrent.futures import ThreadPoolExecutor

    workers = [_emulator(flushed), _emulator(flushed)]
    workers[0].model.multiaccount_import(workers[0].app_state, ["alice"])
    with start_in_thread(workers[0]) as one, start_in_thread(workers[1]) as two, \
            workers[0].limiter.frozen(), workers[1].limiter.frozen():
        servers = [(one, workers[0]), (two, workers[1])]
        body = {"From_Account": "alice", "AddFriendItem": _items(["nobody"])}
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda n: _call(*servers[n % 2], "sns/friend_import", body), range(260)))
    codes = [a["ErrorCode"] for a in answers]
    assert codes.count(0) == 200 and codes.count(workers[0].codes.rate_limit) == 60


def test_a_random_seen_by_one_emulator_is_seen_by_the_other(flushed):
    settings_ = {"behaviour": {"OPEN-RANDOM-REUSE": "rejected"}}
    workers = [_emulator(flushed, **settings_), _emulator(flushed, **settings_)]
    workers[0].model.multiaccount_import(workers[0].app_state, ["alice"])
    body = {"CheckItem": [{"UserID": "alice"}]}
    with start_in_thread(workers[0]) as one, start_in_thread(workers[1]) as two:
        first = _call(one, workers[0], "im_open_login_svc/account_check", body, random=4242)
        again = _call(two, workers[1], "im_open_login_svc/account_check", body, random=4242)
    assert first["ErrorCode"] == 0 and again["ErrorCode"] != 0


def test_a_fault_plan_installed_on_one_emulator_counts_calls_on_both(flushed):
    workers = [_emulator(flushed), _emulator(flushed)]
    workers[0].model.multiaccount_import(workers[0].app_state, ["alice", "bob"])
    workers[0].install_faults({"faults": [{"action": "code", "code": 30008, "calls": [2]},
                                          {"action": "http", "status": 503, "body": "busy", "calls": [3]}]})
    body = {"From_Account": "alice", "AddFriendItem": _items(["bob"])}
    with start_in_thread(workers[0]) as one, start_in_thread(workers[1]) as two:
        assert _call(one, workers[0], "sns/friend_import", body)["ErrorCode"] == 0
        assert _call(two, workers[1], "sns/friend_import", body)["ErrorCode"] == 30008  # call 2, on the other
        third = httpx.post(f"{one.base_url}/v4/sns/friend_import", params={
            "sdkappid": DEMO_SDKAPPID, "identifier": DEMO_ADMIN, "usersig": workers[0].usersig(), "random": 9,
            "contenttype": "json"}, json=body, timeout=30)
    assert third.status_code == 503 and third.text == "busy"  # the body survived the trip through Redis
    assert workers[1].faults.describe()["calls"] == {"friend_import": 3}


def test_recordings_and_write_holds_are_shared(flushed):
    settings_ = {"record": True, "behaviour": {"FI-WRITE-CONFLICT": "conflict-30008"}, "write_hold_seconds": 2.0}
    workers = [_emulator(flushed, **settings_), _emulator(flushed, **settings_)]
    workers[0].model.multiaccount_import(workers[0].app_state, ["alice", "bob", "carol"])
    with start_in_thread(workers[0]) as one, start_in_thread(workers[1]) as two:
        holding = threading.Thread(target=_call, args=(one, workers[0], "sns/friend_import",
                                                       {"From_Account": "alice", "AddFriendItem": _items(["bob"])}))
        holding.start()
        import redis

        held, deadline = redis.Redis.from_url(flushed), time.monotonic() + 10
        while not held.exists(f"timconform:{DEMO_SDKAPPID}:hold:alice"):  # the first write holds alice for 2 s
            assert time.monotonic() < deadline, "the first write never held alice"
            time.sleep(0.005)
        refused = _call(two, workers[1], "sns/friend_import", {"From_Account": "alice",
                                                               "AddFriendItem": _items(["carol"])})
        holding.join()
    assert refused["ErrorCode"] == 30008
    recorded = list(workers[1].recorded)
    assert len(recorded) == 2 and {r["path"] for r in recorded} == {"/v4/sns/friend_import"}


# -- timconform emulator --store ... --workers N, as a user runs it ---------------------------------------------


class _Service:
    """``timconform emulator --store URL --workers N`` in a subprocess of its own (killed whole on failure)."""

    def __init__(self, url: str, workers: int, *extra: str) -> None:
        import sys

        env = {k: v for k, v in os.environ.items() if k != "TIMCONFORM_SECRET_KEY"}
        env.update(PYTHONUNBUFFERED="1", TIMCONFORM_CONTROL_TOKEN="test-token-of-the-service")
        self.process = subprocess.Popen([sys.executable, "-m", "timconform.cli", "emulator", "--store", url,
                                         "--workers", str(workers), "--port", "0", *extra],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                        start_new_session=True)
        line = self.process.stdout.readline()
        assert line.startswith("timconform emulator on http://"), line + self.process.stderr.read()
        self.base_url = line.split()[3]

    def workers(self) -> set[int]:
        """The pids that answered health checks (SO_REUSEADDR'd accept queue: the kernel picks the worker)."""
        return {int(p) for p in subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                                text=True).stdout.split()}

    def stop(self) -> tuple[int, str]:
        import signal

        self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        return self.process.returncode, err


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_the_standard_profile_passes_against_a_redis_backed_service(flushed, workers):
    """The service in processes of its own, as a user runs it: the suite's rate-limit burst (32 threads) then
    competes with nothing of the emulator's for this process's interpreter."""
    service = _Service(flushed, workers, "--custom-tags", "Tag_SNS_Custom_XXXX,Tag_SNS_Custom_YYYY")
    try:
        assert len(service.workers()) == (workers if workers > 1 else 0)  # one worker: the process itself
        result, _ = run(RunConfig(target=service.base_url, profile="standard", seed=20261129 + workers,
                                  rate_limit=200, env={**CREDENTIALS, **TAGS}))
    finally:
        code, err = service.stop()
    bad = {r.rule_id: (r.verdict.label, [e.message for e in r.evidence])
           for r in result.rules if r.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR)}
    assert bad == {}
    assert code == 0 and "Traceback" not in err


def test_fifty_clients_over_four_workers_toward_the_friend_limit(flushed):
    """No acknowledged write lost, and never more than 3000 friends, with the workers in processes of their own."""
    from concurrent.futures import ThreadPoolExecutor

    names = [f"u{n:05d}" for n in range(3400)]
    seed = _emulator(flushed)
    seed.model.multiaccount_import(seed.app_state, ["owner", *names])
    service = _Service(flushed, 4)
    try:
        class Server:
            base_url = service.base_url

        def client(n: int) -> list[str]:
            answer = _call(Server, seed, "sns/friend_import", {"From_Account": "owner",
                                                               "AddFriendItem": _items(names[n * 68:(n + 1) * 68])})
            return [item["To_Account"] for item in answer.get("ResultItem", []) if item["ResultCode"] == 0]

        with ThreadPoolExecutor(50) as pool:
            acknowledged = [name for batch in pool.map(client, range(50)) for name in batch]
    finally:
        code, err = service.stop()
    stored = set(seed.model.store.friends_of(seed.app_state, "owner"))
    assert len(stored) == 3000 and set(acknowledged) == stored
    assert code == 0, err


def test_a_restart_with_the_same_accounts_file_keeps_the_state(flushed, tmp_path):
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts: [alice, bob, carol]\nfriends: {alice: [{To_Account: bob, AddSource: "
                        "AddSource_Type_Web}]}\n", encoding="utf-8")
    first = _Service(flushed, 2, "--accounts", str(accounts))
    seed = _emulator(flushed)
    try:
        class Server:
            base_url = first.base_url

        answer = _call(Server, seed, "sns/friend_import", {"From_Account": "alice", "AddFriendItem": _items(["carol"])})
        assert answer["ResultItem"][0]["ResultCode"] == 0
    finally:
        code, err = first.stop()
        assert code == 0, err
    second = _Service(flushed, 2, "--accounts", str(accounts))  # bob is there already: kept, not an error
    code, err = second.stop()
    assert code == 0, err
    assert sorted(seed.model.store.friends_of(seed.app_state, "alice")) == ["bob", "carol"]


def test_workers_without_a_shared_store_are_refused_in_one_line():
    import sys

    done = subprocess.run([sys.executable, "-m", "timconform.cli", "emulator", "--workers", "2", "--port", "0"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--workers needs --store" in done.stderr


# -- several apps in one emulator --------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_two_apps_in_one_emulator_keep_their_state_apart(request, store):
    from timconform.emulator.config import AppConfig

    url = request.getfixturevalue("flushed") if store == "redis" else None
    other = AppConfig(DEMO_SDKAPPID + 7, ("boss",), "another-secret-key-0123456789abcdef")
    emulator = Emulator(EmulatorConfig(store=url, apps=(other,)))
    for sdkappid in (DEMO_SDKAPPID, other.sdkappid):
        emulator.model.multiaccount_import(emulator.model.apps[sdkappid], ["alice", "bob"])
    body = {"From_Account": "alice", "AddFriendItem": _items(["bob"])}

    def call(sdkappid: int, identifier: str, sig: str) -> dict:
        params = {"sdkappid": sdkappid, "identifier": identifier, "usersig": sig, "random": time.monotonic_ns() % 2**32,
                  "contenttype": "json"}
        return httpx.post(f"{server.base_url}/v4/sns/friend_import", params=params, json=body, timeout=10).json()

    with start_in_thread(emulator) as server:
        assert call(other.sdkappid, "boss", emulator.usersig(sdkappid=other.sdkappid))["ActionStatus"] == "OK"
        from timconform import usersig

        signed_with_the_first_key = usersig.generate(other.sdkappid, "boss", emulator.config.secret_key)
        assert call(other.sdkappid, "boss", signed_with_the_first_key)["ErrorCode"] != 0  # each app its own key
        assert call(other.sdkappid, DEMO_ADMIN, emulator.usersig(DEMO_ADMIN, sdkappid=other.sdkappid))[
            "ErrorCode"] != 0  # and its own admins
        store_ = emulator.model.store
        assert store_.friends_of(emulator.app_state, "alice") == []
        assert store_.friends_of(emulator.model.apps[other.sdkappid], "alice") == ["bob"]
        assert call(DEMO_SDKAPPID, DEMO_ADMIN, emulator.usersig())["ActionStatus"] == "OK"
        token = {"Authorization": f"Bearer {emulator.control_token}"}
        reset = httpx.post(f"{server.base_url}/_timconform/reset?sdkappid={other.sdkappid}", headers=token)
        state = httpx.get(f"{server.base_url}/_timconform/state?sdkappid={other.sdkappid}", headers=token).json()
        nobody = httpx.get(f"{server.base_url}/_timconform/state?sdkappid=42", headers=token)
    assert reset.status_code == 200 and state["accounts"] == ["boss"] and state["friendships"] == 0
    assert store_.friends_of(emulator.app_state, "alice") == ["bob"]  # the reset touched the other app only
    assert nobody.status_code == 404 and "serves no app '42'" in nobody.json()["error"]
    other_app = emulator.model.apps[other.sdkappid]
    emulator.model.multiaccount_import(other_app, ["alice", "bob"])
    assert emulator.model.friend_import(other_app, "alice", emulator.validator.parse(body, ())[1]) == [0]
    emulator.reset()  # the emulator's own app: the other keeps its state
    assert store_.friends_of(emulator.app_state, "alice") == []
    assert store_.friends_of(other_app, "alice") == ["bob"]


def test_an_app_without_its_secret_key_is_one_line_and_exit_2(tmp_path):
    import sys

    def emulator(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TIMCONFORM_SECRET_KEY")}
        return subprocess.run([sys.executable, "-m", "timconform.cli", "emulator", "--port", "0", *args],
                              capture_output=True, text=True, timeout=30, env={**clean, **(env or {})})

    missing = emulator("--app", "1400000009:boss")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "$TIMCONFORM_SECRET_KEY_1400000009" in missing.stderr
    unreadable = emulator("--app", f"1400000009:boss:{tmp_path / 'absent.key'}")
    assert unreadable.returncode == 2 and "cannot read the key file" in unreadable.stderr
    malformed = emulator("--app", "boss")
    assert malformed.returncode == 2 and "expected SDKAPPID:ADMIN" in malformed.stderr


def test_an_app_s_key_comes_from_its_file_or_its_own_environment_variable(tmp_path, monkeypatch):
    from timconform.cli import _app

    (tmp_path / "k").write_text("key-from-the-file\n", encoding="utf-8")
    assert _app(f"1400000009:boss,deputy:{tmp_path / 'k'}").secret_key == "key-from-the-file"
    monkeypatch.setenv("TIMCONFORM_SECRET_KEY_1400000009", "key-from-the-environment")
    app = _app("1400000009:boss,deputy")
    assert (app.sdkappid, app.admins, app.secret_key) == (1400000009, ("boss", "deputy"), "key-from-the-environment")


def test_a_user_id_with_a_colon_is_one_owner_in_the_redis_store(flushed):
    emulator = _emulator(flushed, edition="free-trial")
    model, app = emulator.model, emulator.app_state
    model.multiaccount_import(app, ["team:alice", "bob"])
    assert model.friend_import(app, "team:alice", emulator.validator.parse(
        {"From_Account": "team:alice", "AddFriendItem": _items(["bob"])}, ())[1]) == [0]
    assert model.friend_import(app, "bob", emulator.validator.parse(
        {"From_Account": "bob", "AddFriendItem": _items(["team:alice"])}, ())[1]) == [0]
    assert model.store.friendships(app) == {"team:alice": ["bob"], "bob": ["team:alice"]}
    assert model.account_delete(app, ["team:alice"]) == [("team:alice", 0)]
    assert model.store.friendships(app) == {}  # the chain went both ways
