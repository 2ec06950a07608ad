"""Mutants with a wrong limit, a wrong check or a wrong write: switches on one emulator's validator or model."""

from __future__ import annotations

import dataclasses
import re
import sys

from timconform.emulator.codes import OK
from timconform.emulator.model import Friend, ImportItem
from tests.mutants.base import mutant


def _wrap_item_code(emulator, measure):
    """Make the validator judge each AddFriendItem as ``measure(entry)`` instead of as sent (what is stored
    is still the entry as sent): the way a target that measures a field differently behaves."""
    validator = emulator.validator
    original = validator._item_code

    def item_code(to_account, entry, custom_tags):
        return original(to_account, measure(entry), custom_tags)

    validator._item_code = item_code


def _chars(text: str) -> str:
    """ASCII text as long in bytes as ``text`` is in characters."""
    return "x" * len(text)


def _wrap_stored(emulator, change):
    """Store ``change(friend)`` for every item that passed validation."""
    validator = emulator.validator
    original = validator._item

    def item(to_account, entry, custom_tags):
        result = original(to_account, entry, custom_tags)
        if result.friend is None:
            return result
        return ImportItem(result.to_account, change(result.friend), result.code)

    validator._item = item


def _copy(friend: Friend, **changes) -> Friend:
    fields = {name: getattr(friend, name) for name in Friend.__slots__}
    fields.update(changes)
    return Friend(**fields)


def _limits(emulator, **changes) -> None:
    emulator.model.limits = dataclasses.replace(emulator.model.limits, **changes)


# -- field limits ---------------------------------------------------------------------------------------


@mutant("remark-limit-in-characters", "FI-LIMIT-REMARK-BYTES")
def remark_in_characters(emulator):
    """The 96-byte Remark limit is counted in characters (String.length()), not UTF-8 bytes."""

    def measure(entry):
        remark = entry.get("Remark")
        return {**entry, "Remark": _chars(remark)} if isinstance(remark, str) else entry

    _wrap_item_code(emulator, measure)


@mutant("groupname-limit-in-characters", "FI-LIMIT-GROUPNAME-BYTES")
def groupname_in_characters(emulator):
    """The 30-byte group-name limit is counted in characters, not UTF-8 bytes."""
    validator = emulator.validator

    def groups_code(groups):  # the validator's own check, with len() where it counts bytes
        if groups is None:
            return OK
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return validator.code_types
        for name in groups:
            if not name:
                return validator.code_group_empty
            if len(name) > validator.group_name_bytes:
                return validator.code_group_bytes
        if len(set(groups)) > validator.lists_per_user:
            return validator.code_lists
        return OK

    validator._groups_code = groups_code


@mutant("custom-value-limit-in-characters", "FI-LIMIT-CUSTOM-VALUE-BYTES")
def custom_value_in_characters(emulator):
    """The 500-byte custom Value limit is counted in characters, not UTF-8 bytes."""

    def measure(entry):
        custom = entry.get("CustomItem")
        if not isinstance(custom, list):
            return entry
        measured = [{**c, "Value": _chars(c["Value"])} if isinstance(c, dict) and isinstance(c.get("Value"), str)
                    else c for c in custom]
        return {**entry, "CustomItem": measured}

    _wrap_item_code(emulator, measure)


@mutant("addwording-limit-120-bytes", "FI-LIMIT-ADDWORDING-BYTES")
def addwording_120(emulator):
    """AddWording is capped at 120 bytes, the client SDK's limit, instead of the REST API's 256."""
    emulator.validator.add_wording_bytes = 120


@mutant("empty-groupname-accepted", "FI-LIMIT-GROUPNAME-NONEMPTY")
def empty_groupname_accepted(emulator):
    """An empty group name is not checked: GroupName [""] is imported."""
    validator = emulator.validator
    original = validator._groups_code

    def groups_code(groups):
        if isinstance(groups, list):
            groups = [g for g in groups if g != ""]
        return original(groups)

    validator._groups_code = groups_code


@mutant("addsource-prefix-optional", "FI-LIMIT-ADDSOURCE-FORM")
def addsource_prefix_optional(emulator):
    """AddSource without its AddSource_Type_ prefix ("Android") is accepted."""
    emulator.validator.add_source = re.compile(r"(?:AddSource_Type_)?[A-Za-z]{1,8}")


@mutant("batch-1001-accepted", "FI-LIMIT-BATCH-1000")
def batch_1001_accepted(emulator):
    """The batch check is off by one: 1001 items are accepted."""
    emulator.validator.batch_items += 1


@mutant("non-ascii-remark-refused", "FI-VALID-ITEM-IMPORTED")
def non_ascii_remark_refused(emulator):
    """A Remark with any non-ASCII character is refused (an ASCII-only field check)."""
    validator = emulator.validator
    original = validator._item_code

    def item_code(to_account, entry, custom_tags):
        remark = entry.get("Remark")
        if isinstance(remark, str) and not remark.isascii():
            return validator.code_remark
        return original(to_account, entry, custom_tags)

    validator._item_code = item_code


