"""One handler per operation of openapi.yaml: JSON body in, response payload out.

Handlers translate between JSON and the model; they hold no state and know nothing of HTTP.
A handler raises :class:`ApiError` to refuse the whole request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from timconform.emulator.codes import ACCOUNT_BATCH_COUNT, ACCOUNT_PARAM_ERROR, ID_NOT_STRING, OK, SNS_PARAM_ERROR
from timconform.emulator.envelope import Envelopes
from timconform.emulator.errors import ApiError
from timconform.emulator.faults import Fault
from timconform.emulator.model import App, Friend, ImportItem, Model
from timconform.emulator.validation import ImportValidator, utf8_len

STANDARD_TAGS: dict[str, Callable[[Friend], Any]] = {
    "Tag_SNS_IM_AddSource": lambda f: f.add_source,
    "Tag_SNS_IM_Remark": lambda f: f.remark,
    "Tag_SNS_IM_Group": lambda f: list(f.groups) if f.groups else None,
    "Tag_SNS_IM_AddWording": lambda f: f.add_wording,
    "Tag_SNS_IM_AddTime": lambda f: f.add_time,
}
PROFILE_TAGS = {"Tag_Profile_IM_Nick": 0, "Tag_Profile_IM_Image": 1}


@dataclass
class Call:
    """What a handler needs for one call: the app, the model, and the faults hitting this call."""

    model: Model
    app: App
    envelopes: Envelopes
    validator: ImportValidator
    item_faults: tuple[Fault, ...] = ()


def friend_import(call: Call, body: Any) -> dict[str, Any]:
    from_account, items = call.validator.parse(body, call.app.custom_tags)
    for fault in call.item_faults:
        items = [ImportItem(i.to_account, None, fault.code) if i.code == OK and fault.hits_item(n) else i
                 for n, i in enumerate(items)]
    codes = call.model.friend_import(call.app, from_account, items)
    results = [(item.to_account, code) for item, code in zip(items, codes)]
    return call.envelopes.ok("friend_import", call.envelopes.result_items("friend_import", results))


def account_import(call: Call, body: Any) -> dict[str, Any]:
    _require_object(body, ACCOUNT_PARAM_ERROR)
    user_id = body.get("UserID", body.get("Identifier"))
    user_id = _new_account(_string_id(user_id, ACCOUNT_PARAM_ERROR), call.validator.user_id_bytes)
    nick, face = body.get("Nick"), body.get("FaceUrl")
    if not all(v is None or isinstance(v, str) for v in (nick, face)):
        raise ApiError(ACCOUNT_PARAM_ERROR)
    profile = (nick or "", face or "") if nick is not None or face is not None else None
    call.model.account_import(call.app, user_id, profile)
    return call.envelopes.ok("account_import")


def multiaccount_import(call: Call, body: Any) -> dict[str, Any]:
    accounts = _id_list(body, "Accounts", ACCOUNT_PARAM_ERROR, call.model.limits_for("multiaccount_import"),
                        ACCOUNT_BATCH_COUNT)
    accounts = [_new_account(a, call.validator.user_id_bytes) for a in accounts]
    failed = call.model.multiaccount_import(call.app, accounts)
    return call.envelopes.ok("multiaccount_import", {"FailAccounts": failed} if failed else {})


def account_check(call: Call, body: Any) -> dict[str, Any]:
    user_ids = _user_items(body, "CheckItem", call.model.limits_for("account_check"))
    items = [{"UserID": user_id, "ResultCode": 0, "ResultInfo": "",
              "AccountStatus": "Imported" if imported else "NotImported"}
             for user_id, imported in call.model.account_check(call.app, user_ids)]
    return call.envelopes.ok("account_check", {"ResultItem": items})


def account_delete(call: Call, body: Any) -> dict[str, Any]:
    user_ids = _user_items(body, "DeleteItem", call.model.limits_for("account_delete"))
    results = call.model.account_delete(call.app, user_ids)
    payload = call.envelopes.result_items("account_delete", results, key="UserID", fail_key=None)
    return call.envelopes.ok("account_delete", payload)


def friend_check(call: Call, body: Any) -> dict[str, Any]:
    from_account, to_accounts = _sns_pair(body, call.model.limits_for("friend_check"))
    check_type = body.get("CheckType")
    if check_type not in ("CheckResult_Type_Single", "CheckResult_Type_Both"):
        raise ApiError(SNS_PARAM_ERROR, "CheckType must be CheckResult_Type_Single or CheckResult_Type_Both")
    relations = call.model.friend_check(call.app, from_account, to_accounts, check_type == "CheckResult_Type_Both")
    items = [{"To_Account": to, "Relation": relation, "ResultCode": 0, "ResultInfo": ""} for to, relation in relations]
    return call.envelopes.ok("friend_check", {"InfoItem": items})


def friend_get_list(call: Call, body: Any) -> dict[str, Any]:
    from_account, to_accounts = _sns_pair(body, call.model.limits_for("friend_get_list"))
    tags = body.get("TagList")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise ApiError(SNS_PARAM_ERROR, "TagList must be a non-empty array of tag names")
    envelopes = call.envelopes
    items, failed = [], []
    for to_account in to_accounts:
        friend = call.model.friend_get(call.app, from_account, to_account)
        if friend is None:
            items.append({"To_Account": to_account, "ResultCode": SNS_PARAM_ERROR,
                          "ResultInfo": envelopes.info(SNS_PARAM_ERROR, "friend_get_list")})
            failed.append(to_account)
            continue
        values = _tag_values(call, to_account, friend, tags)
        items.append({"To_Account": to_account, "SnsProfileItem": values, "ResultCode": 0, "ResultInfo": ""})
    payload: dict[str, Any] = {"InfoItem": items}
    if failed:
        payload["Fail_Account"] = failed
    return envelopes.ok("friend_get_list", payload)


def friend_delete(call: Call, body: Any) -> dict[str, Any]:
    from_account, to_accounts = _sns_pair(body, call.model.limits_for("friend_delete"))
    delete_type = body.get("DeleteType", "Delete_Type_Single")
    if delete_type not in ("Delete_Type_Single", "Delete_Type_Both"):
        raise ApiError(SNS_PARAM_ERROR, "DeleteType must be Delete_Type_Single or Delete_Type_Both")
    codes = call.model.friend_delete(call.app, from_account, to_accounts, delete_type == "Delete_Type_Both")
    return call.envelopes.ok("friend_delete", call.envelopes.result_items("friend_delete", zip(to_accounts, codes)))


HANDLERS: dict[str, Callable[[Call, Any], dict[str, Any]]] = {
    "friend_import": friend_import, "account_import": account_import, "multiaccount_import": multiaccount_import,
    "account_check": account_check, "account_delete": account_delete, "friend_check": friend_check,
    "friend_get_list": friend_get_list, "friend_delete": friend_delete,
}
WRITES = frozenset({"friend_import", "friend_delete"})


def _tag_values(call: Call, to_account: str, friend: Friend, tags: list[str]) -> list[dict[str, Any]]:
    """Stored values of the requested tags; a field that was never imported is left out."""
    custom = dict(friend.custom)
    profile = call.model.store.profile(call.app, to_account)
    values = []
    for tag in tags:
        if tag in STANDARD_TAGS:
            value = STANDARD_TAGS[tag](friend)
        elif tag in PROFILE_TAGS:
            value = profile[PROFILE_TAGS[tag]] if profile else None
        else:
            value = custom.get(tag)
        if value is not None:
            values.append({"Tag": tag, "Value": value})
    return values


def _require_object(body: Any, code: int) -> None:
    if not isinstance(body, dict):
        raise ApiError(code, "The request body must be a JSON object")


def _string_id(value: Any, missing_code: int) -> str:
    if value is None:
        raise ApiError(missing_code, "A required account is missing")
    if not isinstance(value, str):
        raise ApiError(ID_NOT_STRING, "An account must be a string")
    return value


def _new_account(user_id: str, max_bytes: int) -> str:
    """An account name account_import can create: 1 to 32 UTF-8 bytes (FI-LIMIT-USERID-BYTES, api-facts §4.4)."""
    if not user_id or utf8_len(user_id) > max_bytes:
        raise ApiError(ACCOUNT_PARAM_ERROR, f"An account name must be 1 to {max_bytes} bytes")
    return user_id


def _id_list(body: Any, key: str, code: int, maximum: int, oversize_code: int | None = None) -> list[str]:
    _require_object(body, code)
    values = body.get(key)
    if isinstance(values, list) and len(values) > maximum:
        raise ApiError(oversize_code or code, f"{key} must be an array of 1 to {maximum} accounts")
    if not isinstance(values, list) or not values:
        raise ApiError(code, f"{key} must be an array of 1 to {maximum} accounts")
    return [_string_id(v, code) for v in values]


def _user_items(body: Any, key: str, maximum: int) -> list[str]:
    _require_object(body, ACCOUNT_PARAM_ERROR)
    entries = body.get(key)
    if isinstance(entries, list) and len(entries) > maximum:
        raise ApiError(ACCOUNT_BATCH_COUNT, f"{key} must be an array of 1 to {maximum} items")
    if not isinstance(entries, list) or not entries:
        raise ApiError(ACCOUNT_PARAM_ERROR, f"{key} must be an array of 1 to {maximum} items")
    if not all(isinstance(e, dict) for e in entries):
        raise ApiError(ACCOUNT_PARAM_ERROR, f"each {key} entry must be an object with a UserID")
    return [_string_id(e.get("UserID"), ACCOUNT_PARAM_ERROR) for e in entries]


def _sns_pair(body: Any, maximum: int) -> tuple[str, list[str]]:
    _require_object(body, SNS_PARAM_ERROR)
    from_account = _string_id(body.get("From_Account"), SNS_PARAM_ERROR)
    return from_account, _id_list(body, "To_Account", SNS_PARAM_ERROR, maximum)
