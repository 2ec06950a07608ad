"""The emulator through its public HTTP API: the seed's samples, friend_import's own codes, semantics.

Every request goes through the ASGI app in-process (httpx.ASGITransport, no network). Each test names
the rule of schemas/rules.yaml it checks. The helpers here (``Api``, ``item``, the fixtures) are shared
with the other tests/test_emulator_*.py files.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from tests import seed
from timconform.emulator import Emulator, EmulatorConfig

TAGS = ("Tag_SNS_Custom_XXXX", "Tag_SNS_Custom_YYYY")
SOURCE = "AddSource_Type_Web"
STANDARD_TAGS = ["Tag_SNS_IM_AddSource", "Tag_SNS_IM_Remark", "Tag_SNS_IM_Group", "Tag_SNS_IM_AddWording",
                 "Tag_SNS_IM_AddTime"]
RESPONSE = "friend_import.response.json"


class Clock:
    """An injectable clock (EmulatorConfig.clock / .monotonic): it moves only when a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Api:
    """One emulator plus an httpx client on a private event loop: ``api(op, body) -> (status, json)``."""

    def __init__(self, spec, *, client: tuple[str, int] = ("127.0.0.1", 123), **config: Any) -> None:
        config.setdefault("rate_limit", None)
        config.setdefault("custom_tags", TAGS)
        self.spec = spec
        self.emu = Emulator(EmulatorConfig(**config), spec=spec)
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.emu, client=client),
                                        base_url="http://emulator", trust_env=False, timeout=30)
        self._random = itertools.count(1000)

    # -- transport ------------------------------------------------------------------------------

    def query(self, **overrides: Any) -> dict[str, Any]:
        params = dict(sdkappid=self.emu.config.sdkappid, identifier=self.emu.config.admins[0],
                      usersig=self.emu.usersig(), random=next(self._random), contenttype="json")
        params.update(overrides)
        return params

    def path(self, op: str) -> str:
        return self.spec.operations[op].path if op in self.spec.operations else op

    async def send(self, op: str, body: Any = None, *, method: str = "POST", content: bytes | None = None,
                   **query: Any) -> httpx.Response:
        kwargs: dict[str, Any] = {"content": content} if content is not None else {"json": body}
        return await self.client.request(method, self.path(op), params=self.query(**query), **kwargs)

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def raw(self, op: str, body: Any = None, **query: Any) -> httpx.Response:
        return self.run(self.send(op, body, **query))

    def __call__(self, op: str, body: Any, **query: Any) -> tuple[int, dict[str, Any]]:
        response = self.raw(op, body, **query)
        return response.status_code, response.json()

    def gather(self, *calls: tuple[str, Any]) -> list[httpx.Response]:
        """Send several calls concurrently on the emulator's loop (they overlap inside the app)."""
        async def all_of():
            return await asyncio.gather(*(self.send(op, body) for op, body in calls))
        return self.run(all_of())

    def control(self, method: str, action: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        """A control-plane call as a local user makes it: to 127.0.0.1, with the start's token."""
        if body is not None:
            kwargs["json"] = body
        headers = {"Host": "127.0.0.1", "Authorization": f"Bearer {self.emu.control_token}", **kwargs.pop("headers", {})}
        return self.run(self.client.request(method, f"/_timconform/{action}", headers=headers, **kwargs))

    def close(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()

    # -- companion helpers ----------------------------------------------------------------------

    def accounts(self, *names: str) -> None:
        """Create accounts with multiaccount_import, at most 100 per call (SUPPORT-BATCH-LIMITS)."""
        for start in range(0, len(names), 100):
            status, body = self("multiaccount_import", {"Accounts": list(names[start:start + 100])})
            assert (status, body["ErrorCode"], body.get("FailAccounts")) == (200, 0, None), body

    def imp(self, from_account: str, *items: dict[str, Any]) -> dict[str, Any]:
        status, body = self("friend_import", {"From_Account": from_account, "AddFriendItem": list(items)})
        assert status == 200
        return body

    def stored(self, from_account: str, to_account: str, tags: Iterable[str] = ()) -> dict[str, Any] | None:
        """The friend fields From keeps for To (friend_get_list), or None when To is not From's friend."""
        tag_list = [*STANDARD_TAGS, *TAGS, *tags]
        status, body = self("friend_get_list", {"From_Account": from_account, "To_Account": [to_account],
                                                "TagList": tag_list})
        assert (status, body["ErrorCode"]) == (200, 0), body
        info = body["InfoItem"][0]
        if info["ResultCode"] != 0:
            return None
        return {entry["Tag"]: entry["Value"] for entry in info["SnsProfileItem"]}

    def relation(self, from_account: str, to_account: str) -> str:
        status, body = self("friend_check", {"From_Account": from_account, "To_Account": [to_account],
                                             "CheckType": "CheckResult_Type_Both"})
        assert (status, body["ErrorCode"]) == (200, 0), body
        return body["InfoItem"][0]["Relation"]


def item(to_account: str, **fields: Any) -> dict[str, Any]:
    return {"To_Account": to_account, "AddSource": SOURCE, **fields}


def codes(body: dict[str, Any]) -> list[int]:
    return [entry["ResultCode"] for entry in body["ResultItem"]]


def assert_ok_shape(spec, body: dict[str, Any], to_accounts: list[str]) -> None:
    """FI-ENVELOPE-SHAPE, FI-RESULTITEM-PER-ACCOUNT/ORDER, FI-FAIL-ACCOUNT-PRESENCE/CONTENT, FI-RESULTINFO-*."""
    assert list(spec.validator(RESPONSE).iter_errors(body)) == []
    assert (body["ActionStatus"], body["ErrorCode"], body["ErrorInfo"]) == ("OK", 0, "")
    assert [entry["To_Account"] for entry in body["ResultItem"]] == to_accounts
    failed = [entry["To_Account"] for entry in body["ResultItem"] if entry["ResultCode"] != 0]
    for entry in body["ResultItem"]:
        assert (entry["ResultInfo"] == "") == (entry["ResultCode"] == 0), entry
    if failed:
        assert body["Fail_Account"] == failed
    else:
        assert "Fail_Account" not in body


def assert_fail(spec, status: int, body: dict[str, Any], code: int) -> None:
    """A request-level refusal: HTTP 200, FAIL, the code, an ErrorInfo (empty only where the catalogue's text, seen
    from the live service, is: 70032), no ResultItem."""
    assert status == 200
    assert list(spec.validator(RESPONSE).iter_errors(body)) == []
    assert (body["ActionStatus"], body["ErrorCode"]) == ("FAIL", code), body
    assert body["ErrorInfo"] or spec.codes[code].error_info == ""
    assert "ResultItem" not in body and "Fail_Account" not in body


@pytest.fixture
def make_api(spec):
    made: list[Api] = []

    def factory(**config: Any) -> Api:
        made.append(Api(spec, **config))
        return made[-1]

    yield factory
    for api in made:
        api.close()


@pytest.fixture
def api(make_api) -> Api:
    made = make_api()
    made.accounts("alice", "bob", "carol", "dave")
    return made


# ---------------------------------------------------------------- 1. the seed's samples


def test_seed_request_samples_get_documented_response_FI_ENVELOPE_SHAPE(spec, shared_dir, make_api):
    """FI-ENVELOPE-SHAPE, FI-RESULTITEM-PER-ACCOUNT, FI-RESULTITEM-ORDER, FI-FAIL-ACCOUNT-PRESENCE: each of the
    seed page's three request samples, sent once its accounts exist, is answered OK with one ResultItem per
    To_Account in request order, ResultCode 0 and no Fail_Account."""
    requests, responses = seed.samples(shared_dir)
    assert len(requests) == 3 and len(responses) == 2
    for request in requests:
        api = make_api()
        to_accounts = [entry["To_Account"] for entry in request["AddFriendItem"]]
        api.accounts(request["From_Account"], *to_accounts)
        status, body = api("friend_import", request)
        assert status == 200
        assert_ok_shape(spec, body, to_accounts)
        assert codes(body) == [0] * len(to_accounts)
        for entry in request["AddFriendItem"]:
            assert api.stored(request["From_Account"], entry["To_Account"])["Tag_SNS_IM_AddSource"] == \
                entry["AddSource"]


def test_seed_response_samples_validate_FI_ENVELOPE_SHAPE(spec, shared_dir):
    """FI-ENVELOPE-SHAPE: the schema the emulator's answers are judged by accepts the seed's own responses."""
    _, responses = seed.samples(shared_dir)
    for response in responses:
        assert list(spec.validator(RESPONSE).iter_errors(response)) == []


# ---------------------------------------------------------------- 2. friend_import's own codes


def test_30001_remark_over_96_bytes_per_item_FI_LIMIT_REMARK_BYTES(spec, api):
    """30001 by its documented trigger (bad parameter): a Remark of 97 or 98 UTF-8 bytes fails its item only."""
    body = api.imp("alice", item("bob", Remark="é" * 48 + "a"), item("carol", Remark="é" * 49),
                   item("dave", Remark="é" * 48))
    assert_ok_shape(spec, body, ["bob", "carol", "dave"])
    assert codes(body) == [30001, 30001, 0]
    assert api.stored("alice", "bob") is None and api.stored("alice", "carol") is None
    assert api.stored("alice", "dave")["Tag_SNS_IM_Remark"] == "é" * 48


def test_30001_addsource_without_prefix_FI_LIMIT_ADDSOURCE_FORM(spec, api):
    """30001 by its documented trigger: AddSource without the AddSource_Type_ prefix fails its item."""
    body = api.imp("alice", {"To_Account": "bob", "AddSource": "Web"})
    assert_ok_shape(spec, body, ["bob"])
    assert codes(body) == [30001]
    assert body["ResultItem"][0]["ResultInfo"].startswith("Err_SNS_FriendImport_")
    assert api.stored("alice", "bob") is None


def test_30002_item_level_through_fault_plan_FI_PARTIAL_SUCCESS(spec, api):
    """30002 (SDKAppID mismatch) has no trigger an emulator of one app can show: fault plan, item level."""
    api.emu.install_faults([{"action": "code", "code": 30002, "level": "item", "items": [1]}])
    body = api.imp("alice", item("bob"), item("carol"))
    assert_ok_shape(spec, body, ["bob", "carol"])
    assert codes(body) == [0, 30002]
    assert body["ResultItem"][1]["ResultInfo"] == "Err_SNS_FriendImport_SdkAppId_Illegal"
    assert api.stored("alice", "carol") is None and api.stored("alice", "bob") is not None


def test_30003_unknown_to_account_per_item_FI_ACCOUNT_TO_EXISTS(spec, api):
    """30003 by its documented trigger: a To_Account never imported fails its item (default per-item-30003)."""
    body = api.imp("alice", item("ghost"), item("bob"))
    assert_ok_shape(spec, body, ["ghost", "bob"])
    assert codes(body) == [30003, 0]
    assert body["Fail_Account"] == ["ghost"]


def test_30003_unknown_from_account_request_level_FI_ACCOUNT_FROM_EXISTS(spec, api):
    """30003 by its documented trigger: an unknown From_Account refuses the whole request; nothing stored."""
    status, body = api("friend_import", {"From_Account": "ghost", "AddFriendItem": [item("bob")]})
    assert_fail(spec, status, body, 30003)
    api.accounts("ghost")
    assert api.stored("ghost", "bob") is None


def test_non_admin_identifier_default_60010_FI_AUTH_ADMIN_REQUIRED(spec, api):
    """FI-AUTH-ADMIN-REQUIRED default common-60010: a valid UserSig of a non-admin account is refused."""
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob")]},
                       identifier="alice", usersig=api.emu.usersig("alice"))
    assert_fail(spec, status, body, 60010)
    assert api.stored("alice", "bob") is None


def test_30004_non_admin_identifier_with_profile_FI_AUTH_ADMIN_REQUIRED(spec, make_api):
    """30004 by its documented trigger (needs app admin), under the profile FI-AUTH-ADMIN-REQUIRED=sns-30004."""
    api = make_api(behaviour={"FI-AUTH-ADMIN-REQUIRED": "sns-30004"})
    api.accounts("alice", "bob")
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob")]},
                       identifier="alice", usersig=api.emu.usersig("alice"))
    assert_fail(spec, status, body, 30004)
    assert api.stored("alice", "bob") is None


