"""Fault plans and the control plane, the companion operations, preloading and reset, through HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.test_emulator_api import Api, assert_fail, assert_ok_shape, codes, item, make_api  # noqa: F401
from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.preload import PreloadError


@pytest.fixture
def api(make_api) -> Api:
    made = make_api()
    made.accounts("alice", "bob", "carol", "dave")
    return made


def imp_bob(api: Api) -> httpx.Response:
    return api.raw("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob")]})


# ---------------------------------------------------------------- 7. fault plan


def test_fault_by_call_count_hits_only_that_call(spec, api):
    """Fault plan, calls [2]: only friend_import's 2nd call (counted from installation) gets 30006; other
    operations do not advance friend_import's count."""
    api.emu.install_faults([{"operation": "friend_import", "calls": [2], "action": "code", "code": 30006}])
    results = []
    for to in ("bob", "carol", "dave"):
        api.stored("alice", "bob")  # a friend_get_list call in between
        results.append(api("friend_import", {"From_Account": "alice", "AddFriendItem": [item(to)]})[1])
    assert [r["ErrorCode"] for r in results] == [0, 30006, 0]
    assert_fail(spec, 200, results[1], 30006)
    assert api.stored("alice", "carol") is None
    assert api.emu.faults.counts()["friend_import"] == 3


def test_fault_item_level_only_listed_items_FI_PARTIAL_SUCCESS(spec, api):
    """Fault plan, item level with items [0, 2]: exactly those items fail with the code and are not stored; an
    item that already failed keeps its own code."""
    api.emu.install_faults([{"action": "code", "code": 30007, "level": "item", "items": [0, 2]}])
    body = api.imp("alice", item("bob"), item("carol"), item("dave"), item("ghost"))
    assert_ok_shape(spec, body, ["bob", "carol", "dave", "ghost"])
    assert codes(body) == [30007, 0, 30007, 30003]
    assert body["Fail_Account"] == ["bob", "dave", "ghost"]
    assert [api.stored("alice", a) is not None for a in ("bob", "carol", "dave")] == [False, True, False]


def test_fault_http_502_non_json_FI_HTTP_200(api):
    """Fault plan, http: HTTP 502 with a plain-text body (the one documented non-200), nothing stored."""
    api.emu.install_faults([{"action": "http", "status": 502, "calls": [1]}])
    response = imp_bob(api)
    assert response.status_code == 502
    with pytest.raises(ValueError):
        response.json()
    assert api.stored("alice", "bob") is None
    assert imp_bob(api).status_code == 200


def test_fault_non_json_200(api):
    """Fault plan, non-json: HTTP 200 whose body is not JSON."""
    api.emu.install_faults([{"action": "non-json", "body": "<html>oops</html>"}])
    response = imp_bob(api)
    assert response.status_code == 200 and response.text == "<html>oops</html>"
    with pytest.raises(ValueError):
        response.json()


def test_fault_delay(api):
    """Fault plan, delay 0.05 s: the call takes at least that long and is then handled normally."""
    api.emu.install_faults([{"action": "delay", "seconds": 0.05}])
    started = time.perf_counter()
    response = imp_bob(api)
    assert time.perf_counter() - started >= 0.05
    assert response.json()["ErrorCode"] == 0 and api.stored("alice", "bob") is not None


def test_fault_old_shape_CL_TOLERATE_OLD_SHAPE(spec, api):
    """Fault plan, old-shape: Fail_Account [] present even on success, and Invalid_Account lists the users whose
    SDKAppID does not match (30002), apart from Fail_Account, as the older page's sample shows (real-evidence.md);
    the schema (which tolerates extra fields) still accepts it."""
    api.emu.install_faults([{"action": "old-shape"}])
    body = api.imp("alice", item("bob"))
    assert (body["Fail_Account"], body["Invalid_Account"], codes(body)) == ([], [], [0])
    body = api.imp("alice", item("ghost"), item("carol"))
    assert body["Fail_Account"] == ["ghost"] and body["Invalid_Account"] == []
    assert list(spec.validator("friend_import.response.json").iter_errors(body)) == []
    api.emu.install_faults([{"action": "old-shape"},
                            {"action": "code", "code": 30002, "level": "item", "items": [1]}])
    body = api.imp("alice", item("ghost"), item("dave"))
    assert codes(body) == [30003, 30002]
    assert body["Fail_Account"] == ["ghost"] and body["Invalid_Account"] == ["dave"]


