"""The open-question switches of behaviour.py: each outcome changes the emulator's answer as rules.yaml says.

One test per rule of ``SEMANTIC_SWITCHES`` that concerns friend_import's body and state, parametrised over
the outcomes the emulator implements, plus the refusals of ``behaviour.load``.
"""

from __future__ import annotations

import pytest

from tests.test_emulator_api import TAGS, assert_fail, assert_ok_shape, codes, item, make_api  # noqa: F401
from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator import behaviour as behaviour_module


@pytest.fixture
def switched(make_api):
    """An emulator with one rule pinned to one outcome and the accounts alice, bob, carol."""
    def factory(rule_id: str, outcome: str, **config):
        api = make_api(behaviour={rule_id: outcome}, **config)
        api.accounts("alice", "bob", "carol")
        return api
    return factory


def test_every_implemented_switch_is_a_rule_outcome(spec):
    """Every switch of SEMANTIC_SWITCHES names a rule with outcomes, and IMPLEMENTED lists only its outcome ids,
    its default among them."""
    assert set(behaviour_module.SEMANTIC_SWITCHES) == set(behaviour_module.IMPLEMENTED)
    for switch, rule_id in behaviour_module.SEMANTIC_SWITCHES.items():
        rule = spec.rules[rule_id]
        outcomes = {o.id for o in rule.outcomes}
        assert behaviour_module.IMPLEMENTED[switch] <= outcomes, switch
        assert rule.default in behaviour_module.IMPLEMENTED[switch], switch


@pytest.mark.parametrize("outcome, code, remark", [
    ("per-item-30001", 30001, "old"), ("overwrite", 0, "new"), ("keep", 0, "old")])
def test_existing_friend_OPEN_EXISTING_FRIEND(spec, switched, outcome, code, remark):
    """OPEN-EXISTING-FRIEND: re-importing bob answers per the outcome and leaves/replaces the stored fields."""
    api = switched("OPEN-EXISTING-FRIEND", outcome)
    assert codes(api.imp("alice", item("bob", Remark="old", GroupName=["A"]))) == [0]
    body = api.imp("alice", item("bob", Remark="new", GroupName=["B"]))
    assert_ok_shape(spec, body, ["bob"])
    assert codes(body) == [code]
    stored = api.stored("alice", "bob")
    assert stored["Tag_SNS_IM_Remark"] == remark
    assert stored["Tag_SNS_IM_Group"] == (["B"] if remark == "new" else ["A"])


def test_existing_friend_overwrite_frees_lists_OPEN_EXISTING_FRIEND(switched):
    """OPEN-EXISTING-FRIEND=overwrite with FI-FRIEND-LIST-LIMIT-32: an overwrite that moves the only member of a
    list elsewhere frees that list, and the list count the 32 limit sees follows the stored friends."""
    api = switched("OPEN-EXISTING-FRIEND", "overwrite")
    people = [f"p{i}" for i in range(32)]
    api.accounts(*people)
    assert codes(api.imp("alice", *(item(p, GroupName=[f"L{i}"]) for i, p in enumerate(people)))) == [0] * 32
    # p0 leaves L0 for a new list: L0 is freed, still 32 lists, so L0 is now a 33rd name.
    assert codes(api.imp("alice", item("p0", GroupName=["New"]))) == [0]
    assert codes(api.imp("alice", item("bob", GroupName=["New"]), item("carol", GroupName=["L0"]))) == [0, 30011]
    # p1 joins an existing list: L1 is freed, so one new name fits again.
    assert codes(api.imp("alice", item("p1", GroupName=["L2"]))) == [0]
    assert codes(api.imp("alice", item("carol", GroupName=["Another"]))) == [0]


@pytest.mark.parametrize("outcome", ["per-item-30003", "request-30003"])
def test_unknown_to_account_level_OPEN_UNKNOWN_TO_ACCOUNT_LEVEL(spec, switched, outcome):
    """OPEN-UNKNOWN-TO-ACCOUNT-LEVEL: per item, the other items are imported; request level, nothing is."""
    api = switched("OPEN-UNKNOWN-TO-ACCOUNT-LEVEL", outcome)
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob"), item("ghost")]})
    if outcome == "per-item-30003":
        assert_ok_shape(spec, body, ["bob", "ghost"])
        assert codes(body) == [0, 30003]
        assert api.stored("alice", "bob") is not None
    else:
        assert_fail(spec, status, body, 30003)
        assert api.stored("alice", "bob") is None