@pytest.mark.parametrize("code", [30006, 30007])
def test_transient_codes_request_level_through_fault_plan_FI_TRANSIENT_CODES(spec, api, code):
    """30006/30007 (internal error, timeout) have no client trigger: fault plan, request level; nothing stored,
    and the retried call (the plan hits call 1 only) succeeds."""
    api.emu.install_faults([{"action": "code", "code": code, "calls": [1]}])
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob")]})
    assert_fail(spec, status, body, code)
    assert api.stored("alice", "bob") is None
    assert codes(api.imp("alice", item("bob"))) == [0]


def test_30008_through_fault_plan_FI_WRITE_CONFLICT(spec, api):
    """30008 through the fault plan, request level: nothing of the call is stored."""
    api.emu.install_faults([{"action": "code", "code": 30008}])
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob")]})
    assert_fail(spec, status, body, 30008)
    api.emu.install_faults([])
    assert api.stored("alice", "bob") is None


def _overlapping_imports(api: Api) -> list[dict[str, Any]]:
    bodies = [{"From_Account": "alice", "AddFriendItem": [item("bob")]},
              {"From_Account": "alice", "AddFriendItem": [item("carol")]}]
    return [r.json() for r in api.gather(*(("friend_import", b) for b in bodies))]


def test_30008_real_concurrent_writes_conflict_profile_FI_WRITE_CONFLICT(spec, make_api):
    """30008 by its documented trigger (concurrent writes for one user) under FI-WRITE-CONFLICT=conflict-30008:
    of two overlapping imports for alice one gets 30008 and its friend is not stored; a retry succeeds."""
    api = make_api(behaviour={"FI-WRITE-CONFLICT": "conflict-30008"}, write_hold_seconds=0.05)
    api.accounts("alice", "bob", "carol")
    first, second = _overlapping_imports(api)
    assert sorted([first["ErrorCode"], second["ErrorCode"]]) == [0, 30008]
    winner, loser = ("bob", "carol") if first["ErrorCode"] == 0 else ("carol", "bob")
    assert api.stored("alice", winner) is not None and api.stored("alice", loser) is None
    assert codes(api.imp("alice", item(loser))) == [0]
    # Writes for different users never conflict.
    results = api.gather(("friend_import", {"From_Account": "bob", "AddFriendItem": [item("alice")]}),
                         ("friend_import", {"From_Account": "carol", "AddFriendItem": [item("alice")]}))
    assert [r.json()["ErrorCode"] for r in results] == [0, 0]


