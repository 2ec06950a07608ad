#!/usr/bin/env python3
"""A well-behaved friend_import client (standard library only), and its certify-client adapter.

What it does, rule by rule (schemas/rules.yaml):

- batches of at most 1000 items, sent one after another for a From_Account (CL-BATCH-1000, and no
  self-inflicted 30008 write conflicts);
- a fresh ``random`` for every request, the query built with ``urlencode`` (CL-RANDOM-FRESH,
  CL-QUERY-PARAMS);
- a TLS sig v2 UserSig made from the secret key, reused until 10 minutes before it expires, and made
  again after 70001/70052 (CL-USERSIG-VALID, CL-RENEW-USERSIG-70001);
- ``Content-Type: application/json; charset=utf-8`` (CL-JSON-CONTENT-TYPE);
- retries with exponential backoff and jitter on 30006, 30007, 30008, the rate-limit codes, other
  server-side transient codes, HTTP 5xx, non-JSON answers and timeouts; never on permanent codes
  (CL-RETRY-TRANSIENT, CL-RETRY-BACKOFF, CL-RECOVER-30008, CL-RECOVER-RATE-LIMIT,
  CL-SURVIVE-502-TIMEOUT, CL-NO-RETRY-PERMANENT);
- a 5 s timeout, above the documented 3 s server-side timeout, and at most 100 calls/s (CL-RATE-200);
- success judged per item by ResultCode, never by Fail_Account or Invalid_Account, so both the current
  and the older answer shape work (CL-TOLERATE-OLD-SHAPE); failed items are reported to the caller
  (CL-REPORT-PARTIAL-FAILURE);
- after an attempt whose outcome is unknown (a timeout, a 5xx), a retried item answered 30001 may
  have been imported by that attempt: friend_check decides.

As a library::

    client = FriendImportClient("https://adminapisgp.im.qcloud.com", 1400000000, "administrator", key)
    result = client.import_friends("alice", [{"To_Account": "bob", "AddSource": "AddSource_Type_Web"}])
    if not result.ok:
        print(result.failed)    # {"bob": (30003, "...")}

As an adapter (examples/README.md)::

    timconform certify-client -- python examples/reference_client.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import secrets
import socket
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

DEFAULT_BASE_URL = "https://console.tim.qq.com"
BATCH_SIZE = 1000
# Codes worth trying again (the error catalogue's retry "yes" or "backoff"), and codes that ask for a new UserSig.
RETRYABLE = frozenset({30006, 30007, 30008, 60007, 60008, 60011, 60013, 60014, 60018, 60019, 70050, 70169, 70202,
                       70500, 40006})
RENEW_USERSIG = frozenset({70001, 70052})
ALREADY_A_FRIEND = 30001  # what a retried item gets when the attempt before it was applied after all


@dataclass
class ImportResult:
    imported: list[str] = field(default_factory=list)
    failed: dict[str, tuple[int, str]] = field(default_factory=dict)  # To_Account -> (code, info)

    @property
    def ok(self) -> bool:
        return not self.failed


class RequestFailed(Exception):
    """A whole request was refused for good, or every attempt failed."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(f"{code} {info}")
        self.code, self.info = code, info


def make_usersig(sdkappid: int, identifier: str, secret_key: str, *, expire: int, now: int) -> str:
    """TLS sig v2: HMAC-SHA256 over the four lines, a JSON document, zlib, base64 with Tencent's substitutions."""
    content = f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{now}\nTLS.expire:{expire}\n"
    digest = hmac.new(secret_key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).digest()
    document = {"TLS.ver": "2.0", "TLS.identifier": identifier, "TLS.sdkappid": sdkappid, "TLS.expire": expire,
                "TLS.time": now, "TLS.sig": base64.b64encode(digest).decode("ascii")}
    packed = zlib.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"))
    return base64.b64encode(packed).decode("ascii").translate(str.maketrans("+/=", "*-_"))


