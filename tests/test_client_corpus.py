"""Client grades that blame only what the client did (issue 13): a corpus of clients, one defect each.

Each client of tests/clients/variants.py is the reference client with one method changed. Certified with
--strict (an inferred rule broken is a Fail), each must fail exactly the rules its defect breaks: a client
whose requests the gateway refuses is graded on that, and not on faults it never received; a client that
renews its UserSig at once passes; nothing is an Error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from timconform.clientcert.runner import certify
from timconform.report.model import Verdict

VARIANTS = Path(__file__).resolve().parent / "clients" / "variants.py"
RECOVERY = {"CL-RETRY-TRANSIENT", "CL-RECOVER-30008", "CL-RECOVER-RATE-LIMIT", "CL-RENEW-USERSIG-70001",
            "CL-SURVIVE-502-TIMEOUT"}

EXPECTED = {  # variant -> (rules that Fail, rules that Skip with "not delivered" or "not reached")
    "reference": (set(), set()),
    "no-timeout": (set(), set()),
    "no-random": ({"CL-QUERY-PARAMS"}, RECOVERY | {"CL-IMPORT-COMPLETE", "CL-TOLERATE-OLD-SHAPE"}),
    "malformed-usersig": ({"CL-USERSIG-VALID"}, RECOVERY | {"CL-IMPORT-COMPLETE", "CL-TOLERATE-OLD-SHAPE"}),
    "short-timeout": ({"CL-SURVIVE-502-TIMEOUT"}, set()),
    "immediate-retries": ({"CL-RETRY-BACKOFF"}, set()),
    "retries-permanent": ({"CL-NO-RETRY-PERMANENT"}, set()),
    "swallows-partial-failures": ({"CL-REPORT-PARTIAL-FAILURE"}, set()),
    "resends-refused-usersig": ({"CL-RENEW-USERSIG-70001"}, set()),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def graded(request):
    certification = certify([sys.executable, str(VARIANTS), request.param], strict=True, time_limit=30)
    return request.param, certification.result


def test_each_client_fails_exactly_what_its_defect_breaks(graded):
    name, result = graded
    fails, _ = EXPECTED[name]
    assert {r.rule_id for r in result.rules if r.verdict == Verdict.FAIL} == fails, \
        {r.rule_id: [e.message for e in r.evidence][:1] for r in result.rules if r.verdict == Verdict.FAIL}
    assert not [r for r in result.rules if r.verdict in (Verdict.ERROR, Verdict.WARN)]


def test_a_fault_the_client_never_received_is_not_graded(graded):
    name, result = graded
    _, unreached = EXPECTED[name]
    skipped = {r.rule_id: r.reason for r in result.rules if r.verdict == Verdict.SKIP}
    named = {r for r, why in skipped.items() if why.startswith(("not delivered", "not reached"))}
    assert named == unreached, skipped
    for rule in unreached:
        assert "refused first with" in skipped[rule] and ("CL-QUERY-PARAMS" in skipped[rule]
                                                          or "CL-USERSIG-VALID" in skipped[rule]), skipped[rule]