def test_default_profile_serialises_concurrent_writes_FI_WRITE_CONFLICT(spec, make_api):
    """FI-WRITE-CONFLICT default serialised: overlapping imports for one user are both applied."""
    api = make_api(write_hold_seconds=0.05)
    api.accounts("alice", "bob", "carol")
    assert [b["ErrorCode"] for b in _overlapping_imports(api)] == [0, 0]


def test_30010_friend_limit_3000_FI_FRIEND_LIMIT_3000(spec, make_api):
    """30010 by its documented trigger: alice gets 2999 friends (1000 + 1000 + 999 items), then a batch whose
    first item is her 3000th friend (0) and whose second would be the 3001st (per-item 30010, not stored);
    once she has 3000, a further import alone also gets 30010."""
    api = make_api()
    friends = [f"f{i}" for i in range(3002)]
    api.accounts("alice", *friends)
    for start, stop in ((0, 1000), (1000, 2000), (2000, 2999)):
        body = api.imp("alice", *(item(f) for f in friends[start:stop]))
        assert codes(body) == [0] * (stop - start) and "Fail_Account" not in body
    body = api.imp("alice", item("f2999"), item("f3000"))
    assert_ok_shape(spec, body, ["f2999", "f3000"])
    assert codes(body) == [0, 30010]
    assert body["ResultItem"][1]["ResultInfo"] == "Err_SNS_FriendImport_My_Friend_Num_Exceed_Threshold"
    assert api.stored("alice", "f2999") is not None and api.stored("alice", "f3000") is None
    assert codes(api.imp("alice", item("f3001"))) == [30010]
    assert len(api.emu.app_state.friends["alice"]) == 3000


