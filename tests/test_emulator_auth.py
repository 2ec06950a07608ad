"""Gateway checks through the HTTP API: UserSig authentication with real sigs, and the rate limits.

Time never passes by sleeping: the UserSig clock (EmulatorConfig.clock) and the rate-limit window's clock
(EmulatorConfig.monotonic) are injected and moved by the tests.
"""

from __future__ import annotations

import pytest

from tests.test_emulator_api import Clock, assert_fail, codes, item, make_api  # noqa: F401
from timconform import usersig
from timconform.emulator import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY

T0 = 1_764_000_000
# clients.md §4: the same sig (TLS.time 1764000000, expire 86400) from the npm and the PyPI generator.
NODE_VECTOR = ("eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5mcUlRYkl*UVQBcUp2YkFBZkpSlaGJgZQAJEpycxNVbIyNDczQRZNrSjILEp"
               "VsrIACUONyExXslIqCnD080xy94rIdzHILTQ3KwsK9vIOLg5KyzF3NUjxSHSv9PdJT6v0tSywsFWqBQCwWTP2")
PYTHON_VECTOR = ("eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-Myi0uKEkvyi2BKilOyEwsKMlOACgxNDKAAKpdaUZBZlAqUsTAzgQuWZ"
                 "OaChAzNzUxQFBdnpoMsKQpw9PNMcveKyHcxyC00NysLCvbyDi4OSssxdzVI8Uh0r-T3SU*r9LUssLBVqgUAQKw1Vg__")
BODY = {"From_Account": "alice", "AddFriendItem": [item("bob")]}


@pytest.fixture
def clocked(make_api):
    clock = Clock(T0)
    api = make_api(clock=clock)
    api.accounts("alice", "bob")
    return api, clock


def other_sig(**overrides) -> str:
    args = dict(sdkappid=DEMO_SDKAPPID, identifier=DEMO_ADMIN, secret_key=DEMO_SECRET_KEY, expire=86400, now=T0)
    args.update(overrides)
    return usersig.generate(args.pop("sdkappid"), args.pop("identifier"), args.pop("secret_key"), **args)


@pytest.mark.parametrize("rule, code, query", [
    ("FI-AUTH-USERSIG-EMPTY", 70002, {"usersig": ""}),
    ("FI-AUTH-USERSIG-MALFORMED", 70003, {"usersig": "not-a-usersig"}),
    ("FI-AUTH-USERSIG-MALFORMED", 70003, {"usersig": PYTHON_VECTOR[:60]}),
    ("FI-AUTH-USERSIG-SDKAPPID-MISMATCH", 70014, {"usersig": other_sig(sdkappid=DEMO_SDKAPPID + 1)}),
    ("FI-AUTH-USERSIG-IDENTIFIER-MISMATCH", 70013, {"usersig": other_sig(identifier="alice")}),
    ("FI-AUTH-USERSIG-WRONG-KEY", 70009, {"usersig": other_sig(secret_key="another app's key")}),
    ("FI-AUTH-SDKAPPID-UNKNOWN", 70032, {"sdkappid": DEMO_SDKAPPID + 1,
                                         "usersig": other_sig(sdkappid=DEMO_SDKAPPID + 1)}),
])
def test_bad_usersig_refused_with_rule_default(spec, clocked, rule, code, query):
    """The FI-AUTH-* rule's default outcome code, request level (ActionStatus FAIL), and nothing is imported."""
    api, _ = clocked
    assert spec.rules[rule].outcome(spec.rules[rule].default).codes == (code,)
    status, body = api("friend_import", BODY, **query)
    assert_fail(spec, status, body, code)
    assert api.stored("alice", "bob") is None


def test_expired_usersig_FI_AUTH_USERSIG_EXPIRED(spec, clocked):
    """FI-AUTH-USERSIG-EXPIRED: valid through TLS.time + TLS.expire inclusive, 70001 one second later."""
    api, clock = clocked
    sig = api.emu.usersig(expire=100)
    clock.now = T0 + 100
    assert api("friend_import", BODY, usersig=sig)[1]["ErrorCode"] == 0
    clock.now = T0 + 101
    status, body = api("friend_import", BODY, usersig=sig)
    assert_fail(spec, status, body, 70001)
    # The same sig is refused on every later call as well; a fresh one passes (FI-AUTH-USERSIG-REUSE).
    assert api("friend_import", BODY, usersig=sig)[1]["ErrorCode"] == 70001
    assert api("friend_import", BODY)[1]["ErrorCode"] == 0


def test_usersig_reused_until_expiry_FI_AUTH_USERSIG_REUSE(clocked):
    """FI-AUTH-USERSIG-REUSE: one usersig serves many requests."""
    api, _ = clocked
    sig = api.emu.usersig()
    assert [api("account_check", {"CheckItem": [{"UserID": "bob"}]}, usersig=sig)[1]["ErrorCode"]
            for _ in range(5)] == [0] * 5