class FriendImportClient:
    def __init__(self, base_url: str, sdkappid: int, identifier: str, secret_key: str, *, timeout: float = 5.0,
                 max_attempts: int = 6, backoff_base: float = 0.2, backoff_cap: float = 5.0,
                 usersig_lifetime: int = 86400, max_qps: float = 100.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self.sdkappid, self.identifier, self._key = sdkappid, identifier, secret_key
        self.timeout, self.max_attempts = timeout, max_attempts
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.usersig_lifetime = usersig_lifetime
        self._interval = 1.0 / max_qps
        self._sleep, self._clock = sleep, clock
        self._usersig: tuple[str, int] | None = None  # (usersig, TLS.time)
        self._last_send = 0.0
        self._opener = urllib.request.build_opener()  # honours HTTPS_PROXY / NO_PROXY like any urllib client

    @classmethod
    def from_env(cls, env=os.environ) -> FriendImportClient:
        return cls(env.get("TIMCONFORM_TARGET") or DEFAULT_BASE_URL, int(env["TIMCONFORM_SDKAPPID"]),
                   env["TIMCONFORM_IDENTIFIER"], env["TIMCONFORM_SECRET_KEY"])

    # -- the API ----------------------------------------------------------------------------------

    def import_friends(self, from_account: str, items: Sequence[dict[str, Any]]) -> ImportResult:
        """Import ``items`` for ``from_account`` in batches of at most 1000; never raises for a refused item."""
        result = ImportResult()
        for start in range(0, len(items), BATCH_SIZE):
            batch = list(items[start:start + BATCH_SIZE])
            try:
                self._import_batch(from_account, batch, result)
            except RequestFailed as failure:
                for item in batch:
                    if item["To_Account"] not in result.imported:
                        result.failed.setdefault(item["To_Account"], (failure.code, failure.info))
        return result

    def _import_batch(self, from_account: str, batch: list[dict[str, Any]], result: ImportResult) -> None:
        pending, attempts = batch, 0
        while pending:
            answer, uncertain, used = self.call("sns/friend_import", {"From_Account": from_account,
                                                                       "AddFriendItem": pending}, attempts)
            attempts += used
            by_account = {r.get("To_Account"): r for r in answer.get("ResultItem") or [] if isinstance(r, dict)}
            retry, check = [], []
            for item in pending:
                account = item["To_Account"]
                answered = by_account.get(account)
                code = answered.get("ResultCode") if answered else None
                info = str(answered.get("ResultInfo", "")) if answered else "no ResultItem for this account"
                if code == 0:
                    result.imported.append(account)
                elif code in RETRYABLE:
                    retry.append(item)
                elif code == ALREADY_A_FRIEND and uncertain:
                    check.append(account)
                else:
                    result.failed[account] = (code if isinstance(code, int) else -1, info)
            if check:
                friends = self.already_friends(from_account, check)
                for account in check:
                    if account in friends:
                        result.imported.append(account)
                    else:
                        result.failed[account] = (ALREADY_A_FRIEND, "refused after an attempt with unknown outcome")
            pending = retry
            if pending:
                if attempts >= self.max_attempts:
                    for item in pending:
                        result.failed[item["To_Account"]] = (-1, f"still failing after {attempts} attempts")
                    return
                self._backoff(attempts)

    def already_friends(self, from_account: str, accounts: list[str]) -> set[str]:
        answer, _, _ = self.call("sns/friend_check", {"From_Account": from_account, "To_Account": accounts,
                                                      "CheckType": "CheckResult_Type_Single"}, 0)
        return {i.get("To_Account") for i in answer.get("InfoItem") or []
                if isinstance(i, dict) and i.get("Relation") == "CheckResult_Type_AWithB"}

    # -- one operation, with retries --------------------------------------------------------------

    def call(self, path: str, body: dict[str, Any], attempts_so_far: int) -> tuple[dict[str, Any], bool, int]:
        """POST until an OK answer: (the answer, whether an earlier attempt's outcome is unknown, attempts used).

        Raises RequestFailed for a permanent refusal or when the attempts run out.
        """
        uncertain, used, renewed = False, 0, 0
        while True:
            used += 1
            status, answer, problem = self._post(path, body)
            if problem is None and answer.get("ActionStatus") == "OK" and answer.get("ErrorCode", 0) == 0:
                return answer, uncertain, used
            code = answer.get("ErrorCode") if problem is None else None
            if code in RENEW_USERSIG and renewed < 2:
                renewed += 1
                self._renew_usersig()
                continue
            if problem is None and code not in RETRYABLE:
                raise RequestFailed(code if isinstance(code, int) else -1, str(answer.get("ErrorInfo", "")))
            if problem is not None and status is not None and status < 500 and status != 429:
                raise RequestFailed(-status, problem)  # an HTTP refusal that will not change (e.g. 403)
            uncertain = uncertain or problem is not None  # the server may have applied an attempt it never answered
            if attempts_so_far + used >= self.max_attempts:
                raise RequestFailed(code if isinstance(code, int) else -1, problem or f"ErrorCode {code}, gave up")
            self._backoff(attempts_so_far + used)

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int | None, dict[str, Any], str | None]:
        """(HTTP status, parsed answer, what went wrong in transport or None)."""
        query = urlencode({"sdkappid": self.sdkappid, "identifier": self.identifier, "usersig": self._current_usersig(),
                           "random": secrets.randbelow(2**32), "contenttype": "json"})
        request = urllib.request.Request(f"{self.base_url}/v4/{path}?{query}", method="POST",
                                         data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        self._pace()
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, {}, f"HTTP {error.code}"
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError,
                http.client.HTTPException) as error:
            return None, {}, f"{type(error).__name__}: {getattr(error, 'reason', error)}"
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return status, {}, "the answer is not JSON"
        if not isinstance(answer, dict):
            return status, {}, "the answer is not a JSON object"
        return status, answer, None

    # -- pacing, backoff, UserSig -----------------------------------------------------------------

    def _pace(self) -> None:
        wait = self._last_send + self._interval - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        self._last_send = time.monotonic()

    def _backoff(self, attempt: int) -> None:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempt - 1))
        self._sleep(ceiling / 2 + random.uniform(0, ceiling / 2))  # "equal jitter": never less than half

    def _current_usersig(self) -> str:
        now = int(self._clock())
        if self._usersig is None or now >= self._usersig[1] + self.usersig_lifetime - 600:
            self._usersig = (make_usersig(self.sdkappid, self.identifier, self._key, expire=self.usersig_lifetime,
                                          now=now), now)
        return self._usersig[0]

    def _renew_usersig(self) -> None:
        """Make a new UserSig for the next request (the documented remedy for 70001 and its kin)."""
        self._usersig = None


def main() -> int:
    """The adapter: hand each import of TIMCONFORM_SCENARIO_INPUT to the client once; exit 0 iff it reports success."""
    with open(os.environ["TIMCONFORM_SCENARIO_INPUT"], encoding="utf-8") as handle:
        data = json.load(handle)
    client = FriendImportClient.from_env()
    ok = True
    for one in data if isinstance(data, list) else [data]:
        result = client.import_friends(one["From_Account"], one["AddFriendItem"])
        if not result.ok:
            ok = False
            shown = ", ".join(f"{account} ({code} {info})" for account, (code, info) in list(result.failed.items())[:5])
            print(f"{len(result.imported)} imported, {len(result.failed)} failed: {shown}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
