"""Preloading accounts and friendships from a file (``--accounts FILE``, YAML or JSON).

Format::

    accounts: [alice, bob, carol]          # UserIDs to import
    friends:                               # one-way friend tables, items as friend_import takes them
      alice:
        - {To_Account: bob, AddSource: AddSource_Type_Web, GroupName: [Team]}

Every friendship is checked with friend_import's own field rules, so a file cannot hold state that
the API could never have produced; limits across friendships (3000 friends, 32 lists) are checked too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


from timconform.inputs import InputError, read_document
from timconform.emulator.errors import ApiError
from timconform.emulator.codes import OK
from timconform.emulator.model import App, Model
from timconform.emulator.validation import ImportValidator, utf8_len


class PreloadError(ValueError):
    """The preload file is unreadable or holds state the API could not have produced."""


def read(path: Path) -> dict[str, Any]:
    try:
        data = read_document(path, "accounts file")
    except InputError as exc:
        raise PreloadError(str(exc)) from None
    if not isinstance(data, dict) or not set(data) <= {"accounts", "friends"}:
        raise PreloadError(f"accounts file {path}: expected a mapping with 'accounts' and 'friends'")
    return data


def load(model: Model, app: App, path: Path, validator: ImportValidator) -> None:
    data = read(path)
    accounts = data.get("accounts", [])
    if accounts is None:
        accounts = []
    if not isinstance(accounts, list) or not all(isinstance(a, str) and a for a in accounts):
        raise PreloadError(f"accounts file {path}: 'accounts' must be a list of UserIDs")
    for account in accounts:
        # The checks account_import makes over HTTP: at most 32 UTF-8 bytes, and the Free Trial account cap.
        if utf8_len(account) > validator.user_id_bytes:
            raise PreloadError(f"accounts file {path}: account {account!r} is longer than "
                               f"{validator.user_id_bytes} bytes")
        try:
            model.account_import(app, account)
        except ApiError as error:
            raise PreloadError(f"accounts file {path}: account {account!r} refused with code {error.code}") from None
    friends = data.get("friends", {})
    friends = {} if friends is None else friends
    if not isinstance(friends, dict):
        raise PreloadError(f"accounts file {path}: 'friends' must map a UserID to a list of friend items")
    for owner, entries in friends.items():
        if isinstance(entries, list) and isinstance(owner, str):
            # A shared store may hold them from an earlier start: what is there already is kept as it is.
            present = set(model.store.friends_of(app, owner))
            missing = [e for e in entries if not (isinstance(e, dict) and e.get("To_Account") in present)]
            if entries and not missing:
                continue
            entries = missing
        try:
            _, items = validator.parse({"From_Account": owner, "AddFriendItem": entries}, app.custom_tags)
            codes = model.friend_import(app, owner, items)
        except ApiError as error:
            raise PreloadError(f"accounts file {path}: friends of {owner!r} refused with code {error.code}") from None
        refused = [(item.to_account, code) for item, code in zip(items, codes) if code != OK]
        if refused:
            account, code = refused[0]
            raise PreloadError(f"accounts file {path}: friend {account!r} of {owner!r} refused with code {code}")
