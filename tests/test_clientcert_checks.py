"""The client checks on hand-made requests: each CL- rule catches what it names, and nothing else."""

import json

import pytest

from timconform import usersig
from timconform.clientcert.checks import Checker, Expected
from timconform.clientcert.recording import Recorded, SigJudge, redact_query, sig_hash
from timconform.emulator.config import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY
from timconform.oracle.recorder import Recorder
from timconform.report.model import Verdict

EXPECTED = Expected(DEMO_SDKAPPID, DEMO_ADMIN)
ITEM = {"To_Account": "bob", "AddSource": "AddSource_Type_Web"}


def make(index=0, *, query=None, body=None, headers=None, started=0.0, ended=None, status=200, answer=None,
         sig=None) -> Recorded:
    sig = usersig.generate(DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY) if sig is None else sig
    raw = query if query is not None else (f"sdkappid={DEMO_SDKAPPID}&identifier={DEMO_ADMIN}&usersig={sig}"
                                          f"&random={1000 + index}&contenttype=json")
    redacted, params, found, bad = redact_query(raw.encode("latin-1"))
    body = {"From_Account": "alice", "AddFriendItem": [ITEM]} if body is None else body
    return Recorded(index=index, started=started, ended=started + 0.01 if ended is None else ended, wall=0.0,
                    method="POST", path="/v4/sns/friend_import", query=redacted, params=params,
                    headers={"content-type": "application/json"} if headers is None else headers,
                    body_bytes=body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode(),
                    status=status, response_body=json.dumps(answer or {"ActionStatus": "OK", "ErrorCode": 0,
                                                                        "ErrorInfo": "", "ResultItem": []}),
                    usersig_verdict=SigJudge(DEMO_SECRET_KEY, sdkappid=DEMO_SDKAPPID).verdict(found, params),
                    usersig_hash=sig_hash(found), usersig_bad_chars=bad)


def judge(spec, records, *, stream=False, strict=False):
    recorder = Recorder(spec, selected=[r for r in spec.rules if r.startswith("CL-")], strict=strict)
    checker = Checker(spec, recorder)
    for record in records:
        checker.request(record, EXPECTED)
    if stream:
        checker.stream(records)
    return {r.rule_id: r for r in recorder.results() if r.rule_id.startswith("CL-") and r.checks}


def test_a_correct_request_passes_every_request_rule(spec):
    results = judge(spec, [make()])
    assert {k: v.verdict for k, v in results.items()} == {
        "CL-REQUEST-VALID": Verdict.PASS, "CL-QUERY-PARAMS": Verdict.PASS, "CL-USERSIG-VALID": Verdict.PASS,
        "CL-BATCH-1000": Verdict.PASS, "CL-JSON-CONTENT-TYPE": Verdict.PASS}


@pytest.mark.parametrize("query, why", [
    (f"sdkappid={DEMO_SDKAPPID}&identifier=admin x&usersig=S&random=1&contenttype=json", "' '"),
    (f"sdkappid={DEMO_SDKAPPID}&identifier=admin&y=&usersig=S&random=1&contenttype=json", "unexpected ['y']"),
    (f"sdkappid={DEMO_SDKAPPID}&identifier={DEMO_ADMIN}&usersig=S&contenttype=json", "missing ['random']"),
    (f"sdkappid={DEMO_SDKAPPID}&identifier={DEMO_ADMIN}&usersig=S&random=4294967296&contenttype=json", "4294967296"),
    (f"sdkappid={DEMO_SDKAPPID}&identifier={DEMO_ADMIN}&usersig=S&random=-1&contenttype=json", "'-1'"),
    (f"sdkappid={DEMO_SDKAPPID}&identifier={DEMO_ADMIN}&usersig=S&random=1&contenttype=JSON", "contenttype"),
    (f"sdkappid={DEMO_SDKAPPID}&identifier={DEMO_ADMIN}&usersig=S&random=1&random=2&contenttype=json", "repeated"),
    ("sdkappid=1400000001&identifier=administrator&usersig=S&random=1&contenttype=json", "sdkappid=1400000000"),
    ("sdkappid=1400000000&identifier=administrator&usersig=S S&random=1&contenttype=json", "' '"),
])
def test_query_problems_are_caught(spec, query, why):
    result = judge(spec, [make(query=query.replace("usersig=S", "usersig=" + usersig.generate(
        DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY)) if "S S" not in query else query)])["CL-QUERY-PARAMS"]
    assert result.verdict == Verdict.FAIL and why in result.evidence[0].message


def test_query_rule_accepts_percent_encoding_and_the_range_ends(spec):
    sig = usersig.generate(DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY)
    for random in ("0", "4294967295"):
        query = f"sdkappid={DEMO_SDKAPPID}&identifier=administrator&usersig={sig.replace('*', '%2A')}&random={random}" \
                "&contenttype=json"
        assert judge(spec, [make(query=query)])["CL-QUERY-PARAMS"].verdict == Verdict.PASS


@pytest.mark.parametrize("sig, reason", [
    (usersig.generate(DEMO_SDKAPPID, DEMO_ADMIN, "another key"), "SIG_MISMATCH"),
    (usersig.generate(DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY, expire=10, now=1_000_000), "EXPIRED"),
    ("eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUI", "MALFORMED"),
])
def test_a_bad_usersig_is_caught_without_being_recorded(spec, sig, reason):
    record = make(sig=sig)
    assert sig not in repr(record) and sig not in record.query
    result = judge(spec, [record])["CL-USERSIG-VALID"]
    assert result.verdict == Verdict.FAIL and reason in result.evidence[0].message


