"""Every CL- check, judged through the registry (``registry.evaluate``) on evidence built from the project's data.

The requests are signed with the demo credentials, answered in the emulator's own envelope (its writer, and its
older shape), and carry the inputs and fault plans of the real client-certification scenarios. For every CL- rule
the table holds a case the check passes, one it fails (naming what broke) and, where the check can tell that it
had nothing to judge, one it skips; ``test_every_client_rule_has_cases`` keeps it so for a rule added later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from timconform import usersig
from timconform.clientcert.grade import ScenarioRun, client_rules
from timconform.clientcert.recording import Recorded, SigJudge, redact_query, sig_hash, sig_made
from timconform.clientcert.scenarios import GHOST, Import, Scenario, all_scenarios
from timconform.emulator.app import _old_shape
from timconform.emulator.config import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY
from timconform.emulator.envelope import Envelopes
from timconform.oracle import registry
from timconform.oracle.client import MIN_BACKOFF_S, Expected
from timconform.oracle.registry import Observation, evaluate, failed_first
from timconform.spec import load

SPEC = load()  # the catalogue the ``spec`` fixture loads: the table is built from its limits and codes
ENVELOPES = Envelopes(SPEC)
SCENARIOS = {s.name: s for s in all_scenarios()}
EXPECTED = Expected(DEMO_SDKAPPID, DEMO_ADMIN)
UNKNOWN = Expected()  # live traffic through the proxy: nothing known of the client's configuration
JUDGE = SigJudge(DEMO_SECRET_KEY, sdkappid=DEMO_SDKAPPID)
FRIEND_IMPORT = "/v4/sns/friend_import"
BATCH = SPEC.limit("batch_items")
RANDOM_MAX = SPEC.limit("random_max")
RATE = SPEC.limit("rate_default_per_second")
NOW = int(time.time()) - 120  # when the client made its UserSig (in the past: the verifier's clock is real)

SMALL = SCENARIOS["transient-30006"].imports[0]  # the 5 rich items every fault scenario imports
HAPPY = SCENARIOS["happy"].imports[0]
PARTIAL = SCENARIOS["partial-failure"].imports[0]  # 5 items, the third of them GHOST (per-item 30003)
MANY = SCENARIOS["batch-2500"].imports[0].items  # 2,500 plain items


def sign(identifier: str = DEMO_ADMIN, *, key: str = DEMO_SECRET_KEY, now: int = NOW, expire: int = 86400) -> str:
    return usersig.generate(DEMO_SDKAPPID, identifier, key, expire=expire, now=now)


ORIGINAL = sign()  # the UserSig refused with 70001
RENEWED = sign(now=NOW + 60)  # made again after the refusal, in a later second


def std_base64(sig: str) -> str:
    """The UserSig as a client using standard base64 writes it ('+', '/', '=' instead of '*', '-', '_')."""
    return sig.translate(str.maketrans("*-_", "+/="))


PADDED = next(s for s in (sign(expire=86400 + k) for k in range(64)) if s.endswith("_"))  # base64 with padding


def query(*, extra: str = "", **values: str | None) -> str:
    """A raw query string: the five parameters in the documented order (None leaves one out), then ``extra``."""
    params = {"sdkappid": str(DEMO_SDKAPPID), "identifier": DEMO_ADMIN, "usersig": ORIGINAL, "random": "1000",
              "contenttype": "json", **values}
    return "&".join(f"{k}={v}" for k, v in params.items() if v is not None) + extra


def ok_answer(accounts: list[str], refused: dict[str, int] | None = None, *, old: bool = False) -> dict:
    """The emulator's OK answer to a friend_import of ``accounts``: ResultCode 0, or the code in ``refused``."""
    refused = refused or {}
    body = ENVELOPES.ok("friend_import", ENVELOPES.result_items("friend_import",
                                                               [(a, refused.get(a, 0)) for a in accounts]))
    return _old_shape(body) if old else body


def fail_answer(code: int) -> dict:
    return ENVELOPES.fail("friend_import", code)


def record(index: int = 0, *, imp: Import = SMALL, items: tuple | list | None = None, body: dict | bytes | None = None,
           raw_query: str | None = None, sig: str = ORIGINAL, random: str | None = None, method: str = "POST",
           path: str = FRIEND_IMPORT, headers: dict[str, str] | None = None, started: float | None = None,
           took: float | None = 0.05, status: int = 200, answer: dict | str | None = None, client_gone: bool = False,
           verified: bool = True) -> Recorded:
    """One recorded request as RecordingApp keeps it (the UserSig judged, then dropped), and its answer.

    By default the import ``imp`` sent with every parameter right, answered by the emulator with all items
    imported; ``took`` None: no answer arrived."""
    items = imp.items if items is None else items
    raw = raw_query if raw_query is not None else query(usersig=sig, random=str(1000 + index) if random is None
                                                        else random)
    redacted, params, found, bad = redact_query(raw.encode("utf-8"))
    if body is None:
        body = {"From_Account": imp.from_account, "AddFriendItem": [dict(i) for i in items]}
    if answer is None:
        answer = ok_answer([i["To_Account"] for i in items])
    start = float(index) if started is None else started
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Recorded(index=index, started=start, ended=None if took is None else start + took, wall=NOW + start,
                    method=method, path=path, query=redacted, params=params,
                    headers={"host": "127.0.0.1:8765", "content-type": "application/json",
                             "content-length": str(len(data))} if headers is None else headers,
                    body_bytes=data, status=status,
                    response_body=answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False),
                    usersig_verdict=JUDGE.verdict(found, params) if verified else "", usersig_hash=sig_hash(found),
                    usersig_bad_chars=bad, usersig_made=sig_made(found), client_gone=client_gone)