def test_control_plane_installs_plan_and_shows_counts(api):
    """PUT /_timconform/faults installs a plan; GET shows it and the call counts; DELETE removes it."""
    response = api.control("PUT", "faults", {"faults": [{"calls": [1], "action": "code", "code": 30006}]})
    assert response.status_code == 200
    assert imp_bob(api).json()["ErrorCode"] == 30006
    assert imp_bob(api).json()["ErrorCode"] == 0
    shown = api.control("GET", "faults").json()
    assert shown["calls"] == {"friend_import": 2}
    assert shown["faults"] == [{"action": "code", "operation": "friend_import", "calls": [1], "code": 30006,
                                "level": "request"}]
    assert api.control("DELETE", "faults").status_code == 200
    assert api.control("GET", "faults").json() == {"faults": [], "calls": {}}


@pytest.mark.parametrize("plan, words", [
    ([{"action": "explode"}], "action"),
    ([{"action": "code", "code": 12345}], "code=12345"),
    ([{"action": "code", "code": 30006, "calls": [0]}], "calls"),
    ([{"action": "http", "status": 200}], "status"),
    ([{"action": "delay", "seconds": -1}], "seconds"),
    ([{"action": "code", "code": 30006, "level": "item", "items": [-1]}], "items"),
    ([{"action": "code", "code": 30006, "operation": "friend_add"}], "operation"),
    ([{"action": "code", "code": 30006, "colour": "red"}], "colour"),
    ("not a plan", "list of faults"),
])
def test_control_plane_bad_plan_is_400(api, plan, words):
    """A plan that cannot be applied gets HTTP 400 with a message naming the problem; the old plan stays."""
    response = api.control("PUT", "faults", plan)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert api.control("GET", "faults").json()["faults"] == []


def test_control_plane_bad_json_is_400(api):
    response = api.control("PUT", "faults", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]


def test_control_plane_refuses_non_loopback_client(spec, make_api):
    """The control plane answers 403 to a client at 10.1.2.3 and does not act; the REST API still answers it."""
    remote = make_api(client=("10.1.2.3", 5000))
    for method, action, body in (("PUT", "faults", [{"action": "code", "code": 30006}]), ("GET", "faults", None),
                                 ("POST", "reset", None), ("GET", "health", None)):
        response = remote.control(method, action, body)
        assert response.status_code == 403 and "loopback" in response.json()["error"]
    assert remote.emu.faults.faults == ()
    remote.accounts("alice", "bob")
    assert codes(remote.imp("alice", item("bob"))) == [0]


def test_control_reset_endpoint(api):
    """POST /_timconform/reset forgets accounts and friendships."""
    assert codes(api.imp("alice", item("bob"))) == [0]
    assert api.control("POST", "reset").status_code == 200
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob")]})
    assert body["ErrorCode"] == 30003


# ---------------------------------------------------------------- 6. companion operations


def check(api: Api, *users: str) -> list[str]:
    status, body = api("account_check", {"CheckItem": [{"UserID": u} for u in users]})
    assert (status, body["ErrorCode"]) == (200, 0)
    assert [r["UserID"] for r in body["ResultItem"]] == list(users)
    return [r["AccountStatus"] for r in body["ResultItem"]]


def test_account_import_idempotent_SUPPORT_ACCOUNT_IMPORT_IDEMPOTENT(api):
    """SUPPORT-ACCOUNT-IMPORT-IDEMPOTENT, SUPPORT-ACCOUNT-IMPORT-KEY: importing an existing account (UserID or the
    older Identifier key) succeeds, leaves one account, and keeps its friends."""
    assert codes(api.imp("alice", item("bob"))) == [0]
    for body in ({"UserID": "alice"}, {"Identifier": "alice"}, {"UserID": "alice", "Nick": "Al"}):
        status, answer = api("account_import", body)
        assert (status, answer) == (200, {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})
    assert api.relation("alice", "bob") == "CheckResult_Type_AWithB"
    assert list(api.emu.app_state.accounts).count("alice") == 1


def test_account_check_SUPPORT_ACCOUNT_CHECK_STATUS(spec, api):
    """SUPPORT-ACCOUNT-CHECK-STATUS: Imported / NotImported per UserID, in request order."""
    assert check(api, "alice", "ghost", "bob") == ["Imported", "NotImported", "Imported"]
    status, body = api("account_check", {"CheckItem": [{"UserID": "alice"}]})
    assert list(spec.validator("support/account_check.response.json").iter_errors(body)) == []