def test_a_usersig_for_another_identifier_than_the_admin_is_caught(spec):
    sig = usersig.generate(DEMO_SDKAPPID, "bob", DEMO_SECRET_KEY)
    query = f"sdkappid={DEMO_SDKAPPID}&identifier=bob&usersig={sig}&random=1&contenttype=json"
    result = judge(spec, [make(query=query)])["CL-USERSIG-VALID"]
    assert result.verdict == Verdict.FAIL and "the app admin" in result.evidence[0].message


@pytest.mark.parametrize("body, where", [
    ({"From_Account": "alice", "AddFriendItem": [{**ITEM, "Remark": "好" * 32 + "a"}]}, "/AddFriendItem/0/Remark"),
    ({"From_Account": "alice", "AddFriendItem": [{**ITEM, "GroupName": ["好" * 10 + "a"]}]}, "GroupName/0"),
    ({"From_Account": "a" * 33, "AddFriendItem": [ITEM]}, "/From_Account"),
    ({"From_Account": "alice", "AddFriendItem": [{**ITEM, "GroupName": "notalist"}]}, "/AddFriendItem/0/GroupName"),
    ({"From_Account": 777, "AddFriendItem": [ITEM]}, "/From_Account"),
    ({"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": "Android"}]}, "AddSource"),
    ({"From_Account": "alice", "AddFriendItem": []}, "/AddFriendItem"),
    (b"\xff\xfe", "UTF-8"),
    (b"{not json", "JSON"),
])
def test_invalid_bodies_are_caught(spec, body, where):
    result = judge(spec, [make(body=body)])["CL-REQUEST-VALID"]
    assert result.verdict == Verdict.FAIL and where in result.evidence[0].message


def test_a_batch_over_1000_is_graded_by_the_batch_rule_alone(spec):
    items = [{"To_Account": f"u{n}", "AddSource": "AddSource_Type_Web"} for n in range(1001)]
    results = judge(spec, [make(body={"From_Account": "alice", "AddFriendItem": items})])
    assert results["CL-BATCH-1000"].verdict == Verdict.FAIL and "1001" in results["CL-BATCH-1000"].evidence[0].message
    assert results["CL-REQUEST-VALID"].verdict == Verdict.PASS
    items = items[:1000]
    assert judge(spec, [make(body={"From_Account": "alice", "AddFriendItem": items})])[
        "CL-BATCH-1000"].verdict == Verdict.PASS


@pytest.mark.parametrize("headers, verdict", [
    ({"content-type": "application/json; charset=utf-8"}, Verdict.PASS),
    ({"content-type": "Application/JSON"}, Verdict.PASS),
    ({}, Verdict.WARN),
    ({"content-type": "text/plain"}, Verdict.WARN),
])
def test_content_type_is_an_inferred_rule(spec, headers, verdict):
    assert judge(spec, [make(headers=headers)])["CL-JSON-CONTENT-TYPE"].verdict == verdict
    if verdict == Verdict.WARN:
        assert judge(spec, [make(headers=headers)], strict=True)["CL-JSON-CONTENT-TYPE"].verdict == Verdict.FAIL


def test_a_repeated_random_is_a_warning_and_fresh_ones_pass(spec):
    fresh = [make(0), make(1, started=1.0)]
    assert judge(spec, fresh, stream=True)["CL-RANDOM-FRESH"].verdict == Verdict.PASS
    query = fresh[0].query.replace("<redacted>", usersig.generate(DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY))
    repeated = [make(0, query=query), make(1, query=query, started=1.0)]
    result = judge(spec, repeated, stream=True)["CL-RANDOM-FRESH"]
    assert result.verdict == Verdict.WARN and "random=1000" in result.evidence[0].message


def test_more_than_200_calls_in_a_second_fail_the_rate_rule(spec):
    calls = [make(n, started=n * 0.004) for n in range(201)]  # 201 calls in 0.8 s
    assert judge(spec, calls, stream=True)["CL-RATE-200"].verdict == Verdict.FAIL
    calls = [make(n, started=n * 0.0051) for n in range(300)]  # 196 per second
    assert judge(spec, calls, stream=True)["CL-RATE-200"].verdict == Verdict.PASS


def _answer(code):
    return {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": "x", "ErrorDisplay": ""}


@pytest.mark.parametrize("gap, verdict", [(0.001, Verdict.WARN), (0.2, Verdict.PASS)])
def test_a_retry_must_wait(spec, gap, verdict):
    failed = make(0, started=0.0, ended=0.1, answer=_answer(30006))
    retry = make(1, started=0.1 + gap)
    assert judge(spec, [failed, retry], stream=True)["CL-RETRY-BACKOFF"].verdict == verdict


def test_a_permanent_item_failure_must_not_be_resent(spec):
    answer = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "Fail_Account": ["bob"],
              "ResultItem": [{"To_Account": "bob", "ResultCode": 30003, "ResultInfo": "Err"}]}
    first = make(0, answer=answer)
    again = make(1, started=1.0)
    assert judge(spec, [first, again], stream=True)["CL-NO-RETRY-PERMANENT"].verdict == Verdict.WARN
    assert judge(spec, [first], stream=True)["CL-NO-RETRY-PERMANENT"].verdict == Verdict.PASS
    # A transient item code may be resent, and is not a permanent failure.
    answer["ResultItem"][0]["ResultCode"] = 30006
    assert "CL-NO-RETRY-PERMANENT" not in judge(spec, [make(0, answer=answer), again], stream=True)