def sent(scenario: Scenario, *, old: bool = False, batch: int = BATCH, spacing: float = 0.1) -> list[Recorded]:
    """The scenario's input sent as a good client sends it (in batches of ``batch``), answered as the emulator
    answers: per-item 30003 for an account that does not exist, in the older shape when ``old``."""
    out: list[Recorded] = []
    for imp in scenario.imports:
        for at in range(0, len(imp.items), batch):
            items = imp.items[at:at + batch]
            accounts = [i["To_Account"] for i in items]
            answer = ok_answer(accounts, {a: 30003 for a in accounts if a in scenario.missing}, old=old)
            out.append(record(len(out), imp=imp, items=items, started=len(out) * spacing, answer=answer))
    return out


def met_fault(scenario: Scenario, *, client_gone: bool = False) -> Recorded:
    """The first friend_import of ``scenario``, answered as its fault plan says (a code, an HTTP status, a delay)."""
    fault, imp = scenario.faults[0], scenario.imports[0]
    if fault["action"] == "code":
        return record(0, imp=imp, answer=fail_answer(fault["code"]))
    if fault["action"] == "http":
        return record(0, imp=imp, status=fault.get("status", 502), answer="Bad Gateway")
    assert fault["action"] == "delay", fault
    return record(0, imp=imp, took=fault["seconds"], client_gone=client_gone)


def scenario_run(name: str, records: list[Recorded], *, exit_code: int | None = 0,
                 friends: dict[str, set[str]] | None = None, error: str | None = None) -> ScenarioRun:
    """The run of scenario ``name``; ``friends`` (the tables read back) defaults to every importable item."""
    scenario = SCENARIOS[name]
    tables = scenario.importable() if friends is None else friends
    return ScenarioRun(scenario, records, exit_code, 2.0, {s: set(tables.get(s, ())) for s in scenario.wanted()},
                       time_limit_s=60.0, error=error)


def all_but(name: str, *accounts: str) -> dict[str, set[str]]:
    return {s: wanted - set(accounts) for s, wanted in SCENARIOS[name].importable().items()}


def recovered(name: str, *, retry_items: tuple | None = None, sig: str = RENEWED, gap: float = 0.2,
              friends: dict[str, set[str]] | None = None, exit_code: int = 0) -> ScenarioRun:
    """The scenario's fault met on the first call, then the refused items (or ``retry_items``) sent again."""
    scenario = SCENARIOS[name]
    met = met_fault(scenario)
    retry = record(1, imp=scenario.imports[0], items=retry_items, sig=sig, started=met.ended + gap)
    return scenario_run(name, [met, retry], exit_code=exit_code, friends=friends)


# -- the table --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rule: str
    status: str  # what evaluate() must find: "pass", "fail" or "skip"
    name: str
    observe: Callable[[], Observation]
    says: tuple[str, ...] = ()  # what the message must contain


def on_request(expected: Expected = EXPECTED, label: str = "happy", **kwargs) -> Callable[[], Observation]:
    return lambda: Observation("request", note=label, facts={"record": record(**kwargs), "expected": expected})


def on_stream(label: str, records: Callable[[], list[Recorded]]) -> Callable[[], Observation]:
    return lambda: Observation("stream", note=label, facts={"records": records()})


def on_run(run: Callable[[], ScenarioRun], peer: Callable[[], ScenarioRun | None] = lambda: None,
           ) -> Callable[[], Observation]:
    def observe() -> Observation:
        judged = run()
        return Observation("run", note=judged.scenario.name, facts={"run": judged, "peer": peer()})
    return observe


def items_with(**fields) -> list[dict]:
    return [{"To_Account": "user0001", "AddSource": "AddSource_Type_Web", **fields}]