def test_official_pypi_usersig_accepted_FI_AUTH_USERSIG_FORMATS(make_api):
    """FI-AUTH-USERSIG-FORMATS: a UserSig from the official PyPI tls-sig-api-v2 is accepted (real clock)."""
    tls = pytest.importorskip("TLSSigAPIv2")
    api = make_api()
    api.accounts("alice", "bob")
    sig = tls.TLSSigAPIv2(DEMO_SDKAPPID, DEMO_SECRET_KEY).gen_sig(DEMO_ADMIN)
    status, body = api("friend_import", BODY, usersig=sig)
    assert (status, body["ErrorCode"], codes(body)) == (200, 0, [0])
    wrong = tls.TLSSigAPIv2(DEMO_SDKAPPID, "another app's key").gen_sig(DEMO_ADMIN)
    assert api("friend_import", BODY, usersig=wrong)[1]["ErrorCode"] == 70009


@pytest.mark.parametrize("vector", [NODE_VECTOR, PYTHON_VECTOR], ids=["node", "python"])
def test_fixed_vectors_accepted_at_pinned_clock_FI_AUTH_USERSIG_FORMATS(spec, clocked, vector):
    """FI-AUTH-USERSIG-FORMATS: the clients.md §4 vectors (different JSON key order and whitespace) pass with the
    clock pinned to 1764000000 and to the last valid second; one second later they are expired (70001)."""
    api, clock = clocked
    assert api("friend_import", BODY, usersig=vector)[1]["ErrorCode"] == 0
    clock.now = T0 + 86400
    assert api("account_check", {"CheckItem": [{"UserID": "bob"}]}, usersig=vector)[1]["ErrorCode"] == 0
    clock.now = T0 + 86401
    status, body = api("friend_import", BODY, usersig=vector)
    assert_fail(spec, status, body, 70001)


@pytest.mark.parametrize("outcome, code", [("common-60004", 60004), ("common-60005", 60005)])
def test_usersig_code_follows_profile_FI_AUTH_USERSIG_EMPTY(spec, make_api, outcome, code):
    """FI-AUTH-USERSIG-EMPTY: a profile that pins another outcome changes the answered code."""
    api = make_api(behaviour={"FI-AUTH-USERSIG-EMPTY": outcome})
    status, body = api("friend_import", BODY, usersig="")
    assert_fail(spec, status, body, code)


# ---------------------------------------------------------------- rate limits


def test_rate_limit_200_per_second_FI_RATE_LIMIT_200(spec, make_api):
    """FI-RATE-LIMIT-200, OPEN-RATE-LIMIT-CODE (default common-60007): 200 friend_import calls within one second
    pass, the 201st is refused with 60007 inside HTTP 200; once the window slides past the first calls it passes
    again. Another operation has its own window."""
    monotonic = Clock(100.0)
    api = make_api(rate_limit="documented", monotonic=monotonic)
    api.emu.model.account_import(api.emu.app_state, "alice")
    api.emu.model.account_import(api.emu.app_state, "bob")
    answers = []
    for n in range(200):
        monotonic.now = 100.0 + n * 0.004  # 200 calls spread over 0.8 s
        answers.append(api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("ghost")]})[1])
    assert [a["ErrorCode"] for a in answers] == [0] * 200
    monotonic.now = 100.9
    status, body = api("friend_import", BODY)
    assert_fail(spec, status, body, 60007)
    assert api.stored("alice", "bob") is None  # friend_get_list is not limited by friend_import's window
    monotonic.now = 101.0  # the first call (at 100.0) leaves the window
    assert api("friend_import", BODY)[1]["ErrorCode"] == 0
    assert api("friend_import", BODY)[1]["ErrorCode"] == 60007  # the second (100.004) is still inside
    monotonic.now = 102.0
    assert api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("ghost")]})[1]["ErrorCode"] == 0


def test_rate_limit_100_for_account_check_SUPPORT_RATE_LIMIT_100(spec, make_api):
    """SUPPORT-RATE-LIMIT-100: account_check is limited at 100 calls per second."""
    monotonic = Clock(5.0)
    api = make_api(rate_limit="documented", monotonic=monotonic)
    check = {"CheckItem": [{"UserID": "bob"}]}
    assert [api("account_check", check)[1]["ErrorCode"] for _ in range(100)] == [0] * 100
    status, body = api("account_check", check)
    assert (status, body["ActionStatus"], body["ErrorCode"]) == (200, "FAIL", 60007)
    monotonic.now = 6.0
    assert api("account_check", check)[1]["ErrorCode"] == 0


def test_rate_limit_code_follows_profile_OPEN_RATE_LIMIT_CODE(spec, make_api):
    """OPEN-RATE-LIMIT-CODE: a profile pinning common-60018 answers 60018 instead."""
    api = make_api(rate_limit=1, monotonic=Clock(0.0), behaviour={"OPEN-RATE-LIMIT-CODE": "common-60018"})
    check = {"CheckItem": [{"UserID": "bob"}]}
    assert api("account_check", check)[1]["ErrorCode"] == 0
    assert api("account_check", check)[1]["ErrorCode"] == 60018


def test_rate_limit_none_never_limits(make_api):
    """rate_limit=None: 300 calls at one frozen instant all pass."""
    api = make_api(rate_limit=None, monotonic=Clock(0.0))
    api.accounts("alice")
    body = {"From_Account": "alice", "AddFriendItem": [item("ghost")]}
    assert {api("friend_import", body)[1]["ErrorCode"] for _ in range(300)} == {0}