def test_account_delete_pro_edition_71000_SUPPORT_ACCOUNT_DELETE_FREE_TRIAL(api):
    """SUPPORT-ACCOUNT-DELETE-FREE-TRIAL on the default pro edition: 71000, the account stays; a missing account
    gets 70107 Err_TLS_PT_Open_Login_Account_Not_Exist per item (SUPPORT-ACCOUNT-DELETE-MISSING)."""
    status, body = api("account_delete", {"DeleteItem": [{"UserID": "alice"}, {"UserID": "ghost"}]})
    assert status == 200
    results = {r["UserID"]: (r["ResultCode"], r["ResultInfo"]) for r in body.get("ResultItem", [])}
    assert body["ErrorCode"] == 71000 or results["alice"][0] == 71000
    assert results.get("ghost", (70107, "Err_TLS_PT_Open_Login_Account_Not_Exist")) == \
        (70107, "Err_TLS_PT_Open_Login_Account_Not_Exist")
    assert check(api, "alice") == ["Imported"]


def test_account_delete_free_trial_cascades_SUPPORT_ACCOUNT_DELETE_CASCADE(spec, make_api):
    """SUPPORT-ACCOUNT-DELETE-CASCADE on free-trial: deleting bob removes him from alice's table, and a deleted,
    re-imported alice starts with no friends; a missing account gets 70107 per item."""
    api = make_api(edition="free-trial")
    api.accounts("alice", "bob", "carol")
    assert codes(api.imp("alice", item("bob"), item("carol"))) == [0, 0]
    status, body = api("account_delete", {"DeleteItem": [{"UserID": "bob"}, {"UserID": "ghost"}]})
    assert (status, body["ErrorCode"]) == (200, 0)
    assert list(spec.validator("support/account_delete.response.json").iter_errors(body)) == []
    assert [(r["UserID"], r["ResultCode"]) for r in body["ResultItem"]] == [("bob", 0), ("ghost", 70107)]
    assert check(api, "bob") == ["NotImported"]
    assert api.stored("alice", "bob") is None and api.stored("alice", "carol") is not None
    assert api("account_delete", {"DeleteItem": [{"UserID": "alice"}]})[1]["ErrorCode"] == 0
    api.accounts("alice", "bob")
    assert api.stored("alice", "carol") is None and api.relation("alice", "bob") == "CheckResult_Type_NoRelation"


def test_free_trial_caps_accounts_at_100_SUPPORT_FREE_TRIAL_ACCOUNTS(make_api):
    """SUPPORT-FREE-TRIAL-ACCOUNTS: a free-trial app holds 100 accounts (its admin counts); the next account_import
    gets 70398, while re-importing an existing account still succeeds."""
    api = make_api(edition="free-trial")
    answers = [api("account_import", {"UserID": f"u{i}"})[1]["ErrorCode"] for i in range(101)]
    admins = len(api.emu.config.admins)
    assert answers == [0] * (100 - admins) + [70398] * (1 + admins)
    assert len(api.emu.app_state.accounts) == 100
    assert api("account_import", {"UserID": "u0"})[1]["ErrorCode"] == 0


def test_free_trial_cap_multiaccount_import_SUPPORT_FREE_TRIAL_ACCOUNTS(make_api):
    """SUPPORT-FREE-TRIAL-ACCOUNTS: multiaccount_import past the cap is refused with 70398 (request level, as
    error-codes.json catalogues it) and imports nothing of that call."""
    api = make_api(edition="free-trial")
    api.accounts(*(f"u{i}" for i in range(90)))
    status, body = api("multiaccount_import", {"Accounts": [f"v{i}" for i in range(20)]})
    assert (status, body["ActionStatus"], body["ErrorCode"]) == (200, "FAIL", 70398)
    assert check(api, "v0") == ["NotImported"]
    status, body = api("multiaccount_import", {"Accounts": ["u0", *(f"v{i}" for i in range(100 - 91))]})
    assert (body["ErrorCode"], body.get("FailAccounts")) == (0, None)
    assert len(api.emu.app_state.accounts) == 100


