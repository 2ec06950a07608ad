"""Mutants for the rules the first gallery did not reach: near misses, the companion operations the suite
reads state with, authentication formats, concurrency and sizes (issue 11). One defect each."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

from tests.mutants.base import FRIEND_IMPORT, Answer, Exchange, Wrapped, mutant, rewrite_fail
from tests.mutants.state import _limits

ACCOUNTS = "/v4/im_open_login_svc/"
ACCOUNT_IMPORT, MULTIACCOUNT_IMPORT = ACCOUNTS + "account_import", ACCOUNTS + "multiaccount_import"
ACCOUNT_CHECK, ACCOUNT_DELETE = ACCOUNTS + "account_check", ACCOUNTS + "account_delete"
FRIEND_CHECK, FRIEND_GET_LIST, FRIEND_DELETE = "/v4/sns/friend_check", "/v4/sns/friend_get_list", "/v4/sns/friend_delete"


def _fail(emulator, operation: str, code: int | str) -> Answer:
    """The emulator's own FAIL envelope with ``code``, or with the first code of the rule ``code`` names."""
    code = emulator.spec.rules[code].codes[0] if isinstance(code, str) else code
    body = emulator.envelopes.fail(operation, code)
    return Answer(200, json.dumps(body).encode(), "application/json; charset=utf-8")


def _on_items(key: str, edit):
    """A response hook that calls ``edit(entry)`` on each dict of the answer's ``key`` list."""

    def hook(exchange: Exchange, status: int, body: Any):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            for entry in body[key]:
                if isinstance(entry, dict):
                    edit(entry)
            return status, body
        return None

    return hook


# -- friend_import answers and near misses -------------------------------------------------------------