def test_30011_friend_list_limit_32_FI_FRIEND_LIST_LIMIT_32(spec, make_api):
    """30011 by its documented trigger: 32 distinct GroupName values across alice's friends are fine; an item
    creating the 33rd list fails per item, while an item reusing existing lists in the same batch succeeds."""
    api = make_api()
    people = [f"p{i}" for i in range(36)]
    api.accounts("alice", *people)
    body = api.imp("alice", *(item(p, GroupName=[f"L{i}"]) for i, p in enumerate(people[:32])))
    assert codes(body) == [0] * 32
    body = api.imp("alice", item("p32", GroupName=["L32"]), item("p33", GroupName=["L0", "L31"]),
                   item("p34", GroupName=["L5", "L33"]))
    assert_ok_shape(spec, body, ["p32", "p33", "p34"])
    assert codes(body) == [30011, 0, 30011]
    assert api.stored("alice", "p32") is None
    assert sorted(api.stored("alice", "p33")["Tag_SNS_IM_Group"]) == ["L0", "L31"]
    # 33 distinct lists inside one item fail that item as well.
    assert codes(api.imp("alice", item("p35", GroupName=[f"M{i}" for i in range(33)]))) == [30011]


# ---------------------------------------------------------------- 3. semantics


def test_import_is_one_way_FI_ONE_WAY(api):
    """FI-ONE-WAY: after alice imports bob, friend_check Both gives AWithB from alice, BWithA from bob, and bob's
    table does not hold alice."""
    assert codes(api.imp("alice", item("bob"))) == [0]
    assert api.relation("alice", "bob") == "CheckResult_Type_AWithB"
    assert api.relation("bob", "alice") == "CheckResult_Type_BWithA"
    assert api.stored("bob", "alice") is None
    assert codes(api.imp("bob", item("alice"))) == [0]
    assert api.relation("alice", "bob") == "CheckResult_Type_BothWay"