@mutant("numeric-account-30001", "FI-ACCOUNT-TYPE-60015")
def numeric_account_30001(emulator):
    """A number where an account string belongs gets the generic 30001, not 60015."""
    emulator.validator.code_account_type = 30001


@mutant("private-code-for-long-remark", "FI-CODE-KNOWN")
def private_code_for_long_remark(emulator):
    """A Remark over its limit gets the implementation's private code 30500, which no catalogue lists."""
    emulator.validator.code_remark = 30500


# -- friend tables --------------------------------------------------------------------------------------


@mutant("friend-limit-unenforced", "FI-FRIEND-LIMIT-3000")
def friend_limit_unenforced(emulator):
    """The 3000-friend limit is not enforced."""
    _limits(emulator, friends_per_user=sys.maxsize)


@mutant("friend-limit-off-by-one", "FI-FRIEND-LIMIT-3000")
def friend_limit_off_by_one(emulator):
    """The friend limit is off by one: a 3001st friend is imported."""
    _limits(emulator, friends_per_user=emulator.model.limits.friends_per_user + 1)


@mutant("friend-list-limit-unenforced", "FI-FRIEND-LIST-LIMIT-32")
def friend_list_limit_unenforced(emulator):
    """The 32-lists-per-user limit is checked within one item only, never against the lists a user has."""
    _limits(emulator, friend_lists_per_user=sys.maxsize)


@mutant("friend-list-limit-off-by-one", "FI-FRIEND-LIST-LIMIT-32")
def friend_list_limit_off_by_one(emulator):
    """The friend-list limit is off by one: a 33rd list is created."""
    _limits(emulator, friend_lists_per_user=emulator.model.limits.friend_lists_per_user + 1)


@mutant("two-way-import", "FI-ONE-WAY")
def two_way_import(emulator):
    """Each imported friendship is written both ways (To_Account gets From_Account too)."""
    model = emulator.model
    original = model.friend_import

    def friend_import(app, from_account, items):
        codes = original(app, from_account, items)
        for item, code in zip(items, codes):
            if code == OK and item.friend is not None:
                app.friends.setdefault(item.to_account, {}).setdefault(from_account, Friend(item.friend.add_source))
        return codes

    model.friend_import = friend_import


@mutant("unknown-to-account-created", "FI-ACCOUNT-TO-EXISTS")
def unknown_to_account_created(emulator):
    """A To_Account that was never imported is created on the fly and befriended."""
    model = emulator.model
    original = model.friend_import

    def friend_import(app, from_account, items):
        for item in items:
            if item.code == OK:
                app.accounts.setdefault(item.to_account, None)
        return original(app, from_account, items)

    model.friend_import = friend_import


@mutant("unknown-from-account-created", "FI-ACCOUNT-FROM-EXISTS")
def unknown_from_account_created(emulator):
    """A From_Account that was never imported is created on the fly and gets the friends."""
    model = emulator.model
    original = model.friend_import

    def friend_import(app, from_account, items):
        app.accounts.setdefault(from_account, None)
        return original(app, from_account, items)

    model.friend_import = friend_import


@mutant("refused-item-stored", "FI-LIMIT-REMARK-BYTES", "FI-LIMIT-ADDSOURCE-FORM")
def refused_item_stored(emulator):
    """An item refused for a bad field is answered with its code but written to the friend table anyway."""
    model = emulator.model
    original = model.friend_import

    def friend_import(app, from_account, items):
        codes = original(app, from_account, items)
        if from_account in app.accounts:
            table = app.friends.setdefault(from_account, {})
            for item in items:
                if item.code != OK and item.to_account in app.accounts:
                    table.setdefault(item.to_account, Friend("AddSource_Type_Test"))
        return codes

    model.friend_import = friend_import


@mutant("customitem-not-stored", "FI-ROUND-TRIP")
def customitem_not_stored(emulator):
    """CustomItem is validated but never stored: custom tags read back empty."""
    _wrap_stored(emulator, lambda friend: _copy(friend, custom=()))


@mutant("groupname-first-only", "FI-ROUND-TRIP")
def groupname_first_only(emulator):
    """Only the first name of GroupName is stored (the field is treated as one list name)."""
    _wrap_stored(emulator, lambda friend: _copy(friend, groups=friend.groups[:1]))


@mutant("remark-trimmed", "FI-ROUND-TRIP")
def remark_trimmed(emulator):
    """Remark and AddWording are stored with surrounding whitespace stripped (a common 'clean-up' habit)."""
    _wrap_stored(emulator, lambda friend: _copy(
        friend, remark=friend.remark.strip() if friend.remark else friend.remark,
        add_wording=friend.add_wording.strip() if friend.add_wording else friend.add_wording))