@mutant("fail-with-resultitem", "FI-FAIL-NO-RESULTITEM")
def fail_with_resultitem(emulator):
    """A refused request still lists every item in ResultItem, with the request's code."""

    def edit(exchange: Exchange, body: dict):
        request = exchange.json()
        items = request.get("AddFriendItem") if isinstance(request, dict) else None
        accounts = [i.get("To_Account") for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        body["ResultItem"] = [{"To_Account": a, "ResultCode": body["ErrorCode"], "ResultInfo": body["ErrorInfo"]}
                              for a in accounts]

    return Wrapped(emulator, on_response=rewrite_fail(edit))


@mutant("account-names-trimmed", "FI-ACCOUNT-NAME-EXACT")
def account_names_trimmed(emulator):
    """Account names are trimmed of whitespace and cut at a NUL before they are looked up (a C-string front end)."""

    def clean(name: Any) -> Any:
        return name.split("\u0000", 1)[0].strip() if isinstance(name, str) else name

    def trim(exchange: Exchange):
        body = exchange.json() if exchange.path == FRIEND_IMPORT else None
        if isinstance(body, dict):
            body["From_Account"] = clean(body.get("From_Account"))
            for entry in body.get("AddFriendItem") or ():
                if isinstance(entry, dict) and "To_Account" in entry:
                    entry["To_Account"] = clean(entry["To_Account"])
            exchange.body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return None

    return Wrapped(emulator, on_request=trim)


@mutant("time-fields-int32", "FI-TIME-FIELD-UINT32")
def time_fields_int32(emulator):
    """RemarkTime and AddTime are kept in a signed 32-bit integer: a time past 2038 is refused with 30001."""
    validator = emulator.validator
    original = validator._item_code
    refused = emulator.spec.rules["OPEN-TIME-FIELD-RANGE"].codes[0]

    def item_code(to_account, entry, custom_tags):
        times = [entry.get(key) for key in ("RemarkTime", "AddTime") if isinstance(entry, dict)]
        if any(type(t) is int and t > 2**31 - 1 for t in times):
            return refused
        return original(to_account, entry, custom_tags)

    validator._item_code = item_code


class _AnyTag(frozenset):
    """A configured-tag set that contains every tag."""

    def __contains__(self, item: object) -> bool:
        return True


@mutant("custom-tags-unchecked", "FI-LIMIT-CUSTOM-TAG-FORM")
def custom_tags_unchecked(emulator):
    """Custom tags are matched with `re.match("Tag_SNS_Custom_\\w+$")` and never against the configured list, so a
    digit, a non-English letter or a trailing newline is stored under the malformed name."""
    validator = emulator.validator
    loose = re.compile(r"Tag_SNS_Custom_\w+$")
    validator.custom_tag = type("Loose", (), {"fullmatch": staticmethod(loose.match)})()
    item_code, item = validator._item_code, validator._item
    validator._item_code = lambda to, entry, tags: item_code(to, entry, _AnyTag())
    validator._item = lambda to, entry, tags: item(to, entry, _AnyTag())


@mutant("random-max-refused", "FI-QUERY-PARAMS")
def random_max_refused(emulator):
    """random is parsed with `value < 2**32 - 1`: the largest documented value, 4294967295, is refused with 60002."""

    def check(exchange: Exchange):
        if dict(exchange.query_pairs).get("random") == str(2**32 - 1):
            operation = emulator.spec.operation_by_path(exchange.path)
            return _fail(emulator, operation.name if operation else "", "FI-CONTENTTYPE-PARAM")
        return None

    return Wrapped(emulator, on_request=check)


@mutant("deep-nesting-timeout", "FI-DEEP-NESTING")
def deep_nesting_timeout(emulator):
    """A body nested too deeply for the parser is answered 60008 (service timeout), not as a parse error."""

    def check(exchange: Exchange):
        try:
            json.loads(exchange.body)
        except RecursionError:
            return _fail(emulator, "friend_import", 60008)
        except (ValueError, UnicodeDecodeError):
            pass
        return None

    return Wrapped(emulator, on_request=check)


@mutant("body-cap-4-mib", "FI-BODY-SIZE")
def body_cap_4_mib(emulator):
    """The request body is capped at 4 MiB (a framework default), below the largest valid request."""
    emulator.config.max_body_bytes = 4 * 2**20


@mutant("conflict-reported-after-commit", "FI-WRITE-CONFLICT")
def conflict_reported_after_commit(emulator):
    """Overlapping imports for one user are answered 30008 although each was written: the conflict is noticed
    after the commit."""
    return _ConflictAfterCommit(emulator)


class _ConflictAfterCommit:
    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.writing: Counter = Counter()
        self.overlapped: set[str] = set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != FRIEND_IMPORT:
            return await self.emulator(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        exchange = Exchange(scope, b"".join(chunks))
        body = exchange.json()
        owner = body.get("From_Account") if isinstance(body, dict) else None
        self.writing[owner] += 1
        if self.writing[owner] > 1:
            self.overlapped.add(owner)
        await asyncio.sleep(0.01)  # the write takes a while: overlapping writes for one owner overlap here
        conflict = self.emulator.spec.rules["FI-WRITE-CONFLICT"].codes[0]

        def hook(ex: Exchange, status: int, answer: Any):
            if owner in self.overlapped and isinstance(answer, dict) and answer.get("ActionStatus") == "OK":
                for entry in answer.get("ResultItem") or ():
                    entry.update(ResultCode=conflict, ResultInfo="Err_SNS_FriendImport_Write_Conflict")
                answer["Fail_Account"] = [e["To_Account"] for e in answer.get("ResultItem") or ()]
                return status, answer
            return None

        try:
            replay = iter([{"type": "http.request", "body": exchange.body, "more_body": False}])
            await Wrapped(self.emulator, on_response=hook)(scope, lambda: _next(replay, receive), send)
        finally:
            self.writing[owner] -= 1
            if not self.writing[owner]:
                self.overlapped.discard(owner)


async def _next(messages, receive):
    return next(messages, None) or await receive()


# -- UserSigs --------------------------------------------------------------------------------------------------


@mutant("usersig-single-use", "FI-AUTH-USERSIG-REUSE")
def usersig_single_use(emulator):
    """A UserSig is accepted once: the verifier keeps every signature it has seen and refuses it again (70003)."""
    seen: set[str] = set()

    def check(exchange: Exchange):
        sig = dict(exchange.query_pairs).get("usersig")
        if sig is None or emulator.spec.operation_by_path(exchange.path) is None:
            return None
        if sig in seen:
            return _fail(emulator, emulator.spec.operation_by_path(exchange.path).name, "FI-AUTH-USERSIG-MALFORMED")
        seen.add(sig)
        return None

    return Wrapped(emulator, on_request=check)


@mutant("usersig-padding-required", "FI-AUTH-USERSIG-FORMATS")
def usersig_padding_required(emulator):
    """UserSigs are decoded as strict base64: one whose '_' padding was stripped (as some clients send it) is
    refused with 70003."""

    def check(exchange: Exchange):
        sig = dict(exchange.query_pairs).get("usersig")
        operation = emulator.spec.operation_by_path(exchange.path)
        if sig and operation is not None and len(sig) % 4:
            return _fail(emulator, operation.name, "FI-AUTH-USERSIG-MALFORMED")
        return None

    return Wrapped(emulator, on_request=check)


# -- the account service ---------------------------------------------------------------------------------------


@mutant("account-check-not-rate-limited", "SUPPORT-RATE-LIMIT-100")
def account_check_not_rate_limited(emulator):
    """account_check gets the 200/s limit of every other API instead of its own 100/s."""
    rate = emulator._rate
    emulator._rate = lambda operation: 200 if rate(operation) is not None else None


@mutant("multiaccount-import-refuses-underscore", "SUPPORT-MULTIACCOUNT-IMPORT")
def multiaccount_import_refuses_underscore(emulator):
    """multiaccount_import accepts letters and digits only: a UserID with '_' (documented as allowed) fails."""
    model = emulator.model
    original = model.multiaccount_import

    def multiaccount_import(app, user_ids):
        failed = [u for u in user_ids if "_" in u]
        return original(app, [u for u in user_ids if u not in failed]) + failed

    model.multiaccount_import = multiaccount_import


@mutant("account-reimport-resets-friends", "SUPPORT-ACCOUNT-IMPORT-IDEMPOTENT")
def account_reimport_resets_friends(emulator):
    """account_import of an existing account creates it anew, and its friends are lost."""
    model = emulator.model
    original = model.account_import

    def account_import(app, user_id, profile=None):
        if user_id in app.accounts:
            app.friends.pop(user_id, None)
            app.lists.pop(user_id, None)
        return original(app, user_id, profile)

    model.account_import = account_import


@mutant("account-import-userid-key-only", "SUPPORT-ACCOUNT-IMPORT-KEY")
def account_import_userid_key_only(emulator):
    """account_import reads only the current key UserID: the older Identifier is refused as a missing field."""

    def check(exchange: Exchange):
        body = exchange.json() if exchange.path == ACCOUNT_IMPORT else None
        if isinstance(body, dict) and "UserID" not in body:
            return _fail(emulator, "account_import", 70402)  # invalid parameter: "UserID" is missing
        return None

    return Wrapped(emulator, on_request=check)


@mutant("account-errorinfo-missing", "SUPPORT-ACCOUNT-ENVELOPE")
def account_errorinfo_missing(emulator):
    """The account service's answers leave out ErrorInfo."""

    def hook(exchange: Exchange, status: int, body: Any):
        if isinstance(body, dict):
            body.pop("ErrorInfo", None)
            return status, body
        return None

    return Wrapped(emulator, on_response=hook, paths=(ACCOUNT_IMPORT, ACCOUNT_CHECK, ACCOUNT_DELETE))


@mutant("account-check-always-imported", "SUPPORT-ACCOUNT-CHECK-STATUS")
def account_check_always_imported(emulator):
    """account_check answers Imported for every UserID, imported or not."""
    return Wrapped(emulator, on_response=_on_items("ResultItem", lambda e: e.update(AccountStatus="Imported")),
                   paths=(ACCOUNT_CHECK,))


@mutant("account-delete-claims-success", "SUPPORT-ACCOUNT-DELETE-FREE-TRIAL")
def account_delete_claims_success(emulator):
    """On a paid app, account_delete answers ResultCode 0 for an imported account it did not delete."""
    kept = emulator.spec.rules["SUPPORT-ACCOUNT-DELETE-FREE-TRIAL"].codes[0]

    def edit(entry: dict) -> None:
        if entry.get("ResultCode") == kept:
            entry.update(ResultCode=0, ResultInfo="")

    return Wrapped(emulator, on_response=_on_items("ResultItem", edit), paths=(ACCOUNT_DELETE,))


@mutant("account-delete-keeps-friends", "SUPPORT-ACCOUNT-DELETE-CASCADE")
def account_delete_keeps_friends(emulator):
    """A Free Trial app deletes the account but not its friend table: imported again, it has its old friends."""
    emulator.app_state.edition = "free-trial"
    _limits(emulator, free_trial_accounts=10**9)  # the suite imports thousands of accounts
    model = emulator.model
    model._delete_account = lambda app, user_id: app.accounts.pop(user_id, None)


# -- the SNS read-back operations -------------------------------------------------------------------------------


@mutant("friend-get-list-first-50", "SUPPORT-FRIEND-GET-LIST-INFOITEM")
def friend_get_list_first_50(emulator):
    """friend_get_list answers the first 50 of the To_Accounts asked and drops the rest (a page size)."""

    def hook(exchange: Exchange, status: int, body: Any):
        if isinstance(body, dict) and isinstance(body.get("InfoItem"), list) and len(body["InfoItem"]) > 50:
            body["InfoItem"] = body["InfoItem"][:50]
            return status, body
        return None

    return Wrapped(emulator, on_response=hook, paths=(FRIEND_GET_LIST,))


@mutant("friend-get-list-non-friend-ok", "SUPPORT-FRIEND-GET-LIST-NOT-FRIEND")
def friend_get_list_non_friend_ok(emulator):
    """friend_get_list answers a non-friend with ResultCode 0 and no values, not 30001."""

    def edit(entry: dict) -> None:
        if entry.get("ResultCode"):
            entry.update(ResultCode=0, ResultInfo="", SnsProfileItem=[])

    return Wrapped(emulator, on_response=_on_items("InfoItem", edit), paths=(FRIEND_GET_LIST,))


@mutant("friend-delete-idempotent", "SUPPORT-FRIEND-DELETE-NOT-FRIEND")
def friend_delete_idempotent(emulator):
    """friend_delete of a non-friend answers ResultCode 0 (deleting nothing succeeds), not 31704."""

    def edit(entry: dict) -> None:
        if entry.get("ResultCode"):
            entry.update(ResultCode=0, ResultInfo="")

    def hook(exchange: Exchange, status: int, body: Any):
        changed = _on_items("ResultItem", edit)(exchange, status, body)
        if changed is not None:
            changed[1].pop("Fail_Account", None)
        return changed

    return Wrapped(emulator, on_response=hook, paths=(FRIEND_DELETE,))


@mutant("friend-check-sorted-relations", "SUPPORT-FRIEND-CHECK-RELATION")
def friend_check_sorted_relations(emulator):
    """friend_check computes relations for the To_Accounts sorted, but labels them in request order."""

    def hook(exchange: Exchange, status: int, body: Any):
        infos = body.get("InfoItem") if isinstance(body, dict) else None
        if not isinstance(infos, list) or len(infos) < 2:
            return None
        relations = [i.get("Relation") for i in sorted(infos, key=lambda i: str(i.get("To_Account")))]
        for info, relation in zip(infos, relations):
            info["Relation"] = relation
        return status, body

    return Wrapped(emulator, on_response=hook, paths=(FRIEND_CHECK,))
