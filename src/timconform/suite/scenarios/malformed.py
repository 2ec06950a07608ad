"""Malformed requests: each class of broken body, URL or query gets HTTP 200 and its own rule's code.

Raw calls go through session.client.call (redaction, pacing and the budget apply). Requests whose
body is a valid friend_import go through session.send_import, so every response check runs on the
refusal envelope too; those carry a fresh To_Account each, and one friend_check at the end shows
that no refused request imported anything.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from timconform.oracle.derived import Derived
from timconform.suite.registry import scenario
from timconform.suite.scenarios.common import RESPONSE_RULES
from timconform.suite.session import Session, item

# The least padding for OPEN-REQUEST-SIZE-LIMIT; it grows to twice the largest valid request, whose size
# depends on the target's custom tags (\u-escaped: 2.7 MiB with none, 1 MiB more per tag, 22.6 MiB with 20).
OVERSIZE_BYTES = 6 * 1024 * 1024
NESTING = 100_000


class Probes:
    """Valid-bodied probes from one sender, each to its own fresh account, checked for imports at the end."""

    def __init__(self, session: Session, count: int) -> None:
        self.session = session
        self.sender, *self._free = session.accounts(1 + count)
        self.refused: list[tuple[str, str, str, Any]] = []

    def body(self) -> dict[str, Any]:
        to = self._free.pop()
        return {"From_Account": self.sender, "AddFriendItem": [item(to)]}

    def send(self, rule: str | None, what: str, *, refused: bool = True, **call: Any):
        """Send a valid body with ``call`` changed; judge it under ``rule`` (None: the caller judges)."""
        body = self.body()
        reply = self.session.send_import(body, **call)
        if rule is not None:
            self.session.judge(rule, "refused", reply, note=what)
        if refused and rule is not None:
            self.refused.append((rule, what, body["AddFriendItem"][0]["To_Account"], reply))
        return body, reply

    def nothing_imported(self) -> None:
        if not self.refused:
            return
        imported = self.session.friends_among(self.sender, [to for _, _, to, _ in self.refused])
        for rule, what, to, reply in self.refused:
            self.session.judge(rule, "not_kept", reply, account=to, owner=self.sender, friends=imported,
                               note=f"the request with {what}")


def send_raw(session: Session, rule: str, what: str, *, could_import: dict[str, Any] | None = None, **call: Any):
    """A request no valid body describes, its answer judged as an answer (FI-HTTP-200, the envelope, ...) and
    for the rule's code. ``could_import``: the friend_import body a lenient target might act on."""
    reply = session.send_raw(could_import, **call)
    session.judge(rule, "refused", reply, note=what)
    return reply


@scenario("malformed-body", rules=RESPONSE_RULES + ("FI-JSON-PARSE-60003", "FI-EMPTY-BODY", "FI-NON-UTF8-BODY",
                                                   "FI-DEEP-NESTING"))
def malformed_body(session: Session) -> None:
    """Bodies that are not JSON, empty, not UTF-8 or nested too deeply are refused with their codes."""
    sender, cut_to, latin1_to, nested_to = session.accounts(4)

    def body(to: str, **fields: Any) -> dict[str, Any]:
        return {"From_Account": sender, "AddFriendItem": [item(to, **fields)]}

    def text(value: dict[str, Any]) -> bytes:
        return json.dumps(value).encode("utf-8")

    cut, latin1, nested = body(cut_to), body(latin1_to, Remark="caf~"), body(nested_to, Remark="~")
    send_raw(session, "FI-JSON-PARSE-60003", "the body {not json", raw=b"{not json")
    send_raw(session, "FI-JSON-PARSE-60003", "a valid body cut short", could_import=cut, raw=text(cut)[:-3])
    send_raw(session, "FI-EMPTY-BODY", "an empty body", raw=b"")
    send_raw(session, "FI-NON-UTF8-BODY", "the body FF FE {}", raw=b"\xff\xfe{}")
    # A Latin-1 byte inside an otherwise valid body: the rule forbids storing it mangled.
    send_raw(session, "FI-NON-UTF8-BODY", "a valid body whose Remark holds the Latin-1 byte E9",
             could_import=latin1, raw=text(latin1).replace(b"caf~", b"caf\xe9"))
    send_raw(session, "FI-DEEP-NESTING", f"{NESTING} unclosed [", raw=b"[" * NESTING)
    deep = b"[" * NESTING + b"]" * NESTING
    send_raw(session, "FI-DEEP-NESTING", f"a valid body with a Remark nested {NESTING} arrays deep",
             could_import=nested, raw=text(nested).replace(b'"~"', deep))
    imported = session.friends_among(sender, [cut_to, latin1_to, nested_to])
    for rule, to in (("FI-JSON-PARSE-60003", cut_to), ("FI-NON-UTF8-BODY", latin1_to), ("FI-DEEP-NESTING", nested_to)):
        session.judge(rule, "not_kept", account=to, owner=sender, friends=imported,
                      note=f"the malformed body naming {to}")