def over(limit: str) -> str:
    """Text one UTF-8 byte over the byte limit ``limit`` (within its character maxLength: the bytes are checked)."""
    most = SPEC.limit(limit)
    return "好" * (most // 3) + "a" * (most % 3 + 1)


def at_most(limit: str) -> str:
    most = SPEC.limit(limit)
    return "好" * (most // 3) + "a" * (most % 3)


QUERY_CASES = [
    Case("CL-QUERY-PARAMS", "pass", "the five parameters", on_request()),
    Case("CL-QUERY-PARAMS", "pass", "percent-encoded values",
         on_request(raw_query=query(usersig=quote(ORIGINAL, safe=""), identifier=quote(DEMO_ADMIN)))),
    Case("CL-QUERY-PARAMS", "pass", "random 0", on_request(random="0")),
    Case("CL-QUERY-PARAMS", "pass", "random at its maximum", on_request(random=str(RANDOM_MAX))),
    Case("CL-QUERY-PARAMS", "pass", "another sdkappid, none configured",
         on_request(UNKNOWN, raw_query=query(sdkappid="1400000001"))),
    Case("CL-QUERY-PARAMS", "fail", "random missing", on_request(raw_query=query(random=None)),
         ("missing ['random']",)),
    Case("CL-QUERY-PARAMS", "fail", "contenttype missing", on_request(raw_query=query(contenttype=None)),
         ("missing ['contenttype']",)),
    Case("CL-QUERY-PARAMS", "fail", "an extra parameter", on_request(raw_query=query(extra="&timestamp=1700000000")),
         ("unexpected ['timestamp']",)),
    Case("CL-QUERY-PARAMS", "fail", "a name in another case",
         on_request(raw_query=query(sdkappid=None, extra=f"&SdkAppId={DEMO_SDKAPPID}")),
         ("missing ['sdkappid']", "unexpected ['SdkAppId']")),
    Case("CL-QUERY-PARAMS", "fail", "random twice", on_request(raw_query=query(extra="&random=2")),
         ("repeated ['random']",)),
    Case("CL-QUERY-PARAMS", "fail", "raw non-ASCII identifier", on_request(raw_query=query(identifier="管理员")),
         ("Expected a URL-encoded query string",)),
    Case("CL-QUERY-PARAMS", "fail", "raw '=' in a standard-base64 usersig",
         on_request(raw_query=query(usersig=std_base64(PADDED))), ("raw character(s) '='",)),
    Case("CL-QUERY-PARAMS", "fail", "contenttype=JSON", on_request(raw_query=query(contenttype="JSON")),
         ("contenttype='JSON'",)),
    Case("CL-QUERY-PARAMS", "fail", "random over 32 bits", on_request(random=str(RANDOM_MAX + 1)),
         (f"from 0 to {RANDOM_MAX}", f"'{RANDOM_MAX + 1}'")),
    Case("CL-QUERY-PARAMS", "fail", "random negative", on_request(random="-1"), ("'-1'",)),
    Case("CL-QUERY-PARAMS", "fail", "random a float", on_request(random="0.5"), ("'0.5'",)),
    Case("CL-QUERY-PARAMS", "fail", "random empty", on_request(random=""), ("Received ''",)),
    Case("CL-QUERY-PARAMS", "fail", "another app's sdkappid", on_request(raw_query=query(sdkappid="1400000001")),
         (f"Expected sdkappid={DEMO_SDKAPPID}", "'1400000001'")),
]

USERSIG_CASES = [
    Case("CL-USERSIG-VALID", "pass", "the admin's valid UserSig", on_request()),
    Case("CL-USERSIG-VALID", "pass", "valid, identifier not configured", on_request(UNKNOWN)),
    Case("CL-USERSIG-VALID", "pass", "percent-encoded", on_request(raw_query=query(usersig=quote(ORIGINAL, safe="")))),
    Case("CL-USERSIG-VALID", "fail", "signed with another key", on_request(sig=sign(key="not the app's key")),
         ("SIG_MISMATCH",)),
    Case("CL-USERSIG-VALID", "fail", "expired", on_request(sig=sign(now=NOW - 200, expire=100)), ("EXPIRED",)),
    Case("CL-USERSIG-VALID", "fail", "expired, identifier not configured",
         on_request(UNKNOWN, sig=sign(now=NOW - 200, expire=100)), ("EXPIRED",)),
    Case("CL-USERSIG-VALID", "fail", "not a UserSig", on_request(sig="eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUI"),
         ("MALFORMED",)),
    Case("CL-USERSIG-VALID", "fail", "usersig missing", on_request(raw_query=query(usersig=None)),
         ("fails verification: missing",)),
    Case("CL-USERSIG-VALID", "fail", "usersig empty", on_request(sig=""), ("fails verification: missing",)),
    Case("CL-USERSIG-VALID", "fail", "made for another identifier",
         on_request(sig=sign("bob")), ("IDENTIFIER_MISMATCH",)),
    Case("CL-USERSIG-VALID", "fail", "a user's own UserSig, not the admin's",
         on_request(raw_query=query(identifier="bob", usersig=sign("bob"))),
         (f"Expected identifier={DEMO_ADMIN!r}", "'bob'")),
    Case("CL-USERSIG-VALID", "skip", "no verdict (no secret key to verify with)",
         on_request(sig=sign(key="not the app's key"), verified=False)),
]

BODY_CASES = [
    Case("CL-REQUEST-VALID", "pass", "rich non-ASCII items", on_request(imp=HAPPY)),
    Case("CL-REQUEST-VALID", "pass", "every text at its byte limit",
         on_request(body={"From_Account": "a" * SPEC.limit("user_id_bytes"), "AddFriendItem": items_with(
             Remark=at_most("remark_bytes"), AddWording=at_most("add_wording_bytes"),
             GroupName=[at_most("group_name_bytes")],
             CustomItem=[{"Tag": "Tag_SNS_Custom_Test", "Value": at_most("custom_value_bytes")}])})),
    Case("CL-REQUEST-VALID", "pass", "more items than a batch (CL-BATCH-1000's)", on_request(items=MANY[:BATCH + 1])),
    Case("CL-REQUEST-VALID", "fail", "GET", on_request(method="GET"), ("Expected POST. Received GET.",)),
    Case("CL-REQUEST-VALID", "fail", "GBK-encoded body",
         on_request(body=json.dumps({"From_Account": "alice", "AddFriendItem": items_with(Remark="同事")},
                                    ensure_ascii=False).encode("gbk")), ("Expected a UTF-8 body",)),
    Case("CL-REQUEST-VALID", "fail", "form-encoded body", on_request(body=b"From_Account=alice"),
         ("Expected a JSON body",)),
    Case("CL-REQUEST-VALID", "fail", "empty body", on_request(body=b""), ("Expected a JSON body",)),
    Case("CL-REQUEST-VALID", "fail", "From_Account missing", on_request(body={"AddFriendItem": items_with()}),
         ("'From_Account' is a required property",)),
    Case("CL-REQUEST-VALID", "fail", "From_Account a number",
         on_request(body={"From_Account": 10001, "AddFriendItem": items_with()}), ("at /From_Account",)),
    Case("CL-REQUEST-VALID", "fail", "no item", on_request(items=[]), ("at /AddFriendItem",)),
    Case("CL-REQUEST-VALID", "fail", "AddSource without its prefix",
         on_request(body={"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": "Web"}]}),
         ("at /AddFriendItem/0/AddSource",)),
    Case("CL-REQUEST-VALID", "fail", "an unknown field",
         on_request(body={"From_Account": "alice", "AddFriendItem": items_with(Nick="Bob")}),
         ("at /AddFriendItem/0", "'Nick'")),
    Case("CL-REQUEST-VALID", "fail", "GroupName a string",
         on_request(body={"From_Account": "alice", "AddFriendItem": items_with(GroupName="朋友")}),
         ("at /AddFriendItem/0/GroupName",)),
    Case("CL-REQUEST-VALID", "fail", "Remark over its bytes",
         on_request(body={"From_Account": "alice", "AddFriendItem": items_with(Remark=over("remark_bytes"))}),
         (f"at most {SPEC.limit('remark_bytes')} UTF-8 bytes at /AddFriendItem/0/Remark",
          f"Received {SPEC.limit('remark_bytes') + 1} bytes")),
    Case("CL-REQUEST-VALID", "fail", "AddWording over its bytes",
         on_request(body={"From_Account": "alice", "AddFriendItem": items_with(
             AddWording=over("add_wording_bytes"))}), ("/AddFriendItem/0/AddWording",)),
    Case("CL-REQUEST-VALID", "fail", "a list name over its bytes",
         on_request(body={"From_Account": "alice", "AddFriendItem": items_with(
             GroupName=["朋友", over("group_name_bytes")])}), ("/AddFriendItem/0/GroupName/1",)),
    Case("CL-REQUEST-VALID", "fail", "a custom value over its bytes",
         on_request(body={"From_Account": "alice", "AddFriendItem": items_with(
             CustomItem=[{"Tag": "Tag_SNS_Custom_Test", "Value": over("custom_value_bytes")}])}),
         ("/AddFriendItem/0/CustomItem/0/Value",)),
    Case("CL-REQUEST-VALID", "fail", "a To_Account over its bytes",
         on_request(body={"From_Account": "alice", "AddFriendItem": [
             {"To_Account": "用户" * 11, "AddSource": "AddSource_Type_Web"}]}),
         (f"at most {SPEC.limit('user_id_bytes')} UTF-8 bytes at /AddFriendItem/0/To_Account",)),
]