def test_round_trip_of_every_field_FI_ROUND_TRIP(api):
    """FI-ROUND-TRIP, OPEN-ADDTIME-READBACK (verbatim), OPEN-CUSTOM-VALUE-INTEGER (accepted): every imported
    field reads back through friend_get_list."""
    fields = dict(Remark="rémark", RemarkTime=1420000001, GroupName=["Friends", "Colleagues"],
                  AddSource="AddSource_Type_XXXXXXXX", AddWording="I'm Test1", AddTime=1420000002,
                  CustomItem=[{"Tag": "Tag_SNS_Custom_XXXX", "Value": "Test"},
                              {"Tag": "Tag_SNS_Custom_YYYY", "Value": 0}])
    assert codes(api.imp("alice", {"To_Account": "bob", **fields})) == [0]
    stored = api.stored("alice", "bob")
    assert sorted(stored.pop("Tag_SNS_IM_Group")) == ["Colleagues", "Friends"]
    assert stored == {"Tag_SNS_IM_AddSource": "AddSource_Type_XXXXXXXX", "Tag_SNS_IM_Remark": "rémark",
                      "Tag_SNS_IM_AddWording": "I'm Test1", "Tag_SNS_IM_AddTime": 1420000002,
                      "Tag_SNS_Custom_XXXX": "Test", "Tag_SNS_Custom_YYYY": 0}


def test_partial_success_order_and_fail_account_FI_PARTIAL_SUCCESS(spec, api):
    """FI-PARTIAL-SUCCESS, FI-RESULTITEM-ORDER, FI-FAIL-ACCOUNT-CONTENT: mixed results keep request order,
    Fail_Account is exactly the failed accounts, and only the successful items are stored."""
    body = api.imp("alice", item("bob"), item("ghost"), item("carol", Remark="x" * 97), item("dave"))
    assert_ok_shape(spec, body, ["bob", "ghost", "carol", "dave"])
    assert codes(body) == [0, 30003, 30001, 0]
    assert body["Fail_Account"] == ["ghost", "carol"]
    assert [api.stored("alice", a) is not None for a in ("bob", "carol", "dave")] == [True, False, True]


def test_1001_items_refused_whole_nothing_stored_FI_LIMIT_BATCH_1000(spec, make_api):
    """FI-LIMIT-BATCH-1000, OPEN-BATCH-OVERSIZE-CODE (default request-30001): 1001 valid items are refused as a
    whole and none is stored; exactly 1000 all succeed."""
    api = make_api()
    friends = [f"f{i}" for i in range(1001)]
    api.accounts("alice", *friends)
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item(f) for f in friends]})
    assert_fail(spec, status, body, 30001)
    assert "alice" not in api.emu.app_state.friends or not api.emu.app_state.friends["alice"]
    assert api.stored("alice", "f0") is None
    body = api.imp("alice", *(item(f) for f in friends[:1000]))
    assert_ok_shape(spec, body, friends[:1000])
    assert codes(body) == [0] * 1000