@scenario("malformed-url", rules=RESPONSE_RULES + ("FI-METHOD-POST", "FI-UNKNOWN-COMMAND"))
def malformed_url(session: Session) -> None:
    """GET and unknown commands are answered in the envelope, never served as an import."""
    sender, *targets = session.accounts(4)
    probes = [("FI-METHOD-POST", "method GET", {"method": "GET"}),
              ("FI-UNKNOWN-COMMAND", "the command /v4/sns/no_such_command", {"path": "/v4/sns/no_such_command"}),
              ("FI-UNKNOWN-COMMAND", "the service /v4/no_such_service/friend_import",
               {"path": "/v4/no_such_service/friend_import"})]
    for (rule, what, call), to in zip(probes, targets):
        body = {"From_Account": sender, "AddFriendItem": [item(to)]}
        send_raw(session, rule, what, could_import=body, body=body, **call)
    imported = session.friends_among(sender, targets)
    for (rule, what, _), to in zip(probes, targets):
        session.judge(rule, "not_kept", account=to, owner=sender, friends=imported, note=f"the request with {what}")


@scenario("malformed-query", rules=RESPONSE_RULES + ("FI-SDKAPPID-MISSING-60012", "FI-QUERY-MISSING",
                                                     "FI-CONTENTTYPE-PARAM", "FI-QUERY-CASE-SENSITIVE",
                                                     "FI-QUERY-PARAMS"))
def malformed_query(session: Session) -> None:
    """Missing, misspelt and wrong-valued query parameters are refused; the range ends of random are not."""
    probes = Probes(session, 12)
    probes.send("FI-SDKAPPID-MISSING-60012", "no sdkappid", query={"sdkappid": None})
    for name in ("identifier", "usersig", "random", "contenttype"):
        probes.send("FI-QUERY-MISSING", f"no {name}", query={name: None})
    probes.send("FI-CONTENTTYPE-PARAM", "contenttype=xml", query={"contenttype": "xml"})
    creds = session.client.creds
    probes.send("FI-QUERY-CASE-SENSITIVE", "SDKAppID= instead of sdkappid=",
                query={"sdkappid": None, "SDKAppID": creds.sdkappid})
    probes.send("FI-QUERY-CASE-SENSITIVE", "Identifier= instead of identifier=",
                query={"identifier": None, "Identifier": creds.identifier})
    probes.send("FI-QUERY-CASE-SENSITIVE", "contenttype=JSON", query={"contenttype": "JSON"})
    # The range's ends, and the first value a signed 32-bit parser cannot hold.
    for value in (0, 2**31, session.spec.limit("random_max")):
        _, reply = probes.send(None, f"random={value}", query={"random": value})
        session.judge("FI-QUERY-PARAMS", "accepted_call", reply, note=f"a valid request with random={value}")
    probes.nothing_imported()


def _repeated(session: Session, name: str, first: Any, second: Any) -> str:
    pairs = list(session.client.query().items())
    at = next(i for i, (key, _) in enumerate(pairs) if key == name)
    pairs[at] = (name, first)
    pairs.insert(at + 1, (name, second))
    return urlencode(pairs)


@scenario("open-query", rules=RESPONSE_RULES + ("FI-QUERY-REPEATED", "OPEN-RANDOM-OUT-OF-RANGE",
                                                "OPEN-UNKNOWN-QUERY-PARAM", "OPEN-CONTENT-TYPE-HEADER",
                                                "OPEN-RANDOM-REUSE", "FI-VALID-ITEM-IMPORTED"), needs=("open-rules",))
def open_query(session: Session) -> None:
    """Which outcome a target shows for a repeated, out-of-range or unknown parameter, and for the header."""
    probes = Probes(session, 11)
    _query_repeated(session, probes)
    limit = session.spec.limit("random_max")
    for value in (limit + 1, -1, "abc"):
        probes.send("OPEN-RANDOM-OUT-OF-RANGE", f"random={value}", refused=False, query={"random": value})
    probes.send("OPEN-UNKNOWN-QUERY-PARAM", "an extra foo=bar", refused=False, query={"foo": "bar"})
    # httpx cannot drop the client's default header; an empty value is what a server sees for "none".
    for value in ("text/plain", "application/x-www-form-urlencoded", ""):
        probes.send("OPEN-CONTENT-TYPE-HEADER", f"Content-Type: {value!r}", refused=False,
                    headers={"Content-Type": value})
    _random_reuse(session, probes)


def _query_repeated(session: Session, probes: Probes) -> None:
    """usersig given twice, the valid one first and then last: the answer shows which one a target read.

    usersig, not random or contenttype: a wrong usersig has its own codes (FI-AUTH-USERSIG-MALFORMED), so
    a refusal for the bad value is told apart from reject-60002."""
    valid = session.client.usersigs.current()
    copies = []
    for valid_first in (True, False):
        order = (valid, "not-a-usersig") if valid_first else ("not-a-usersig", valid)
        what = "usersig given twice, the valid value " + ("first" if valid_first else "last")
        copies.append((valid_first, probes.send(None, what, raw_query=_repeated(session, "usersig", *order))[1]))
    session.judge("FI-QUERY-REPEATED", "copies", copies=copies)