def test_friend_delete_non_friend_31704_SUPPORT_FRIEND_DELETE_NOT_FRIEND(spec, api):
    """SUPPORT-FRIEND-DELETE-NOT-FRIEND: deleting a non-friend reports 31704 per item; a friend is deleted."""
    assert codes(api.imp("alice", item("bob"))) == [0]
    status, body = api("friend_delete", {"From_Account": "alice", "To_Account": ["bob", "carol"]})
    assert (status, body["ErrorCode"]) == (200, 0)
    assert list(spec.validator("support/friend_delete.response.json").iter_errors(body)) == []
    assert [(r["To_Account"], r["ResultCode"]) for r in body["ResultItem"]] == [("bob", 0), ("carol", 31704)]
    assert api.stored("alice", "bob") is None


def test_friend_get_list_non_friend_SUPPORT_FRIEND_GET_LIST_NOT_FRIEND(spec, api):
    """SUPPORT-FRIEND-GET-LIST-NOT-FRIEND: 30001 Err_SNS_FriendGetList_Friend_Not_Exist per item, in Fail_Account."""
    assert codes(api.imp("alice", item("bob"))) == [0]
    status, body = api("friend_get_list", {"From_Account": "alice", "To_Account": ["carol", "bob"],
                                           "TagList": ["Tag_SNS_IM_AddSource"]})
    assert (status, body["ErrorCode"]) == (200, 0)
    assert list(spec.validator("support/friend_get_list.response.json").iter_errors(body)) == []
    carol, bob = body["InfoItem"]
    assert (carol["ResultCode"], carol["ResultInfo"]) == (30001, "Err_SNS_FriendGetList_Friend_Not_Exist")
    assert body["Fail_Account"] == ["carol"]
    assert bob["SnsProfileItem"] == [{"Tag": "Tag_SNS_IM_AddSource", "Value": "AddSource_Type_Web"}]


@pytest.mark.parametrize("op, body, code", [
    ("multiaccount_import", {"Accounts": [f"n{i}" for i in range(101)]}, 70206),
    ("account_check", {"CheckItem": [{"UserID": f"n{i}"} for i in range(101)]}, 70206),
    ("account_delete", {"DeleteItem": [{"UserID": f"n{i}"} for i in range(101)]}, 70206),
    ("friend_check", {"From_Account": "alice", "To_Account": [f"n{i}" for i in range(1001)],
                      "CheckType": "CheckResult_Type_Both"}, 30001),
    ("friend_delete", {"From_Account": "alice", "To_Account": ["bob"] * 1001}, 30001),
    ("multiaccount_import", {"Accounts": []}, 70402),
])
def test_companion_batch_limits_SUPPORT_BATCH_LIMITS(api, op, body, code):
    """SUPPORT-BATCH-LIMITS: a batch over its documented size (100 for the account operations, 1000 for
    friend_check/friend_delete) is refused as a whole with the rule's code for its family, and does nothing."""
    assert codes(api.imp("alice", item("bob"))) == [0]
    status, answer = api(op, body)
    assert (status, answer["ActionStatus"], answer["ErrorCode"]) == (200, "FAIL", code)
    assert "ResultItem" not in answer and "InfoItem" not in answer
    assert check(api, "n0") == ["NotImported"] and api.stored("alice", "bob") is not None
    limit = {"multiaccount_import": 100, "account_check": 100, "account_delete": 100,
             "friend_check": 1000, "friend_delete": 1000}[op]
    if op in ("multiaccount_import", "account_check", "friend_check") and code != 70402:
        key = "Accounts" if op == "multiaccount_import" else "CheckItem" if op == "account_check" else "To_Account"
        assert api(op, {**body, key: body[key][:limit]})[1]["ErrorCode"] == 0


# ---------------------------------------------------------------- 9. preload and reset


PRELOAD = """\
accounts: [alice, bob, carol]
friends:
  alice:
    - {To_Account: bob, AddSource: AddSource_Type_Web, GroupName: [Team], Remark: Bobby}
"""


def test_preload_and_reset(tmp_path, make_api):
    """A preload file's accounts and friendships are there at start; reset() forgets everything added since
    and re-applies the preload."""
    path = tmp_path / "accounts.yaml"
    path.write_text(PRELOAD, encoding="utf-8")
    api = make_api(accounts=path)
    assert api.stored("alice", "bob")["Tag_SNS_IM_Remark"] == "Bobby"
    api.accounts("dave")
    assert codes(api.imp("alice", item("carol"), item("dave"))) == [0, 0]
    assert codes(api.imp("bob", item("alice"))) == [0]
    api.emu.reset()
    assert check(api, "alice", "bob", "carol", "dave") == ["Imported", "Imported", "Imported", "NotImported"]
    assert api.stored("alice", "carol") is None and api.stored("bob", "alice") is None
    assert api.stored("alice", "bob")["Tag_SNS_IM_Group"] == ["Team"]