def test_batch_validated_before_any_write_FI_FIELD_TYPES(spec, api):
    """FI-FIELD-TYPES, FI-ACCOUNT-TYPE-60015: a malformed item (not an object; a To_Account that is not a string)
    late in the batch refuses the request before the valid earlier items are written."""
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob"), "carol"]})
    assert_fail(spec, status, body, 30001)
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob"),
                                                                                    item("carol") | {"To_Account": 7}]})
    assert_fail(spec, status, body, 60015)
    assert api.stored("alice", "bob") is None


@pytest.mark.parametrize("rule, good, bad", [
    ("FI-LIMIT-REMARK-BYTES", {"Remark": "é" * 48}, {"Remark": "é" * 48 + "a"}),
    ("FI-LIMIT-GROUPNAME-BYTES", {"GroupName": ["é" * 15]}, {"GroupName": ["é" * 15 + "a"]}),
    ("FI-LIMIT-ADDWORDING-BYTES", {"AddWording": "é" * 128}, {"AddWording": "é" * 128 + "a"}),
    ("FI-LIMIT-CUSTOM-VALUE-BYTES", {"CustomItem": [{"Tag": TAGS[0], "Value": "é" * 250}]},
     {"CustomItem": [{"Tag": TAGS[0], "Value": "é" * 250 + "a"}]}),
])
def test_byte_limits_count_utf8_bytes(spec, api, rule, good, bad):
    """The named rule: a value at the limit in UTF-8 bytes (fewer characters) is stored unchanged; one byte more
    fails its item with 30001."""
    body = api.imp("alice", item("bob", **good), item("carol", **bad))
    assert_ok_shape(spec, body, ["bob", "carol"])
    assert codes(body) == [0, 30001]
    stored = api.stored("alice", "bob")
    ((key, value),) = good.items()
    readback = {"Remark": "Tag_SNS_IM_Remark", "GroupName": "Tag_SNS_IM_Group",
                "AddWording": "Tag_SNS_IM_AddWording"}
    if key == "CustomItem":
        assert stored[TAGS[0]] == value[0]["Value"]
    else:
        assert stored[readback[key]] == value
    assert api.stored("alice", "carol") is None


def test_to_account_over_32_bytes_FI_LIMIT_USERID_BYTES(spec, api):
    """FI-LIMIT-USERID-BYTES: a 33-byte To_Account fails its item (30001); a 32-byte account can be imported and
    befriended, and account_import refuses a 33-byte one."""
    api.accounts("u" * 32)
    body = api.imp("alice", item("u" * 33), item("u" * 32))
    assert_ok_shape(spec, body, ["u" * 33, "u" * 32])
    assert codes(body)[0] in (30001, 30003) and codes(body)[1] == 0
    for account_body in ({"UserID": "é" * 16 + "a"}, {"UserID": ""}):
        status, body = api("account_import", account_body)
        assert (status, body["ActionStatus"], body["ErrorCode"]) == (200, "FAIL", 70402)
    status, body = api("multiaccount_import", {"Accounts": ["fine", "u" * 33]})
    assert (status, body["ErrorCode"]) == (200, 70402)
    status, body = api("account_check", {"CheckItem": [{"UserID": "fine"}]})
    assert body["ResultItem"][0]["AccountStatus"] == "NotImported"


def test_to_account_with_lone_surrogate_fails_its_item_FI_LIMIT_USERID_BYTES(spec, api):
    """FI-LIMIT-USERID-BYTES, FI-TRANSIENT-CODES: a To_Account that is no UTF-8 string cannot name an account;
    it fails its item (30001/30003) inside an OK answer, never as the transient 30006."""
    raw = b'{"From_Account":"alice","AddFriendItem":[{"To_Account":"\\ud800","AddSource":"AddSource_Type_A"},' \
          b'{"To_Account":"bob","AddSource":"AddSource_Type_A"}]}'
    response = api.raw("friend_import", content=raw)
    body = response.json()
    assert (response.status_code, body["ErrorCode"]) == (200, 0), body
    assert codes(body)[0] in (30001, 30003) and codes(body)[1] == 0


