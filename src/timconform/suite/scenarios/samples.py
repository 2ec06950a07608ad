"""The seed page's own samples, sent with fresh accounts in place of id, id1, id2 and id3."""

from __future__ import annotations

import copy

from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES, one_way, round_trip
from timconform.suite.session import Session


def seed_requests(session: Session) -> dict[str, dict]:
    post = session.spec.openapi["paths"]["/v4/sns/friend_import"]["post"]
    return {name: e["value"] for name, e in post["requestBody"]["content"]["application/json"]["examples"].items()}


def with_accounts(session: Session, sample: dict) -> dict:
    """The sample with fresh accounts, and its custom tags mapped onto the target's configured ones."""
    body = copy.deepcopy(sample)
    names = session.accounts(1 + len(body["AddFriendItem"]))
    body["From_Account"] = names[0]
    tags = list(session.custom_tags)
    for entry, name in zip(body["AddFriendItem"], names[1:]):
        entry["To_Account"] = name
        if "CustomItem" in entry:
            if len(tags) >= len(entry["CustomItem"]):
                for custom, tag in zip(entry["CustomItem"], tags):
                    custom["Tag"] = tag
            else:
                del entry["CustomItem"]  # the target has too few custom tags for the sample's
    return body


@scenario("seed-samples", rules=RESPONSE_RULES + ("FI-VALID-ITEM-IMPORTED", "FI-ROUND-TRIP", "FI-ONE-WAY",
                                                  "OPEN-ADDTIME-READBACK", "OPEN-CUSTOM-VALUE-INTEGER"))
def seed_samples(session: Session) -> None:
    """Every request sample of the seed page is imported in full and reads back."""
    for name, sample in seed_requests(session).items():
        body = with_accounts(session, sample)
        reply = session.send_import(body)
        if session.judge("FI-VALID-ITEM-IMPORTED", "all_imported", reply, request=body["AddFriendItem"],
                         note=f"the seed's {name} sample"):
            round_trip(session, body["From_Account"], body["AddFriendItem"], [0] * len(body["AddFriendItem"]))
            one_way(session, body["From_Account"], body["AddFriendItem"][0]["To_Account"])