@pytest.mark.parametrize("friends, named", [
    ("  alice:\n    - {To_Account: zed, AddSource: AddSource_Type_Web}\n", "zed"),
    ("  alice:\n    - {To_Account: bob, AddSource: Web}\n", "bob"),
    ("  ghost:\n    - {To_Account: bob, AddSource: AddSource_Type_Web}\n", "ghost"),
])
def test_preload_invalid_friendship_raises(tmp_path, spec, friends, named):
    """A preload file holding a friendship the API could not have produced raises PreloadError naming it."""
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts: [alice, bob]\nfriends:\n" + friends, encoding="utf-8")
    with pytest.raises(PreloadError, match=repr(named)):
        Emulator(EmulatorConfig(accounts=path, custom_tags=()), spec=spec)


@pytest.mark.parametrize("content, config, named", [
    ("accounts: [alice, {long}]\n", {}, "{long}"),
    ("accounts: [{many}]\n", {"edition": "free-trial"}, "u99"),
])
def test_preload_invalid_accounts_raise(tmp_path, spec, content, config, named):
    """A preload account that account_import would refuse (over 32 bytes; past the Free Trial cap of 100, the
    admin included) raises PreloadError naming it."""
    long = "é" * 16 + "a"
    many = ", ".join(f"u{i}" for i in range(100))
    path = tmp_path / "accounts.yaml"
    path.write_text(content.format(long=long, many=many), encoding="utf-8")
    with pytest.raises(PreloadError, match=repr(named.format(long=long))):
        Emulator(EmulatorConfig(accounts=path, **config), spec=spec)


# -- the control plane's guard (issue 15, point 1) -----------------------------------------------------------

def _state_status(api, **headers) -> int:
    return api.control("GET", "state", headers=headers).status_code


def test_the_control_plane_needs_the_start_token(spec) -> None:
    api = Api(spec)
    try:
        assert _state_status(api) == 200
        assert _state_status(api, Authorization="Bearer wrong") == 403
        assert api.run(api.client.get("/_timconform/state", headers={"Host": "127.0.0.1"})).status_code == 403
        assert _state_status(api, Authorization="", **{"X-Timconform-Token": api.emu.control_token}) == 200
    finally:
        api.close()


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_a_forwarded_request_is_refused_even_when_it_claims_loopback(spec, header: str) -> None:
    """With FORWARDED_ALLOW_IPS=* uvicorn used to let `X-Forwarded-For: 127.0.0.1` make any peer loopback."""
    for peer in ("203.0.113.7", "127.0.0.1"):
        api = Api(spec, client=(peer, 4000))
        try:
            value = "for=127.0.0.1" if header == "Forwarded" else "127.0.0.1"
            assert _state_status(api, **{header: value}) == 403
        finally:
            api.close()


def test_a_remote_peer_is_refused_and_an_ipv4_mapped_loopback_peer_is_not(spec) -> None:
    for peer, status in (("203.0.113.7", 403), ("::ffff:127.0.0.1", 200), ("::1", 200)):
        api = Api(spec, client=(peer, 4000))
        try:
            assert _state_status(api) == status, peer
        finally:
            api.close()


@pytest.mark.parametrize("headers", [{"Host": "attacker.example"}, {"Host": "attacker.example:8080"},
                                     {"Origin": "https://attacker.example"}, {"Origin": "null"}])
def test_dns_rebinding_and_cross_site_requests_are_refused(spec, headers: dict) -> None:
    api = Api(spec)
    try:
        assert _state_status(api, **headers) == 403
        reset = api.control("POST", "reset", headers=headers)
        assert reset.status_code == 403
    finally:
        api.close()


def test_a_control_body_that_is_not_json_typed_is_refused_and_changes_nothing(spec) -> None:
    """A web page can POST text/plain without a CORS preflight; the plan it carries is never installed."""
    api = Api(spec)
    try:
        plan = b'[{"action": "code", "code": 30006, "calls": [1]}]'
        response = api.control("PUT", "faults", content=plan, headers={"Content-Type": "text/plain"})
        assert response.status_code == 415
        assert api.control("GET", "faults").json()["faults"] == []
    finally:
        api.close()

