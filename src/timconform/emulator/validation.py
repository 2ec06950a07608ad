"""friend_import body checks: from parsed JSON to typed :class:`ImportItem` values.

Shape errors that leave no To_Account to answer for refuse the whole request; a field that breaks
a limit fails only its item. Every code comes from the rule it enforces (schemas/rules.yaml), and
byte limits are counted in UTF-8 bytes, which JSON Schema cannot express.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from timconform.emulator.behaviour import Behaviour
from timconform.emulator.errors import ApiError
from timconform.emulator.codes import OK
from timconform.emulator.model import Friend, ImportItem
from timconform.spec import Spec

UINT32_MAX = 4294967295
MISSING = object()  # a key that is not in the item at all


def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes. A string with a lone surrogate (JSON "\\ud800") has no UTF-8 form: it counts as
    longer than any limit, so it fails its item with the limit's code instead of crashing the handler."""
    if text.isascii():  # O(1) in CPython: an ASCII string is as long in bytes as in characters
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return sys.maxsize


class ImportValidator:
    """Checks one friend_import body against the limits of schemas/limits.json."""

    def __init__(self, spec: Spec, behaviour: Behaviour) -> None:
        limit = spec.limit
        code = behaviour.code
        self.behaviour = behaviour
        self.batch_items = limit("batch_items")
        self.user_id_bytes = limit("user_id_bytes")
        self.remark_bytes = limit("remark_bytes")
        self.group_name_bytes = limit("group_name_bytes")
        self.lists_per_user = limit("friend_lists_per_user")
        self.add_wording_bytes = limit("add_wording_bytes")
        self.custom_value_bytes = limit("custom_value_bytes")
        self.add_source = re.compile(r"AddSource_Type_[A-Za-z]{1,%d}" % limit("add_source_keyword_letters"))
        self.custom_tag = re.compile(r"Tag_SNS_Custom_[A-Za-z]{1,%d}" % limit("custom_tag_keyword_letters"))
        self.code_required = code(spec, "FI-REQUIRED-FIELDS")
        self.code_types = code(spec, "FI-FIELD-TYPES")
        self.code_account_type = code(spec, "FI-ACCOUNT-TYPE-60015")
        self.code_oversize = code(spec, "OPEN-BATCH-OVERSIZE-CODE")
        self.code_empty = code(spec, "OPEN-EMPTY-ADDFRIENDITEM") if behaviour.empty_batch != "ok-empty" else OK
        self.code_user_id = code(spec, "FI-LIMIT-USERID-BYTES")
        self.code_remark = code(spec, "FI-LIMIT-REMARK-BYTES")
        self.code_group_bytes = code(spec, "FI-LIMIT-GROUPNAME-BYTES")
        self.code_group_empty = code(spec, "FI-LIMIT-GROUPNAME-NONEMPTY")
        self.code_lists = code(spec, "FI-FRIEND-LIST-LIMIT-32")
        self.code_wording = code(spec, "FI-LIMIT-ADDWORDING-BYTES")
        self.code_source = code(spec, "FI-LIMIT-ADDSOURCE-FORM")
        self.code_tag_form = code(spec, "FI-LIMIT-CUSTOM-TAG-FORM")
        self.code_tag_unconfigured = code(spec, "FI-LIMIT-CUSTOM-TAG-CONFIGURED")
        self.code_value_bytes = code(spec, "FI-LIMIT-CUSTOM-VALUE-BYTES")
        self.code_value_integer = code(spec, "OPEN-CUSTOM-VALUE-INTEGER")
        self.code_time_range = code(spec, "OPEN-TIME-FIELD-RANGE")

    def parse(self, body: Any, custom_tags: frozenset[str]) -> tuple[str, list[ImportItem]]:
        """(From_Account, items) or :class:`ApiError` for a request that cannot be answered per item."""
        if not isinstance(body, dict):
            raise ApiError(self.code_types, "Err_SNS_FriendImport_Body_Not_Object")
        from_account = self._account(body, "From_Account")
        entries = body.get("AddFriendItem")
        if entries is None:
            raise ApiError(self.code_required, "Err_SNS_FriendImport_AddFriendItem_Missing")
        if not isinstance(entries, list):
            raise ApiError(self.code_types, "Err_SNS_FriendImport_AddFriendItem_Not_Array")
        if not entries and self.code_empty != OK:
            raise ApiError(self.code_empty, "Err_SNS_FriendImport_AddFriendItem_Empty")
        if len(entries) > self.batch_items:
            raise ApiError(self.code_oversize, "Err_SNS_FriendImport_Item_Num_Exceed_Threshold")
        items = []
        append, item = items.append, self._item  # looked up once per request (a test may replace _item)
        for entry in entries:
            if not isinstance(entry, dict):
                raise ApiError(self.code_types, "Err_SNS_FriendImport_Item_Not_Object")
            to_account = entry.get("To_Account")
            if to_account.__class__ is not str:  # missing or not a string: _account answers with the code
                to_account = self._account(entry, "To_Account")
            append(item(to_account, entry, custom_tags))
        return from_account, items

    def _account(self, container: dict, key: str) -> str:
        value = container.get(key)
        if value is None:
            raise ApiError(self.code_required, f"Err_SNS_FriendImport_{key}_Missing")
        if not isinstance(value, str):
            raise ApiError(self.code_account_type, f"{key} must be a string")
        return value

    def _item(self, to_account: str, entry: dict, custom_tags: frozenset[str]) -> ImportItem:
        code = self._item_code(to_account, entry, custom_tags)
        if code != OK:
            return ImportItem(to_account, None, code)
        get = entry.get
        # A friend is in a list or not: a name repeated inside one GroupName is one membership.
        groups = get("GroupName")
        custom = get("CustomItem")
        friend = Friend(
            entry["AddSource"], get("AddTime"), get("Remark"), get("RemarkTime"),
            tuple(dict.fromkeys(groups)) if groups else (), get("AddWording"),
            tuple((c["Tag"], self._stored_value(c["Value"])) for c in custom if c["Tag"] in custom_tags)
            if custom else (),
        )
        return ImportItem(to_account, friend)

    def _stored_value(self, value: str | int) -> str | int:
        if isinstance(value, int) and self.behaviour.custom_value_integer == "stringified":
            return str(value)
        return value

    def _item_code(self, to_account: str, entry: dict, custom_tags: frozenset[str]) -> int:
        if not to_account or utf8_len(to_account) > self.user_id_bytes:
            return self.code_user_id
        # An optional field given as JSON null is of no documented type (FI-FIELD-TYPES), not an absent one.
        if None in entry.values():
            return self.code_required if entry.get("AddSource", MISSING) is None else self.code_types
        get = entry.get
        source = get("AddSource")
        if source is None:
            return self.code_required
        if not isinstance(source, str) or not self.add_source.fullmatch(source):
            return self.code_source
        remark = get("Remark")
        if remark is not None and (not isinstance(remark, str) or utf8_len(remark) > self.remark_bytes):
            return self.code_remark if isinstance(remark, str) else self.code_types
        wording = get("AddWording")
        if wording is not None and (not isinstance(wording, str) or utf8_len(wording) > self.add_wording_bytes):
            return self.code_wording if isinstance(wording, str) else self.code_types
        for key in ("RemarkTime", "AddTime"):
            value = get(key)
            # Absent, or a plain integer in range: what _time_code passes without looking further.
            if value is not None and not (value.__class__ is int and 0 <= value <= UINT32_MAX):
                code = self._time_code(value)
                if code != OK:
                    return code
        code = self._groups_code(get("GroupName"))
        if code != OK:
            return code
        custom = get("CustomItem")
        return OK if custom is None else self._custom_code(custom, custom_tags)

    def _time_code(self, value: Any) -> int:
        if value is None:
            return OK
        if not isinstance(value, int) or isinstance(value, bool):
            return self.code_types
        if not 0 <= value <= UINT32_MAX:
            if self.behaviour.time_field_range == "request-30001":
                raise ApiError(self.code_time_range, "Err_SNS_FriendImport_Time_Out_Of_Range")
            if self.behaviour.time_field_range == "per-item-30001":
                return self.code_time_range
        return OK

    def _groups_code(self, groups: Any) -> int:
        if groups is None:
            return OK
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return self.code_types
        for name in groups:
            if not name:
                return self.code_group_empty
            if utf8_len(name) > self.group_name_bytes:
                return self.code_group_bytes
        if len(set(groups)) > self.lists_per_user:
            return self.code_lists
        return OK

    def _custom_code(self, custom: Any, custom_tags: frozenset[str]) -> int:
        if custom is None:
            return OK
        if not isinstance(custom, list):
            return self.code_types
        for entry in custom:
            if not isinstance(entry, dict) or "Tag" not in entry or "Value" not in entry:
                return self.code_types
            code = self._tag_code(entry["Tag"], custom_tags) or self._value_code(entry["Value"])
            if code:
                return code
        return OK

    def _tag_code(self, tag: Any, custom_tags: frozenset[str]) -> int:
        if not isinstance(tag, str) or not self.custom_tag.fullmatch(tag):
            return self.code_tag_form
        if tag not in custom_tags:
            if self.behaviour.custom_tag_unconfigured == "request-30001":
                raise ApiError(self.code_tag_unconfigured, "Err_SNS_FriendImport_Custom_Tag_Not_Exist")
            if self.behaviour.custom_tag_unconfigured == "per-item-30001":
                return self.code_tag_unconfigured
        return OK

    def _value_code(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return self.code_types
        if isinstance(value, int):
            if self.behaviour.custom_value_integer == "per-item-30001":
                return self.code_value_integer
            return OK if 0 <= value <= UINT32_MAX else self.code_types
        return self.code_value_bytes if utf8_len(value) > self.custom_value_bytes else OK
