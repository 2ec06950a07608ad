"""What the generated scenario draws from, and where its accounts come from (issue #7's suite speed-ups).

The narrowed drawing schema must never make the scenario send something the published schema would
not have let it send, and the account reserve must never hand out an account twice.
"""

import hashlib
import json
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.suite_support import CREDENTIALS
from timconform.oracle.recorder import Recorder
from timconform.report.redact import Redactor
from timconform.suite import drawing_schema
from timconform.suite.profiles import PROFILES
from timconform.suite.scenarios.generated import MAX_ITEMS
from timconform.suite.session import Session
from timconform.target import Client, resolve

TAGS = ("Tag_SNS_Custom_XXXX", "Tag_SNS_Custom_YYYY")
FIXED = {"sdkappid": 1, "identifier": "admin", "usersig": "x", "random": 1, "contenttype": "json"}


def _operation(spec, tags):
    path = drawing_schema.openapi_copy(str(spec.openapi_path), tags, MAX_ITEMS)
    return schemathesis.openapi.from_path(path)["/v4/sns/friend_import"]["POST"]


def _with_accounts(body):
    body = json.loads(json.dumps(body))
    body["From_Account"] = "owner"
    for index, entry in enumerate(body["AddFriendItem"]):
        entry["To_Account"] = f"friend{index}"
    return body


def test_narrowed_bodies_are_published_bodies_once_the_scenario_names_the_accounts(spec):
    published = spec.validator("friend_import.request.json")

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(_operation(spec, TAGS).as_strategy(query=FIXED))
    def check(case):
        body = _with_accounts(case.body)
        assert [e.message for e in published.iter_errors(body)] == []
        assert 1 <= len(body["AddFriendItem"]) <= MAX_ITEMS
        assert {c["Tag"] for e in body["AddFriendItem"] for c in e.get("CustomItem", ())} <= set(TAGS)
        assert all(len(e.get("CustomItem", ())) <= len(TAGS) for e in body["AddFriendItem"])

    check()


def test_without_configured_tags_no_custom_item_is_drawn(spec):
    request = json.loads((spec.root / "schemas" / "friend_import.request.json").read_text(encoding="utf-8"))
    assert "CustomItem" not in drawing_schema.narrow(request, (), MAX_ITEMS)["$defs"]["add_friend_item"]["properties"]

    @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(_operation(spec, ()).as_strategy(query=FIXED))
    def check(case):
        assert all("CustomItem" not in entry for entry in case.body["AddFriendItem"])

    check()


def test_the_copy_changes_only_the_request_schema_and_leaves_the_published_files_alone(spec):
    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file() and (p.suffix in (".json", ".yaml"))}

    published = digests(spec.root / "schemas")
    copy_root = Path(drawing_schema.openapi_copy(str(spec.openapi_path), TAGS, MAX_ITEMS)).parent
    copied = digests(copy_root / "schemas")
    assert digests(spec.root / "schemas") == published
    assert {name for name in published if copied.get(name) != published[name]} == {"friend_import.request.json"}
    assert (copy_root / "openapi.yaml").read_bytes() == spec.openapi_path.read_bytes()


def _session(spec) -> Session:
    target, creds = resolve("emulator", spec, CREDENTIALS)
    client = Client(target, creds, spec, Redactor(creds.secret_key))
    return Session(spec, client, Recorder(spec), PROFILES["quick"], seed=1)


def test_the_account_reserve_imports_a_full_call_at_a_time_and_never_hands_out_an_account_twice(spec):
    session = _session(spec)
    try:
        batch = spec.limit("multiaccount_import_accounts")
        handed = []
        for count, calls_after in ((3, 1), (5, 1), (batch - 8, 1), (1, 2), (batch + 50, 3)):
            handed += session.accounts(count)
            assert session.client.calls == calls_after, count
        assert len(handed) == len(set(handed)) == 3 + 5 + (batch - 8) + 1 + batch + 50
        step = spec.limit("account_check_items")
        for start in range(0, len(handed), step):
            reply = session.client.call("account_check", {"CheckItem": [{"UserID": n} for n in handed[start:start + step]]})
            assert {r["AccountStatus"] for r in reply.body["ResultItem"]} == {"Imported"}
    finally:
        session.client.close()