@pytest.mark.parametrize("outcome", ["per-item-30001", "request-30001", "accepted"])
def test_self_import_OPEN_SELF_IMPORT(spec, switched, outcome):
    """OPEN-SELF-IMPORT: alice importing herself fails her item, the request, or is stored."""
    api = switched("OPEN-SELF-IMPORT", outcome)
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [item("bob"), item("alice")]})
    if outcome == "request-30001":
        assert_fail(spec, status, body, 30001)
        assert api.stored("alice", "bob") is None
        return
    assert_ok_shape(spec, body, ["bob", "alice"])
    assert codes(body) == [0, 30001 if outcome == "per-item-30001" else 0]
    assert api.stored("alice", "bob") is not None
    assert (api.stored("alice", "alice") is not None) == (outcome == "accepted")


@pytest.mark.parametrize("outcome, expected, remark", [
    ("later-duplicate-30001", [0, 30001], "first"), ("last-wins", [0, 0], "last"),
    ("first-wins", [0, 0], "first"), ("request-30001", None, None)])
def test_duplicate_to_account_OPEN_DUPLICATE_TO_ACCOUNT(spec, switched, outcome, expected, remark):
    """OPEN-DUPLICATE-TO-ACCOUNT: bob twice in one request; codes and the stored Remark follow the outcome."""
    api = switched("OPEN-DUPLICATE-TO-ACCOUNT", outcome)
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [
        item("bob", Remark="first"), item("bob", Remark="last"), item("carol")]})
    if expected is None:
        assert_fail(spec, status, body, 30001)
        assert api.stored("alice", "bob") is None and api.stored("alice", "carol") is None
        return
    assert_ok_shape(spec, body, ["bob", "bob", "carol"])
    assert codes(body) == [*expected, 0]
    assert api.stored("alice", "bob")["Tag_SNS_IM_Remark"] == remark
    assert len(api.emu.app_state.friends["alice"]) == 2


@pytest.mark.parametrize("outcome", ["request-30001", "ok-empty"])
def test_empty_addfrienditem_OPEN_EMPTY_ADDFRIENDITEM(spec, switched, outcome):
    """OPEN-EMPTY-ADDFRIENDITEM: AddFriendItem [] is refused with 30001, or answered OK with ResultItem []."""
    api = switched("OPEN-EMPTY-ADDFRIENDITEM", outcome)
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": []})
    if outcome == "request-30001":
        assert_fail(spec, status, body, 30001)
    else:
        assert_ok_shape(spec, body, [])
        assert body["ResultItem"] == []


@pytest.mark.parametrize("outcome", ["per-item-30001", "request-30001", "ignored"])
def test_custom_tag_unconfigured_FI_LIMIT_CUSTOM_TAG_CONFIGURED(spec, switched, outcome):
    """FI-LIMIT-CUSTOM-TAG-CONFIGURED: an item with the unconfigured Tag_SNS_Custom_ZZZZ fails, refuses the
    request, or is imported without the tag (which then does not read back)."""
    api = switched("FI-LIMIT-CUSTOM-TAG-CONFIGURED", outcome)
    custom = [{"Tag": "Tag_SNS_Custom_ZZZZ", "Value": "z"}, {"Tag": TAGS[0], "Value": "x"}]
    status, body = api("friend_import", {"From_Account": "alice",
                                         "AddFriendItem": [item("bob", CustomItem=custom), item("carol")]})
    if outcome == "request-30001":
        assert_fail(spec, status, body, 30001)
        assert api.stored("alice", "carol") is None
        return
    assert_ok_shape(spec, body, ["bob", "carol"])
    assert codes(body) == [30001 if outcome == "per-item-30001" else 0, 0]
    stored = api.stored("alice", "bob", tags=["Tag_SNS_Custom_ZZZZ"])
    if outcome == "ignored":
        assert stored[TAGS[0]] == "x" and "Tag_SNS_Custom_ZZZZ" not in stored
    else:
        assert stored is None


@pytest.mark.parametrize("outcome, code, readback", [
    ("accepted", 0, 7), ("stringified", 0, "7"), ("per-item-30001", 30001, None)])
def test_integer_custom_value_OPEN_CUSTOM_VALUE_INTEGER(switched, outcome, code, readback):
    """OPEN-CUSTOM-VALUE-INTEGER: an integer Value reads back as an integer, as a string, or fails its item."""
    api = switched("OPEN-CUSTOM-VALUE-INTEGER", outcome)
    assert codes(api.imp("alice", item("bob", CustomItem=[{"Tag": TAGS[1], "Value": 7}]))) == [code]
    stored = api.stored("alice", "bob")
    if readback is None:
        assert stored is None
    else:
        assert stored[TAGS[1]] == readback and type(stored[TAGS[1]]) is type(readback)


