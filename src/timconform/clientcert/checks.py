"""Pure checks of what a client sent: one request at a time, and the stream of requests of one process.

Each check reports to a :class:`~timconform.oracle.recorder.Recorder` under the id of its CL- rule
(schemas/rules.yaml), so the verdict follows the rule's strength (documented: Fail; inferred: Warn,
Fail with --strict) exactly as in the suite.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from timconform.clientcert.recording import Recorded, query_value_bad_chars
from timconform.oracle.recorder import CheckFailed, Recorder
from timconform.report.redact import PLACEHOLDER
from timconform.spec import Spec

QUERY_NAMES = ("sdkappid", "identifier", "usersig", "random", "contenttype")
RETRY_STATUSES = frozenset({502, 503, 504})
MIN_BACKOFF_S = 0.05  # CL-RETRY-BACKOFF: the least wait before a retry that counts as backing off
RANDOM_MAX = 4294967295

# Rules judged on each request or on the stream of requests (certify-client and the proxy alike).
REQUEST_RULES = ("CL-REQUEST-VALID", "CL-QUERY-PARAMS", "CL-USERSIG-VALID", "CL-BATCH-1000", "CL-JSON-CONTENT-TYPE")
STREAM_RULES = ("CL-RANDOM-FRESH", "CL-RATE-200", "CL-RETRY-BACKOFF", "CL-NO-RETRY-PERMANENT")


@dataclass(frozen=True)
class Expected:
    """What the client was configured with (None: unknown, e.g. live traffic through the proxy)."""

    sdkappid: int | None = None
    identifier: str | None = None


class Checker:
    def __init__(self, spec: Spec, recorder: Recorder) -> None:
        self.spec, self.recorder = spec, recorder
        self._request_validator = spec.validator("friend_import.request.json")
        self._rate_codes = frozenset(c.code for c in spec.codes.values() if c.klass == "rate-limit")

    # -- plumbing ---------------------------------------------------------------------------------

    def fail(self, rule_id: str, message: str, record: Recorded | None = None, label: str = "") -> None:
        if not self.recorder.enabled(rule_id):
            return
        prefix = f"[{label}] " if label else ""
        self.recorder.failed(CheckFailed(rule_id, prefix + message,
                                         exchange=record.exchange() if record is not None else None))

    def ok(self, rule_id: str) -> None:
        if self.recorder.enabled(rule_id):
            self.recorder.passed(rule_id)

    def verdict(self, rule_id: str, problem: str | None, record: Recorded | None = None, label: str = "") -> None:
        if problem is None:
            self.ok(rule_id)
        else:
            self.fail(rule_id, problem, record, label)

    # -- one request ------------------------------------------------------------------------------

    def request(self, record: Recorded, expected: Expected, label: str = "") -> None:
        """Every per-request rule on one /v4/ request."""
        self.verdict("CL-QUERY-PARAMS", self.query_problem(record, expected), record, label)
        usersig = self.usersig_problem(record, expected)
        if usersig is not NOT_CHECKED:
            self.verdict("CL-USERSIG-VALID", usersig, record, label)
        if record.operation != "friend_import":
            return
        self.verdict("CL-REQUEST-VALID", self.body_problem(record), record, label)
        self.verdict("CL-JSON-CONTENT-TYPE", content_type_problem(record), record, label)
        items = record.items()
        batch = self.spec.limit("batch_items")
        if len(items) > batch:
            self.fail("CL-BATCH-1000", f"Expected at most {batch} AddFriendItem entries in one request. "
                                       f"Received {len(items)} in {record.describe()}.", record, label)
        else:
            self.ok("CL-BATCH-1000")

    def query_problem(self, record: Recorded, expected: Expected) -> str | None:
        raw = record.query.replace(PLACEHOLDER, "")
        bad = "".join(sorted(set(query_value_bad_chars(raw.encode("latin-1", "replace"))) | set(record.usersig_bad_chars)))
        if bad:
            return (f"Expected a URL-encoded query string. Received raw character(s) {bad!r} in "
                    f"{record.query!r}.")
        names = [name for name, _ in record.params]
        missing = [n for n in QUERY_NAMES if n not in names]
        extra = sorted({n for n in names if n not in QUERY_NAMES})
        repeated = sorted({n for n in names if names.count(n) > 1})
        if missing or extra or repeated:
            parts = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
                     f"repeated {repeated}" if repeated else ""]
            return (f"Expected exactly the parameters {list(QUERY_NAMES)}, once each. Received "
                    f"{'; '.join(p for p in parts if p)} in {record.query!r}.")
        values = dict(record.params)
        if values["contenttype"] != "json":
            return f"Expected contenttype=json. Received contenttype={values['contenttype']!r}."
        random = values["random"]
        if not (random.isascii() and random.isdigit()) or int(random) > RANDOM_MAX:
            return f"Expected random to be a decimal integer from 0 to {RANDOM_MAX}. Received {random!r}."
        if expected.sdkappid is not None and values["sdkappid"] != str(expected.sdkappid):
            return f"Expected sdkappid={expected.sdkappid}. Received sdkappid={values['sdkappid']!r}."
        return None

    def usersig_problem(self, record: Recorded, expected: Expected):
        verdict = record.usersig_verdict
        if not verdict:
            return NOT_CHECKED
        identifier = record.param("identifier")
        if expected.identifier is not None and identifier != expected.identifier:
            return (f"Expected identifier={expected.identifier!r} (the app admin the client was given). "
                    f"Received {identifier!r}.")
        if verdict != "valid":
            return f"Expected a valid UserSig for {identifier!r}. Received one that fails verification: {verdict}."
        return None

    def body_problem(self, record: Recorded) -> str | None:
        if record.method != "POST":
            return f"Expected POST. Received {record.method}."
        try:
            body = json.loads(record.body_bytes.decode("utf-8"))
        except UnicodeDecodeError:
            return "Expected a UTF-8 body. Received bytes that are not UTF-8."
        except ValueError as exc:
            return f"Expected a JSON body. Received text that does not parse ({exc})."
        errors = [e for e in self._request_validator.iter_errors(body)
                  if not (e.validator == "maxItems" and list(e.absolute_path) == ["AddFriendItem"])]
        if errors:
            error = min(errors, key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            return f"Expected a body matching friend_import.request.json. Received at {where}: {error.message}"
        return self._byte_problem(body)

    def _byte_problem(self, body: dict) -> str | None:
        limit = self.spec.limit

        def over(value, name: str, where: str) -> str | None:
            if isinstance(value, str) and len(value.encode("utf-8")) > limit(name):
                return (f"Expected at most {limit(name)} UTF-8 bytes at {where}. "
                        f"Received {len(value.encode('utf-8'))} bytes.")
            return None

        problems = [over(body.get("From_Account"), "user_id_bytes", "/From_Account")]
        for n, item in enumerate(body.get("AddFriendItem", [])):
            at = f"/AddFriendItem/{n}"
            problems.append(over(item.get("To_Account"), "user_id_bytes", f"{at}/To_Account"))
            problems.append(over(item.get("Remark"), "remark_bytes", f"{at}/Remark"))
            problems.append(over(item.get("AddWording"), "add_wording_bytes", f"{at}/AddWording"))
            for g, group in enumerate(item.get("GroupName") or []):
                problems.append(over(group, "group_name_bytes", f"{at}/GroupName/{g}"))
            for c, custom in enumerate(item.get("CustomItem") or []):
                problems.append(over(custom.get("Value"), "custom_value_bytes", f"{at}/CustomItem/{c}/Value"))
        return next((p for p in problems if p), None)

    # -- the stream of one client process -------------------------------------------------------

    def stream(self, records: Sequence[Recorded], label: str = "") -> None:
        """Rules about the sequence of requests one client process made."""
        api = [r for r in records if r.path.startswith("/v4/")]
        if not api:
            return
        self._random_fresh(api, label)
        self._rate(api, label)
        imports = [r for r in api if r.operation == "friend_import"]
        self._backoff(imports, label)
        self._no_retry_permanent(imports, label)

    def _random_fresh(self, api: Sequence[Recorded], label: str) -> None:
        carrying = [r for r in api if r.param("random") is not None]
        if len(carrying) < 2:  # no evidence either way: a missing random is CL-QUERY-PARAMS's to judge
            return
        first: dict[str, Recorded] = {}
        repeats = []
        for record in carrying:
            value = record.param("random")
            if value in first:
                repeats.append((first[value], record))
            else:
                first[value] = record
        if not repeats:
            self.ok("CL-RANDOM-FRESH")
            return
        earlier, later = repeats[0]
        self.fail("CL-RANDOM-FRESH", f"Expected a new random for every request. Received random={later.param('random')}"
                                     f" on {earlier.describe()} and again on {later.describe()} "
                                     f"({len(repeats) + 1} requests shared values).", later, label)

    def _rate(self, api: Sequence[Recorded], label: str) -> None:
        most = self.spec.limit("rate_default_per_second")
        window: deque[float] = deque()
        worst, worst_at = 0, None
        for record in sorted(api, key=lambda r: r.started):
            window.append(record.started)
            while window and record.started - window[0] >= 1.0:
                window.popleft()
            if len(window) > worst:
                worst, worst_at = len(window), record
        if worst > most:
            self.fail("CL-RATE-200", f"Expected at most {most} requests in any one second. Received {worst} "
                                     f"within one second (up to {worst_at.describe()}).", worst_at, label)
        else:
            self.ok("CL-RATE-200")

    def retryable_answer(self, record: Recorded) -> str | None:
        """Why the answer asks for a retry after a wait (None: it does not)."""
        if record.status in RETRY_STATUSES:
            return f"HTTP {record.status}"
        code = record.error_code()
        if code and code in self.spec.codes and self.spec.codes[code].retry in ("yes", "backoff"):
            return f"ErrorCode {code}"
        retry_items = [c for c in record.item_codes().values()
                       if c and c in self.spec.codes and self.spec.codes[c].retry in ("yes", "backoff")]
        if retry_items:
            return f"ResultCode {retry_items[0]}"
        return None

    def _backoff(self, imports: Sequence[Recorded], label: str) -> None:
        for n, record in enumerate(imports):
            why = self.retryable_answer(record)
            if why is None or record.ended is None or record.client_gone:
                continue
            retry = next_overlapping(record, imports[n + 1:])
            if retry is None:
                continue
            gap = retry.started - record.ended
            if gap >= MIN_BACKOFF_S:
                self.ok("CL-RETRY-BACKOFF")
            else:
                self.fail("CL-RETRY-BACKOFF", f"Expected a wait of at least {int(MIN_BACKOFF_S * 1000)} ms before "
                                              f"retrying after {why}. Received the retry ({retry.describe()}) "
                                              f"{gap * 1000:.0f} ms after the answer.", retry, label)

    def _no_retry_permanent(self, imports: Sequence[Recorded], label: str) -> None:
        codes = self.spec.codes
        for n, record in enumerate(imports):
            later = imports[n + 1:]
            sender = record.from_account()
            code = record.error_code()
            if code and code in codes and codes[code].retry == "no":
                same = [r for r in later if r.from_account() == sender and r.items() == record.items()]
                if same:
                    self.fail("CL-NO-RETRY-PERMANENT", f"Expected no resend after the permanent ErrorCode {code}. "
                                                       f"Received the same request again ({same[0].describe()}).",
                              same[0], label)
                else:
                    self.ok("CL-NO-RETRY-PERMANENT")
                continue
            permanent = {to for to, c in record.item_codes().items() if c and c in codes and codes[c].retry == "no"}
            if not permanent:
                continue
            again = [(r, sorted(set(map(str, r.to_accounts())) & set(map(str, permanent)))) for r in later
                     if r.from_account() == sender]
            again = [(r, accounts) for r, accounts in again if accounts]
            if again:
                resend, accounts = again[0]
                self.fail("CL-NO-RETRY-PERMANENT", f"Expected no resend of items refused with a permanent ResultCode. "
                                                   f"Received {accounts[:5]} again in {resend.describe()}.",
                          resend, label)
            else:
                self.ok("CL-NO-RETRY-PERMANENT")


NOT_CHECKED = object()


def content_type_problem(record: Recorded) -> str | None:
    value = record.headers.get("content-type")
    if value is None:
        return "Expected a Content-Type: application/json header. Received no Content-Type header."
    if value.split(";", 1)[0].strip().lower() != "application/json":
        return f"Expected Content-Type: application/json. Received {value!r}."
    return None


def next_overlapping(record: Recorded, later: Sequence[Recorded]) -> Recorded | None:
    """The first later request of the same From_Account that carries any of ``record``'s items."""
    accounts = {json.dumps(a, sort_keys=True) for a in record.to_accounts()}
    sender = record.from_account()
    for other in later:
        if other.from_account() == sender and accounts & {json.dumps(a, sort_keys=True) for a in other.to_accounts()}:
            return other
    return None
