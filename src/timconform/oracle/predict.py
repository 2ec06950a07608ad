"""What a conforming target must do with one AddFriendItem, predicted from the limits alone.

Independent of the emulator's own validation on purpose: the suite certifies emulators, ours too.
Returns the id of the first rule the item breaks, or None for an item the target must import.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from timconform.spec import Spec

# Rules whose violation has no documented answer: an item breaking one may be imported or refused.
OPEN_VIOLATIONS = frozenset({"FI-LIMIT-CUSTOM-TAG-CONFIGURED", "OPEN-TIME-FIELD-RANGE", "OPEN-CUSTOM-VALUE-INTEGER"})


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


class Predictor:
    def __init__(self, spec: Spec, custom_tags: Collection[str]) -> None:
        limit = spec.limit
        self.custom_tags = frozenset(custom_tags)
        self.user_id_bytes = limit("user_id_bytes")
        self.remark_bytes = limit("remark_bytes")
        self.wording_bytes = limit("add_wording_bytes")
        self.group_bytes = limit("group_name_bytes")
        self.value_bytes = limit("custom_value_bytes")
        self.add_source = re.compile(r"AddSource_Type_[A-Za-z]{1,%d}" % limit("add_source_keyword_letters"))
        self.tag = re.compile(r"Tag_SNS_Custom_[A-Za-z]{1,%d}" % limit("custom_tag_keyword_letters"))

    def violation(self, item: dict[str, Any]) -> str | None:
        """The rule that decides the item's fate: a documented limit first, an open question only alone."""
        found = self.violations(item)
        documented = [rule for rule in found if rule not in OPEN_VIOLATIONS]
        return (documented or found or [None])[0]

    def violations(self, item: dict[str, Any]) -> list[str]:
        return [rule for rule in self._checks(item) if rule is not None]

    def _checks(self, item: dict[str, Any]):
        to_account = item.get("To_Account")
        if not isinstance(to_account, str) or "AddSource" not in item:
            yield "FI-REQUIRED-FIELDS"
            return
        if not to_account or _bytes(to_account) > self.user_id_bytes:
            yield "FI-LIMIT-USERID-BYTES"
        if not isinstance(item["AddSource"], str) or not self.add_source.fullmatch(item["AddSource"]):
            yield "FI-LIMIT-ADDSOURCE-FORM"
        yield from self._texts(item)
        for key in ("RemarkTime", "AddTime"):
            if key in item and not 0 <= item[key] <= 4294967295:
                yield "OPEN-TIME-FIELD-RANGE"
        for entry in item.get("CustomItem", ()):
            yield from self._custom(entry)

    def _texts(self, item: dict[str, Any]):
        if "Remark" in item and _bytes(item["Remark"]) > self.remark_bytes:
            yield "FI-LIMIT-REMARK-BYTES"
        if "AddWording" in item and _bytes(item["AddWording"]) > self.wording_bytes:
            yield "FI-LIMIT-ADDWORDING-BYTES"
        for name in item.get("GroupName", ()):
            if not name:
                yield "FI-LIMIT-GROUPNAME-NONEMPTY"
            if _bytes(name) > self.group_bytes:
                yield "FI-LIMIT-GROUPNAME-BYTES"

    def _custom(self, entry: dict[str, Any]):
        if not self.tag.fullmatch(entry["Tag"]):
            yield "FI-LIMIT-CUSTOM-TAG-FORM"
        if entry["Tag"] not in self.custom_tags:
            yield "FI-LIMIT-CUSTOM-TAG-CONFIGURED"
        if isinstance(entry["Value"], str) and _bytes(entry["Value"]) > self.value_bytes:
            yield "FI-LIMIT-CUSTOM-VALUE-BYTES"
        if isinstance(entry["Value"], int):
            yield "OPEN-CUSTOM-VALUE-INTEGER"