@pytest.mark.parametrize("field", ["AddTime", "RemarkTime"])
@pytest.mark.parametrize("outcome", ["per-item-30001", "request-30001", "accepted"])
def test_time_field_range_OPEN_TIME_FIELD_RANGE(spec, switched, outcome, field):
    """OPEN-TIME-FIELD-RANGE: a negative or > 4294967295 time fails its item, refuses the request, or is stored;
    4294967295 itself is always accepted."""
    api = switched("OPEN-TIME-FIELD-RANGE", outcome)
    status, body = api("friend_import", {"From_Account": "alice", "AddFriendItem": [
        item("bob", **{field: 4294967296}), item("carol", **{field: -1}), item("alice", **{field: 4294967295})]})
    if outcome == "request-30001":
        assert_fail(spec, status, body, 30001)
        return
    assert_ok_shape(spec, body, ["bob", "carol", "alice"])
    bad = 30001 if outcome == "per-item-30001" else 0
    assert codes(body)[:2] == [bad, bad]
    if outcome == "accepted" and field == "AddTime":
        assert api.stored("alice", "bob")["Tag_SNS_IM_AddTime"] == 4294967296


@pytest.mark.parametrize("outcome", ["request-30003", "per-item-30003"])
def test_unknown_from_account_FI_ACCOUNT_FROM_EXISTS(spec, switched, outcome):
    """FI-ACCOUNT-FROM-EXISTS: an unknown From_Account is refused as a whole, or every item gets 30003; either
    way nothing is imported (checked once ghost exists)."""
    api = switched("FI-ACCOUNT-FROM-EXISTS", outcome)
    status, body = api("friend_import", {"From_Account": "ghost", "AddFriendItem": [item("bob"), item("carol")]})
    if outcome == "request-30003":
        assert_fail(spec, status, body, 30003)
    else:
        assert_ok_shape(spec, body, ["bob", "carol"])
        assert codes(body) == [30003, 30003]
        assert body["Fail_Account"] == ["bob", "carol"]
    api.accounts("ghost")
    assert api.stored("ghost", "bob") is None and api.stored("ghost", "carol") is None


# ---------------------------------------------------------------- behaviour.load refusals


@pytest.mark.parametrize("profile, words", [
    ({"OPEN-NO-SUCH-RULE": "whatever"}, ["OPEN-NO-SUCH-RULE", "not a rule with outcomes"]),
    ({"FI-HTTP-200": "ok"}, ["FI-HTTP-200", "not a rule with outcomes"]),
    ({"OPEN-EXISTING-FRIEND": "merge"}, ["OPEN-EXISTING-FRIEND", "'merge'", "per-item-30001"]),
    ({"OPEN-RANDOM-REUSE": "deduplicated"}, ["cannot show", "OPEN-RANDOM-REUSE", "'deduplicated'"]),
    ({"OPEN-ADDTIME-READBACK": "server-time"}, ["cannot show", "OPEN-ADDTIME-READBACK", "verbatim"]),
    ({"OPEN-BATCH-OVERSIZE-CODE": "request-other"}, ["cannot show", "OPEN-BATCH-OVERSIZE-CODE"]),
])
def test_behaviour_load_refuses_bad_profiles(spec, profile, words):
    """behaviour.load refuses an unknown rule, an unknown outcome, and an outcome the emulator cannot show, with a
    message naming the rule and the outcome; the Emulator refuses the same profile at start-up."""
    with pytest.raises(behaviour_module.BehaviourError) as caught:
        behaviour_module.load(spec, profile)
    for word in words:
        assert word in str(caught.value)
    with pytest.raises(behaviour_module.BehaviourError):
        Emulator(EmulatorConfig(behaviour=profile), spec=spec)


def test_behaviour_load_reads_profile_file(spec, tmp_path):
    """A YAML profile file (optionally under 'outcomes:') pins outcomes; a malformed file is refused clearly."""
    path = tmp_path / "profile.yaml"
    path.write_text("outcomes:\n  OPEN-EXISTING-FRIEND: overwrite\n", encoding="utf-8")
    loaded = behaviour_module.load(spec, path)
    assert loaded.existing_friend == "overwrite" and loaded.self_import == "per-item-30001"
    path.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(behaviour_module.BehaviourError, match="expected a mapping"):
        behaviour_module.load(spec, path)