def _random_reuse(session: Session, probes: Probes) -> None:
    """Two valid imports with one random: the second target's presence in state tells the outcomes apart."""
    shared = session.client.query()["random"]
    # Whether the repeat was stored tells "accepted" from "deduplicated" only if the first one was.
    session.import_valid(probes.sender, probes.body()["AddFriendItem"], query={"random": shared})
    # Sent raw: a deduplicating target may replay the first answer, which the response checks of this
    # body would misread as a wrong ResultItem.
    second = probes.body()
    again = session.send_raw(second, body=second, query={"random": shared})
    to = second["AddFriendItem"][0]["To_Account"]
    read_back = session.friends_among(probes.sender, [to]).derived.replies if again.ok else ()
    session.judge("OPEN-RANDOM-REUSE", "repeat", again, stored=Derived("accepted_and_friend", (again, *read_back), (to,)))


def _largest_items(session: Session, names: list[str]) -> list[dict[str, Any]]:
    """One item per name with every text field at its byte limit, in multi-byte characters where it fits."""
    limit = session.spec.limit
    remark = "好" * (limit("remark_bytes") // 3) + "a" * (limit("remark_bytes") % 3)
    wording = "好" * (limit("add_wording_bytes") // 3) + "a" * (limit("add_wording_bytes") % 3)
    group_bytes = limit("group_name_bytes")
    groups = [f"{n:02d}" + "好" * ((group_bytes - 2) // 3) + "a" * ((group_bytes - 2) % 3)
              for n in range(limit("friend_lists_per_user"))]
    value = "好" * (limit("custom_value_bytes") // 3) + "a" * (limit("custom_value_bytes") % 3)
    source = "AddSource_Type_" + "A" * limit("add_source_keyword_letters")
    custom = [{"Tag": tag, "Value": value} for tag in session.custom_tags]
    return [{"To_Account": name, "Remark": remark, "RemarkTime": 1420000001, "GroupName": groups,
             "AddSource": source, "AddWording": wording, "AddTime": 1420000001,
             **({"CustomItem": custom} if custom else {})} for name in names]


def _full_width(session: Session, count: int) -> list[str]:
    """Fresh account names padded to the UserID byte limit (unique: each base name ends before the '_')."""
    width = session.spec.limit("user_id_bytes")
    return [name + "_" + "x" * (width - len(name) - 1) for name in session.names(count)]


def _largest_request(session: Session, names: list[str]) -> tuple[dict[str, Any], bytes]:
    """The largest valid request from names[0] to the rest, and its largest encoding: every non-ASCII
    character \\u-escaped, as json.dumps' default (and tencentcloud-sdk-python-im) sends it."""
    body = {"From_Account": names[0], "AddFriendItem": _largest_items(session, names[1:])}
    return body, json.dumps(body).encode("ascii")


@scenario("body-size", rules=RESPONSE_RULES + ("FI-BODY-SIZE",), needs=("large", "creates-accounts"))
def body_size(session: Session) -> None:
    """The largest valid request (1000 items, every field at its byte limit, escaped) is processed normally."""
    names = _full_width(session, 1 + session.spec.limit("batch_items"))
    session.import_accounts(names)
    body, raw = _largest_request(session, names)
    reply = session.send_import(body, raw=raw)
    session.judge("FI-BODY-SIZE", "all_imported", reply, request=body["AddFriendItem"],
                  note=f"the largest valid request ({len(raw)} bytes, {len(session.custom_tags)} custom tags per item) "
                       "processed normally")


@scenario("request-size-limit", rules=RESPONSE_RULES + ("OPEN-REQUEST-SIZE-LIMIT",), needs=("full", "open-rules"))
def request_size_limit(session: Session) -> None:
    """A valid body padded with whitespace past any valid request's size (6 MiB or more): processed, refused in
    the envelope, or HTTP 413."""
    width = session.spec.limit("user_id_bytes")
    dummies = [f"{n:0{width}d}" for n in range(1 + session.spec.limit("batch_items"))]
    largest = len(_largest_request(session, dummies)[1])
    sender, to = session.accounts(2)
    head = json.dumps({"From_Account": sender}).encode("utf-8")[:-1]
    tail = json.dumps({"AddFriendItem": [item(to)]}).encode("utf-8")[1:]
    padded = head + b"," + b" " * max(OVERSIZE_BYTES, 2 * largest) + tail
    session.ledger_intent({"From_Account": sender, "AddFriendItem": [item(to)]})
    reply = session.client.call("friend_import", raw=padded)
    if reply.status != 413:  # a front-end refusal the open rule lists; not an answer FI-HTTP-200 judges
        session.answer(reply)
    session.judge("OPEN-REQUEST-SIZE-LIMIT", "oversize", reply,
                  note=f"a valid body padded to {len(padded)} bytes (the largest valid request: {largest})")