BATCH_CASES = [
    Case("CL-BATCH-1000", "pass", "one item", on_request()),
    Case("CL-BATCH-1000", "pass", "a full batch", on_request(items=MANY[:BATCH])),
    Case("CL-BATCH-1000", "fail", "one item over", on_request(items=MANY[:BATCH + 1]),
         (f"at most {BATCH} AddFriendItem", f"Received {BATCH + 1} in request #1")),
    Case("CL-BATCH-1000", "fail", "the whole input at once", on_request(label="batch-2500", items=MANY),
         (f"Received {len(MANY)} in",)),
]

CONTENT_TYPE_CASES = [
    Case("CL-JSON-CONTENT-TYPE", "pass", "application/json", on_request()),
    Case("CL-JSON-CONTENT-TYPE", "pass", "with a charset",
         on_request(headers={"content-type": "application/json; charset=utf-8"})),
    Case("CL-JSON-CONTENT-TYPE", "pass", "in another case", on_request(headers={"content-type": "Application/JSON"})),
    Case("CL-JSON-CONTENT-TYPE", "fail", "no header", on_request(headers={"host": "127.0.0.1:8765"}),
         ("Received no Content-Type header",)),
    Case("CL-JSON-CONTENT-TYPE", "fail", "text/plain",
         on_request(headers={"content-type": "text/plain;charset=UTF-8"}), ("'text/plain;charset=UTF-8'",)),
    Case("CL-JSON-CONTENT-TYPE", "fail", "form-encoded",
         on_request(headers={"content-type": "application/x-www-form-urlencoded"}),
         ("'application/x-www-form-urlencoded'",)),
]


def two_imports(randoms: tuple[str | None, ...]) -> list[Recorded]:
    """The two-imports scenario's calls (alice's, then bob's, ...) carrying ``randoms`` (None: no random)."""
    imports = SCENARIOS["two-imports"].imports
    return [record(n, imp=imports[n % 2], started=n * 0.5,
                   raw_query=query(random=r) if r is not None else query(random=None)) for n, r in enumerate(randoms)]