def test_remark_with_lone_surrogate_fails_its_item_FI_LIMIT_REMARK_BYTES(spec, api):
    """FI-LIMIT-REMARK-BYTES: a Remark with a lone surrogate has no UTF-8 form and fails its item with 30001."""
    raw = b'{"From_Account":"alice","AddFriendItem":[{"To_Account":"bob","AddSource":"AddSource_Type_A",' \
          b'"Remark":"\\ud800"}]}'
    response = api.raw("friend_import", content=raw)
    assert response.status_code == 200 and codes(response.json()) == [30001]


@pytest.mark.parametrize("source, ok", [
    ("AddSource_Type_A", True), ("AddSource_Type_ABCDEFGH", True), ("AddSource_Type_abcdXYZw", True),
    ("AddSource_Type_ABCDEFGHI", False), ("AddSource_Type_", False), ("AddSource_Type_Web1", False),
    ("AddSource_Type_We_b", False), ("Web", False), ("addsource_type_Web", False), ("", False),
])
def test_addsource_form_FI_LIMIT_ADDSOURCE_FORM(api, source, ok):
    """FI-LIMIT-ADDSOURCE-FORM: AddSource_Type_ followed by 1..8 ASCII letters only; an accepted one reads back."""
    body = api.imp("alice", {"To_Account": "bob", "AddSource": source})
    assert codes(body) == [0 if ok else 30001]
    if ok:
        assert api.stored("alice", "bob")["Tag_SNS_IM_AddSource"] == source


def test_missing_addsource_FI_REQUIRED_FIELDS(api):
    """FI-REQUIRED-FIELDS: an item without AddSource fails with 30001."""
    assert codes(api.imp("alice", {"To_Account": "bob"})) == [30001]


def test_empty_group_name_FI_LIMIT_GROUPNAME_NONEMPTY(api):
    """FI-LIMIT-GROUPNAME-NONEMPTY: GroupName [""] fails its item; GroupName [] means no group and succeeds."""
    assert codes(api.imp("alice", item("bob", GroupName=[""]), item("carol", GroupName=[]))) == [30001, 0]
    assert "Tag_SNS_IM_Group" not in api.stored("alice", "carol")


def test_unknown_custom_tag_per_item_30001_FI_LIMIT_CUSTOM_TAG_CONFIGURED(spec, api):
    """FI-LIMIT-CUSTOM-TAG-CONFIGURED default per-item-30001, FI-LIMIT-CUSTOM-TAG-FORM: an unconfigured or
    malformed tag fails its item; the configured tags in another item are stored."""
    body = api.imp("alice", item("bob", CustomItem=[{"Tag": "Tag_SNS_Custom_ZZZZ", "Value": "v"}]),
                   item("carol", CustomItem=[{"Tag": "Tag_SNS_1300000000_XXXX", "Value": "v"}]),
                   item("dave", CustomItem=[{"Tag": TAGS[1], "Value": "v"}]))
    assert_ok_shape(spec, body, ["bob", "carol", "dave"])
    assert codes(body) == [30001, 30001, 0]
    assert api.stored("alice", "dave")[TAGS[1]] == "v"


def test_repeated_group_name_is_one_membership_FI_ROUND_TRIP(api):
    """FI-ROUND-TRIP (GroupName as a set), FI-FRIEND-LIST-LIMIT-32: a name repeated in one GroupName reads back
    once and counts as one list."""
    assert codes(api.imp("alice", item("bob", GroupName=["X", "Y", "X"]))) == [0]
    assert sorted(api.stored("alice", "bob")["Tag_SNS_IM_Group"]) == ["X", "Y"]
    assert api.emu.app_state.lists["alice"] == {"X": 1, "Y": 1}


def test_an_optional_field_sent_as_null_fails_its_item_FI_FIELD_TYPES(spec, api):
    """FI-FIELD-TYPES: JSON null is of no documented type. An item with "RemarkTime": null (or a null Remark)
    fails with 30001, as the request schema says, instead of passing for an item without the field."""
    body = api.imp("alice", item("bob", RemarkTime=None), item("carol", Remark=None), item("bob", Remark="ok"))
    assert codes(body) == [30001, 30001, 0]
    assert api.stored("alice", "carol") is None