def other_call(index: int, random: str) -> Recorded:
    """A call of another operation (account_import) in the same process."""
    return record(index, path="/v4/im_open_login_svc/account_import", random=random, body={"UserID": "alice"},
                  answer={"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})


RANDOM_CASES = [
    Case("CL-RANDOM-FRESH", "pass", "a random per call", on_stream("two-imports", lambda: two_imports(("7", "8")))),
    Case("CL-RANDOM-FRESH", "pass", "another operation's random differs too",
         on_stream("two-imports", lambda: [other_call(0, "41"), *two_imports(("42", "43"))[:1]])),
    Case("CL-RANDOM-FRESH", "fail", "one random reused", on_stream("two-imports", lambda: two_imports(("7", "7"))),
         ("random=7 on request #1", "again on request #2", "(2 requests shared 1 value(s))")),
    Case("CL-RANDOM-FRESH", "fail", "a random drawn once for the process",
         on_stream("two-imports", lambda: two_imports(("99999999",) * 3)), ("(3 requests shared 1 value(s))",)),
    Case("CL-RANDOM-FRESH", "fail", "two randoms each used twice",
         on_stream("two-imports", lambda: two_imports(("7", "7", "8", "8"))), ("(4 requests shared 2 value(s))",)),
    Case("CL-RANDOM-FRESH", "fail", "reused by another operation's call",
         on_stream("two-imports", lambda: [other_call(0, "41"), record(1, random="41")]), ("random=41",)),
    Case("CL-RANDOM-FRESH", "skip", "one call", on_stream("happy", lambda: two_imports(("7",)))),
    Case("CL-RANDOM-FRESH", "skip", "one call carrying random (the other's is CL-QUERY-PARAMS's)",
         on_stream("two-imports", lambda: two_imports(("7", None)))),
]


def calls(times: list[float]) -> list[Recorded]:
    return [record(n, started=t, took=0.01) for n, t in enumerate(times)]


RATE_CASES = [
    Case("CL-RATE-200", "pass", "the limit at once", on_stream("batch-2500", lambda: calls([0.0] * RATE))),
    Case("CL-RATE-200", "pass", "one more a second later",
         on_stream("batch-2500", lambda: calls([0.0] * RATE + [1.0]))),
    Case("CL-RATE-200", "pass", "steady just under the limit",
         on_stream("batch-2500", lambda: calls([n * 1.02 / RATE for n in range(3 * RATE)]))),
    Case("CL-RATE-200", "fail", "one over at once", on_stream("batch-2500", lambda: calls([0.0] * (RATE + 1))),
         (f"at most {RATE} requests", f"Received {RATE + 1} within one second", f"request #{RATE + 1}")),
    Case("CL-RATE-200", "fail", "one over within 0.999 s, recorded out of order",
         on_stream("batch-2500", lambda: calls([0.0] * RATE + [0.999])[::-1]), (f"Received {RATE + 1}",)),
    Case("CL-RATE-200", "fail", "a burst inside a slow stream",
         on_stream("batch-2500", lambda: calls([float(n) for n in range(10)] + [10.0 + n / 1000 for n in range(250)])),
         ("Received 250 within one second",)),
]


def refused_then_retried(answer: dict | str, gap: float, *, status: int = 200, retry_imp: Import = SMALL,
                         client_gone: bool = False) -> list[Recorded]:
    """A friend_import answered ``answer`` (ending at 0.1 s), then the same items sent ``gap`` s after the answer."""
    first = record(0, started=0.0, took=0.1, status=status, answer=answer, client_gone=client_gone)
    return [first, record(1, imp=retry_imp, started=0.1 + gap)]


def item_refused(code: int) -> dict:
    accounts = [i["To_Account"] for i in SMALL.items]
    return ok_answer(accounts, {accounts[1]: code})


WAITS = MIN_BACKOFF_S * 4
BACKOFF_CASES = [
    Case("CL-RETRY-BACKOFF", "pass", "waited after 30006",
         on_stream("transient-30006", lambda: refused_then_retried(fail_answer(30006), WAITS))),
    Case("CL-RETRY-BACKOFF", "pass", "waited after a 502",
         on_stream("http-502", lambda: refused_then_retried("Bad Gateway", WAITS, status=502))),
    Case("CL-RETRY-BACKOFF", "pass", "waited after a per-item 30007",
         on_stream("happy", lambda: refused_then_retried(item_refused(30007), WAITS))),
    Case("CL-RETRY-BACKOFF", "fail", "at once after 30006",
         on_stream("transient-30006", lambda: refused_then_retried(fail_answer(30006), 0.001)),
         (f"at least {int(MIN_BACKOFF_S * 1000)} ms", "after ErrorCode 30006", "(request #2 ", "1 ms after")),
    Case("CL-RETRY-BACKOFF", "fail", "at once after a 30008 write conflict",
         on_stream("conflict-30008", lambda: refused_then_retried(fail_answer(30008), 0.0)), ("ErrorCode 30008",)),
    Case("CL-RETRY-BACKOFF", "fail", "at once after the rate limit",
         on_stream("rate-limit", lambda: refused_then_retried(fail_answer(60007), 0.01)), ("ErrorCode 60007",)),
    Case("CL-RETRY-BACKOFF", "fail", "at once after a 502",
         on_stream("http-502", lambda: refused_then_retried("Bad Gateway", 0.002, status=502)), ("after HTTP 502",)),
    Case("CL-RETRY-BACKOFF", "fail", "at once after a 504",
         on_stream("http-502", lambda: refused_then_retried("Gateway Timeout", 0.002, status=504)),
         ("after HTTP 504",)),
    Case("CL-RETRY-BACKOFF", "fail", "at once after a per-item 30006",
         on_stream("happy", lambda: refused_then_retried(item_refused(30006), 0.0)), ("after ResultCode 30006",)),
    Case("CL-RETRY-BACKOFF", "fail", "the second retry at once",
         on_stream("transient-30006", lambda: [
             record(0, started=0.0, took=0.1, answer=fail_answer(30006)),
             record(1, started=0.5, took=0.1, answer=fail_answer(30007)),
             record(2, started=0.61)]), ("after ErrorCode 30007", "(request #3 ")),
    Case("CL-RETRY-BACKOFF", "skip", "never refused", on_stream("happy", lambda: sent(SCENARIOS["two-imports"]))),
    Case("CL-RETRY-BACKOFF", "skip", "70001 renewed at once (no wait needed)",
         on_stream("usersig-70001", lambda: refused_then_retried(fail_answer(70001), 0.0))),
    Case("CL-RETRY-BACKOFF", "skip", "a permanent refusal",
         on_stream("happy", lambda: refused_then_retried(fail_answer(30001), 0.0))),
    Case("CL-RETRY-BACKOFF", "skip", "the client left before the slow answer",
         on_stream("slow-answer", lambda: refused_then_retried(fail_answer(30007), 0.0, client_gone=True))),
    Case("CL-RETRY-BACKOFF", "skip", "refused, then other items",
         on_stream("two-imports", lambda: refused_then_retried(fail_answer(30006), 0.0,
                                                               retry_imp=SCENARIOS["two-imports"].imports[1]))),
]


def partial_then(*later: Recorded) -> list[Recorded]:
    """The partial-failure import (GHOST refused with per-item 30003) and what the client sent after it."""
    return [*sent(SCENARIOS["partial-failure"]), *later]


PERMANENT_CASES = [
    Case("CL-NO-RETRY-PERMANENT", "pass", "30003 not resent", on_stream("partial-failure", partial_then)),
    Case("CL-NO-RETRY-PERMANENT", "pass", "only the transient item resent", on_stream("partial-failure", lambda: [
        record(0, imp=PARTIAL, answer=ok_answer([i["To_Account"] for i in PARTIAL.items],
                                                {GHOST: 30003, "user0001": 30006})),
        record(1, items=PARTIAL.items[:1], started=1.0)])),
    Case("CL-NO-RETRY-PERMANENT", "pass", "a request refused as a whole, then corrected",
         on_stream("happy", lambda: [record(0, items=HAPPY.items[:3], answer=fail_answer(30001)),
                                     record(1, imp=HAPPY, started=1.0)])),
    Case("CL-NO-RETRY-PERMANENT", "fail", "the refused account resent with the rest",
         on_stream("partial-failure", lambda: partial_then(record(1, imp=PARTIAL, started=1.0))),
         (f"Received ['{GHOST}'] again in request #2",)),
    Case("CL-NO-RETRY-PERMANENT", "fail", "the refused account resent alone",
         on_stream("partial-failure", lambda: partial_then(
             record(1, items=[i for i in PARTIAL.items if i["To_Account"] == GHOST], started=1.0))),
         ("permanent ResultCode", f"['{GHOST}']")),
    Case("CL-NO-RETRY-PERMANENT", "fail", "a request refused with 30001 resent unchanged",
         on_stream("happy", lambda: [record(0, answer=fail_answer(30001)), record(1, started=1.0)]),
         ("permanent ErrorCode 30001", "(request #2 ")),
    Case("CL-NO-RETRY-PERMANENT", "fail", "a request refused with 70009 resent unchanged",
         on_stream("happy", lambda: [record(0, answer=fail_answer(70009)), record(1, started=1.0),
                                     record(2, started=2.0)]), ("permanent ErrorCode 70009",)),
    Case("CL-NO-RETRY-PERMANENT", "skip", "nothing refused", on_stream("happy", lambda: sent(SCENARIOS["happy"]))),
    Case("CL-NO-RETRY-PERMANENT", "skip", "only transient refusals",
         on_stream("transient-30006", lambda: refused_then_retried(fail_answer(30006), WAITS))),
    Case("CL-NO-RETRY-PERMANENT", "skip", "70001 (renew the UserSig, not permanent)",
         on_stream("usersig-70001", lambda: refused_then_retried(fail_answer(70001), 0.0))),
]

COMPLETE_CASES = [
    Case("CL-IMPORT-COMPLETE", "pass", "happy", on_run(lambda: scenario_run("happy", sent(SCENARIOS["happy"])))),
    Case("CL-IMPORT-COMPLETE", "pass", "2,500 items in three batches",
         on_run(lambda: scenario_run("batch-2500", sent(SCENARIOS["batch-2500"])))),
    Case("CL-IMPORT-COMPLETE", "pass", "all but the missing account",
         on_run(lambda: scenario_run("partial-failure", sent(SCENARIOS["partial-failure"]), exit_code=1))),
    Case("CL-IMPORT-COMPLETE", "pass", "two imports",
         on_run(lambda: scenario_run("two-imports", sent(SCENARIOS["two-imports"])))),
    Case("CL-IMPORT-COMPLETE", "fail", "two items dropped",
         on_run(lambda: scenario_run("happy", sent(SCENARIOS["happy"]), exit_code=0,
                                     friends=all_but("happy", "user0007", "user0008"))),
         ("Expected all 8 importable items imported", "Received 6 imported",
          "missing ['user0007', 'user0008']", "items per request [8]", "adapter exit 0")),
    Case("CL-IMPORT-COMPLETE", "fail", "only the first batch",
         on_run(lambda: scenario_run("batch-2500", sent(SCENARIOS["batch-2500"])[:1], exit_code=0,
                                     friends={"alice": {i["To_Account"] for i in MANY[:BATCH]}})),
         (f"Received {BATCH} imported", "missing ['user1001', 'user1002', 'user1003', 'user1004', 'user1005'] ...",
          f"items per request [{BATCH}]")),
    Case("CL-IMPORT-COMPLETE", "fail", "the second import never made",
         on_run(lambda: scenario_run("two-imports", sent(SCENARIOS["two-imports"])[:1], exit_code=1,
                                     friends={"alice": {"user0001", "user0002", "user0003"}})),
         ("Expected all 6", "Received 3 imported", "adapter exit 1")),
    Case("CL-IMPORT-COMPLETE", "fail", "no request at all",
         on_run(lambda: scenario_run("happy", [], exit_code=2, friends={})),
         ("Received 0 imported", "0 friend_import request(s)", "adapter exit 2")),
]

REPORT_CASES = [
    Case("CL-REPORT-PARTIAL-FAILURE", "pass", "success reported",
         on_run(lambda: scenario_run("happy", sent(SCENARIOS["happy"])))),
    Case("CL-REPORT-PARTIAL-FAILURE", "pass", "a per-item failure reported",
         on_run(lambda: scenario_run("partial-failure", sent(SCENARIOS["partial-failure"]), exit_code=1))),
    Case("CL-REPORT-PARTIAL-FAILURE", "pass", "giving up reported",
         on_run(lambda: scenario_run("transient-30006", [met_fault(SCENARIOS["transient-30006"])], exit_code=1,
                                     friends={}))),
    Case("CL-REPORT-PARTIAL-FAILURE", "fail", "a per-item failure hidden",
         on_run(lambda: scenario_run("partial-failure", sent(SCENARIOS["partial-failure"]), exit_code=0)),
         ("Expected a failure report (non-zero exit): 1 of 5 items were not imported", "Received exit 0")),
    Case("CL-REPORT-PARTIAL-FAILURE", "fail", "a whole-request failure hidden",
         on_run(lambda: scenario_run("transient-30006", [met_fault(SCENARIOS["transient-30006"])], exit_code=0,
                                     friends={})), ("5 of 5 items were not imported",)),
    Case("CL-REPORT-PARTIAL-FAILURE", "fail", "success reported as failure",
         on_run(lambda: scenario_run("happy", sent(SCENARIOS["happy"]), exit_code=1)),
         ("Expected a success report (exit 0): all 8 items were imported. Received exit 1.",)),
    Case("CL-REPORT-PARTIAL-FAILURE", "fail", "never finished",
         on_run(lambda: scenario_run("happy", sent(SCENARIOS["happy"]), exit_code=None)),
         ("still running after 60 s",)),
    Case("CL-REPORT-PARTIAL-FAILURE", "fail", "told by the retry that everything was in, reported failure",
         on_run(lambda: scenario_run("slow-answer", [met_fault(SCENARIOS["slow-answer"], client_gone=True),
                                                     *sent(SCENARIOS["slow-answer"])[:1]], exit_code=1)),
         ("Expected a success report (exit 0)",)),
    Case("CL-REPORT-PARTIAL-FAILURE", "skip", "left before the slow answer that imported everything",
         on_run(lambda: scenario_run("slow-answer", [met_fault(SCENARIOS["slow-answer"], client_gone=True)],
                                     exit_code=1)),
         ("not reached [slow-answer]", "the client left before an answer")),
]


def shape_run(name: str, *, old: bool = True, exit_code: int | None = 0, error: str | None = None) -> ScenarioRun:
    return scenario_run(name, sent(SCENARIOS[name], old=old), exit_code=exit_code, error=error)


OLD_SHAPE_CASES = [
    Case("CL-TOLERATE-OLD-SHAPE", "pass", "as in the current shape",
         on_run(lambda: shape_run("old-shape"), lambda: shape_run("happy", old=False))),
    Case("CL-TOLERATE-OLD-SHAPE", "pass", "the invalid account reported, as in the current shape",
         on_run(lambda: shape_run("old-shape-invalid", exit_code=1),
                lambda: shape_run("partial-failure", old=False, exit_code=1))),
    Case("CL-TOLERATE-OLD-SHAPE", "pass", "no peer: everything imported and success reported",
         on_run(lambda: shape_run("old-shape"))),
    Case("CL-TOLERATE-OLD-SHAPE", "pass", "the peer errored: judged alone",
         on_run(lambda: shape_run("old-shape-invalid", exit_code=1),
                lambda: shape_run("partial-failure", old=False, exit_code=0, error="the emulator did not start"))),
    Case("CL-TOLERATE-OLD-SHAPE", "fail", "an empty Fail_Account taken for a failure",
         on_run(lambda: shape_run("old-shape", exit_code=1), lambda: shape_run("happy", old=False)),
         ("(scenario happy: exit 0, 8 imported)", "Received a failure report, 8 imported")),
    Case("CL-TOLERATE-OLD-SHAPE", "fail", "Invalid_Account ignored",
         on_run(lambda: shape_run("old-shape-invalid", exit_code=0),
                lambda: shape_run("partial-failure", old=False, exit_code=1)),
         ("(scenario partial-failure: a failure report, 4 imported)", "Received exit 0")),
    Case("CL-TOLERATE-OLD-SHAPE", "fail", "no peer: success reported as failure",
         on_run(lambda: shape_run("old-shape", exit_code=1)),
         ("Expected every importable item imported and success reported", "8 of 8 imported, adapter exit 1")),
    Case("CL-TOLERATE-OLD-SHAPE", "fail", "no peer: the invalid account hidden",
         on_run(lambda: shape_run("old-shape-invalid", exit_code=0)), ("and a failure reported",)),
    Case("CL-TOLERATE-OLD-SHAPE", "fail", "the peer errored: stopped",
         on_run(lambda: shape_run("old-shape", exit_code=None),
                lambda: shape_run("happy", old=False, error="the emulator did not start")),
         ("adapter stopped after 60 s",)),
    Case("CL-TOLERATE-OLD-SHAPE", "skip", "every answer in the current shape",
         on_run(lambda: shape_run("old-shape", old=False), lambda: shape_run("happy", old=False)),
         ("not delivered [old-shape]", "Invalid_Account")),
]


def recovery_cases(scenario: Scenario) -> list[Case]:
    """Cases of the recovery rule ``scenario`` grades, from its fault plan."""
    rule, name, fault = scenario.recovery, scenario.name, scenario.faults[0]
    missing = [i["To_Account"] for i in scenario.imports[0].items[3:]]
    cases = [
        Case(rule, "pass", f"{name}: retried, everything imported", on_run(lambda: recovered(name))),
        Case(rule, "fail", f"{name}: no friend_import",
             on_run(lambda: scenario_run(name, [other_call(0, "5")], exit_code=1, friends={})),
             ("Expected friend_import requests. Received none (adapter exit 1)",)),
        Case(rule, "skip", f"{name}: refused for the client's own UserSig before the fault",
             on_run(lambda: scenario_run(name, [record(0, sig=sign(key="not the app's key"),
                                                       answer=fail_answer(70009))], exit_code=1, friends={})),
             (f"not delivered [{name}]", "1 friend_import request(s)", f"carried {scenario.fault_label}")),
    ]
    if fault["action"] == "delay":
        return cases + [
            Case(rule, "pass", f"{name}: waited for the answer",
                 on_run(lambda: scenario_run(name, [met_fault(scenario)]))),
            Case(rule, "pass", f"{name}: timed out and retried",
                 on_run(lambda: scenario_run(name, [met_fault(scenario, client_gone=True),
                                                    record(1, started=3.0, sig=ORIGINAL)]))),
            Case(rule, "fail", f"{name}: timed out and gave up",
                 on_run(lambda: scenario_run(name, [met_fault(scenario, client_gone=True)], exit_code=1)),
                 (f"wait for (or time out and retry) {scenario.fault_label}", "adapter exit 1",
                  "5 of 5 importable items imported")),
            Case(rule, "fail", f"{name}: success reported, items lost",
                 on_run(lambda: scenario_run(name, [met_fault(scenario)], friends=all_but(name, *missing))),
                 ("adapter exit 0, 3 of 5 importable items imported",)),
        ]
    cases += [
        Case(rule, "fail", f"{name}: no retry",
             on_run(lambda: scenario_run(name, [met_fault(scenario)], exit_code=1, friends={})),
             (f"sent again after {scenario.fault_label}. Received no retry", "1 friend_import request(s)",
              "0 of 5 importable items imported")),
        Case(rule, "fail", f"{name}: retried only some items",
             on_run(lambda: recovered(name, retry_items=scenario.imports[0].items[:3],
                                      friends=all_but(name, *missing), exit_code=1)),
             ("Expected every importable item imported after the retry. Received 3 of 5 imported.",)),
    ]
    if rule == "CL-RENEW-USERSIG-70001":
        cases.append(Case(rule, "fail", f"{name}: the refused UserSig sent again",
                          on_run(lambda: recovered(name, sig=ORIGINAL)),
                          ("Expected a newly made UserSig", "Received the refused UserSig again on request #2")))
    else:
        cases.append(Case(rule, "pass", f"{name}: the same UserSig is fine here",
                          on_run(lambda: recovered(name, sig=ORIGINAL))))
    return cases


RECOVERY_CASES = [case for scenario in all_scenarios() if scenario.recovery for case in recovery_cases(scenario)]

CASES = (QUERY_CASES + USERSIG_CASES + BODY_CASES + BATCH_CASES + CONTENT_TYPE_CASES + RANDOM_CASES + RATE_CASES
         + BACKOFF_CASES + PERMANENT_CASES + COMPLETE_CASES + REPORT_CASES + OLD_SHAPE_CASES + RECOVERY_CASES)
# The checks that can say they had nothing to judge (Skip): each needs a case that shows it.
CAN_SKIP = {"CL-USERSIG-VALID", "CL-RANDOM-FRESH", "CL-RETRY-BACKOFF", "CL-NO-RETRY-PERMANENT",
            "CL-REPORT-PARTIAL-FAILURE", "CL-TOLERATE-OLD-SHAPE", "CL-RETRY-TRANSIENT", "CL-RECOVER-30008",
            "CL-RECOVER-RATE-LIMIT", "CL-SURVIVE-502-TIMEOUT", "CL-RENEW-USERSIG-70001"}


def client_checks() -> list[str]:
    return sorted(rule for rule in registry.load_all() if rule.startswith("CL-"))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}:{c.status}:{c.name}" for c in CASES])
def test_client_check(spec, case):
    observation = case.observe()
    found = evaluate(spec, case.rule, observation)
    assert found.status == case.status, found
    for text in case.says:
        assert text in found.message, found.message
    if case.status == "fail":
        assert found.message.startswith(f"[{observation.note}] "), found.message  # the scenario's label first
        assert found.failure is not None and found.failure.rule_id == case.rule
    if case.status == "skip" and observation.kind == "run":
        assert f"[{observation.note}]" in found.message, found.message


def test_every_client_rule_has_cases(spec):
    rules = client_checks()
    assert rules == sorted(client_rules(spec)), "every CL- rule of the spec has one check, and no other has"
    covered = {(case.rule, case.status) for case in CASES}
    wanted = [(rule, status) for rule in rules for status in ("pass", "fail")]
    wanted += [(rule, "skip") for rule in sorted(CAN_SKIP)]
    assert [w for w in wanted if w not in covered] == []
    assert {case.rule for case in CASES} <= set(rules)


@pytest.mark.parametrize("rule_id", client_checks())
def test_an_unreached_observation_is_skipped(spec, rule_id):
    kind = next(iter(registry.CHECKS[rule_id].judgements))
    reason = failed_first("CL-USERSIG-VALID", "ErrorCode 70009 on request #1")
    found = evaluate(spec, rule_id, Observation(kind, note="happy", unreached=reason))
    assert (found.status, found.message) == ("skip", reason)


@pytest.mark.parametrize("rule_id", client_checks())
def test_a_check_refuses_evidence_it_does_not_judge(spec, rule_id):
    kinds = {"request", "stream", "run"} - set(registry.CHECKS[rule_id].judgements)
    for kind in kinds:
        with pytest.raises(registry.UnknownEvidence, match=rule_id):
            evaluate(spec, rule_id, Observation(kind, note="happy"))
