"""From what each scenario recorded to a :class:`~timconform.report.model.RunResult` over the CL- rules.

Grading is separate from running, so one recorded certification can be graded strict and not strict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from timconform.clientcert.checks import REQUEST_RULES, STREAM_RULES, Checker, Expected
from timconform.clientcert.recording import Recorded
from timconform.clientcert.scenarios import Scenario
from timconform.oracle.client import (NOT_CHECKED, batch_problem, body_problem, content_type_problem, delivered,
                                      query_problem, usersig_problem)
from timconform.oracle.recorder import Recorder
from timconform.oracle.registry import Observation, judge
from timconform.report.model import RunResult
from timconform.spec import Spec

REPORT_RULE = "CL-REPORT-PARTIAL-FAILURE"
ROOT_CAUSE_SHARE = 0.8  # one refusal this common among the client's requests is named as the thing to fix first
ROOT_CAUSE_MIN_REQUESTS = 3
SKIP_REASONS = {
    "CL-RANDOM-FRESH": "no client process sent two requests carrying random, so a repeated random could not show",
    "CL-RETRY-BACKOFF": "the client never retried after a retryable answer, so its wait could not be measured "
                        "(not retrying is graded by the recovery rules)",
    "CL-NO-RETRY-PERMANENT": "no request or item was refused with a permanent code",
}


@dataclass
class ScenarioRun:
    """What one scenario left behind: the requests, the adapter's exit, the emulator's state."""

    scenario: Scenario
    records: list[Recorded]
    exit_code: int | None  # None: stopped after the time limit
    duration_s: float
    friends: dict[str, set[str]]  # From_Account -> To_Accounts in its friend table afterwards
    output_tail: list[str] = field(default_factory=list)
    time_limit_s: float = 0.0
    error: str | None = None  # the harness failed (not the client)
    connects: dict[str, list[str]] = field(default_factory=dict)

    def missing(self) -> dict[str, set[str]]:
        """Importable To_Accounts that are not in the friend table."""
        return {sender: wanted - self.friends.get(sender, set())
                for sender, wanted in self.scenario.importable().items()}

    def everything_imported(self) -> bool:
        return all(wanted <= self.friends.get(sender, set()) for sender, wanted in self.scenario.wanted().items())

    def counts(self) -> tuple[int, int]:
        """(importable items imported, importable items)."""
        importable = sum(len(v) for v in self.scenario.importable().values())
        return importable - sum(len(v) for v in self.missing().values()), importable

    def imports(self) -> list[Recorded]:
        return [r for r in self.records if r.operation == "friend_import"]

    def exit_text(self) -> str:
        return f"stopped after {self.time_limit_s:g} s" if self.exit_code is None else f"exit {self.exit_code}"

    def summary(self) -> dict[str, Any]:
        done, importable = self.counts()
        out: dict[str, Any] = {"scenario": self.scenario.name, "description": self.scenario.description,
                               "adapter": self.exit_text(), "requests": len(self.records),
                               "friend_import_requests": len(self.imports()),
                               "items_per_request": [len(r.items()) for r in self.imports()][:20],
                               "imported": f"{done} of {importable} importable",
                               "duration_s": round(self.duration_s, 2)}
        if self.connects.get("allowed") or self.connects.get("refused"):
            out["connect"] = self.connects
        if self.error:
            out["error"] = self.error
        if self.output_tail and self.exit_code != 0:
            out["output_tail"] = self.output_tail
        return out


def client_rules(spec: Spec) -> list[str]:
    return [rule_id for rule_id in spec.rules if rule_id.startswith("CL-")]


def scenario_rules(scenario: Scenario) -> set[str]:
    return {REPORT_RULE, *scenario.rules, *([scenario.recovery] if scenario.recovery else [])}


def grade(spec: Spec, runs: Sequence[ScenarioRun], *, strict: bool, expected: Expected,
          meta: dict[str, Any]) -> RunResult:
    rules = client_rules(spec)
    recorder = Recorder(spec, selected=rules, strict=strict, scope=rules, max_evidence=None)
    checker = Checker(spec, recorder)
    by_name = {run.scenario.name: run for run in runs}
    graded: set[str] = set()
    for run in runs:
        graded |= scenario_rules(run.scenario)
    if runs and not any(run.records for run in runs):
        tails = next((run.output_tail for run in runs if run.output_tail), [])
        reason = ("the command sent no request to the emulator in any scenario: it does not follow the adapter "
                  "convention (TIMCONFORM_TARGET, or HTTPS_PROXY for a hard-coded host)")
        if tails:
            reason += f"; its last output: {tails[-1]}"
        recorder.errored(rules, reason)
    else:
        for run in runs:
            _grade_run(checker, recorder, run, expected, by_name)
    for rule_id in rules:
        if rule_id in SKIP_REASONS:
            recorder.skipped([rule_id], SKIP_REASONS[rule_id])
        elif rule_id not in graded and rule_id not in (*REQUEST_RULES, *STREAM_RULES):
            recorder.skipped([rule_id], "no selected scenario grades this rule (see --scenarios)")
        else:
            recorder.skipped([rule_id], "no request the client sent exercised this rule")
    recorder.context = None
    coverage = {"elicited": {str(c): n for c, n in sorted(recorder.codes_seen.items())},
                "unknown": {str(c): n for c, n in sorted(recorder.unknown_codes.items())},
                "scenarios": [run.summary() for run in runs]}
    cause = root_cause(spec, runs, checker, expected)
    return RunResult(meta={**meta, **({"root_cause": cause} if cause else {})}, rules=recorder.results(),
                     coverage=coverage)


def root_cause(spec: Spec, runs: Sequence[ScenarioRun], checker: Checker, expected: Expected) -> str | None:
    """One refusal that most of the client's requests got, over every scenario: the thing to fix first,
    since what it hides cannot be graded (None when no refusal is that common)."""
    answers: Counter = Counter()
    examples: dict[str, Recorded] = {}
    total = 0
    for run in runs:
        faults = {f.get("code") for f in run.scenario.faults} | {f.get("status") for f in run.scenario.faults}
        for record in run.records:
            if not record.path.startswith("/v4/"):
                continue
            total += 1
            code = record.error_code()
            if code and code not in faults:
                answer = f"ErrorCode {code}"
            elif record.status not in (None, 200) and record.status not in faults:
                answer = f"HTTP {record.status}"
            else:
                continue
            answers[answer] += 1
            examples.setdefault(answer, record)
    if not answers or total < ROOT_CAUSE_MIN_REQUESTS:
        return None
    answer, count = answers.most_common(1)[0]
    if count < ROOT_CAUSE_SHARE * total:
        return None
    code = int(answer.split()[-1]) if answer.startswith("ErrorCode") else None
    meaning = f" ({spec.codes[code].meaning.rstrip('.')})" if code in spec.codes else ""
    broken = request_problem(checker, examples[answer], expected)
    why = f", which {broken} explains" if broken else ""
    return f"{count} of the client's {total} requests were refused with {answer}{meaning}{why}: fix this first"


def _grade_run(checker: Checker, recorder: Recorder, run: ScenarioRun, expected: Expected,
               by_name: dict[str, ScenarioRun]) -> None:
    scenario, label = run.scenario, run.scenario.name
    recorder.context = label
    if run.error is not None:
        recorder.errored(sorted(scenario_rules(scenario)), f"[{label}] {run.error}")
        return
    for record in run.records:
        for code in _codes(record):
            recorder.saw_code(code)
        if record.path.startswith("/v4/"):
            checker.request(record, expected, label)
    checker.stream(run.records, label)
    facts = {"run": run, "peer": by_name.get(scenario.peer or "")}
    judge(checker.spec, recorder, REPORT_RULE, Observation("run", note=label, facts=facts))
    refused = own_refusal(checker, run, expected)
    outcome_rules = [r for r in ("CL-IMPORT-COMPLETE", "CL-TOLERATE-OLD-SHAPE") if r in scenario.rules]
    if refused is not None:
        # Every import was refused for what the client itself sent: the request rule that says so is the
        # client's Fail; what the run would have shown about importing or recovering was never reached.
        recorder.skipped(outcome_rules, f"not reached [{label}]: {refused}")
        if scenario.recovery:
            recorder.skipped([scenario.recovery], f"not delivered [{label}]: {refused}")
        return
    for rule_id in outcome_rules + ([scenario.recovery] if scenario.recovery else []):
        judge(checker.spec, recorder, rule_id, Observation("run", note=label, facts=facts))


def own_refusal(checker: Checker, run: ScenarioRun, expected: Expected) -> str | None:
    """Why none of the client's imports got through, when that is the client's own doing: every friend_import
    was refused as a whole, and the first of them breaks a rule about what a request must carry. None when
    some import was accepted, or when nothing the client sent explains the refusals."""
    imports = run.imports()
    if not imports or any(r.error_code() == 0 for r in imports):
        return None
    first = imports[0]
    if run.scenario.faults and first is delivered(run):  # refused by the scenario's own fault, not by the gateway
        return None
    broken = request_problem(checker, first, expected)
    if broken is None:
        return None
    answer = f"ErrorCode {first.error_code()}" if first.error_code() is not None else f"HTTP {first.status}"
    return f"the client's requests were refused first with {answer} ({broken} failed: {first.describe()})"


# Which target rules' refusal codes each request rule explains: a refusal blames the client's request only
# when the request breaks a rule whose violation draws that very code (the codes come from the catalogue).
EXPLAINS = {
    "CL-QUERY-PARAMS": ("FI-QUERY-MISSING", "FI-SDKAPPID-MISSING-60012", "FI-QUERY-CASE-SENSITIVE",
                        "FI-CONTENTTYPE-PARAM", "FI-QUERY-REPEATED", "OPEN-RANDOM-OUT-OF-RANGE",
                        "OPEN-UNKNOWN-QUERY-PARAM"),
    "CL-USERSIG-VALID": ("FI-AUTH-USERSIG-EMPTY", "FI-AUTH-USERSIG-MALFORMED", "FI-AUTH-USERSIG-EXPIRED",
                         "FI-AUTH-USERSIG-WRONG-KEY", "FI-AUTH-USERSIG-IDENTIFIER-MISMATCH",
                         "FI-AUTH-USERSIG-SDKAPPID-MISMATCH", "FI-AUTH-ADMIN-REQUIRED"),
    "CL-BATCH-1000": ("FI-LIMIT-BATCH-1000", "OPEN-BATCH-OVERSIZE-CODE"),
    "CL-REQUEST-VALID": ("FI-JSON-PARSE-60003", "FI-EMPTY-BODY", "FI-NON-UTF8-BODY", "FI-REQUIRED-FIELDS",
                         "FI-FIELD-TYPES", "FI-ACCOUNT-TYPE-60015", "FI-METHOD-POST"),
    "CL-JSON-CONTENT-TYPE": ("OPEN-CONTENT-TYPE-HEADER",),
}


def request_problem(checker: Checker, record: Recorded, expected: Expected) -> str | None:
    """The request rule that ``record``'s refusal is the client's fault under: one the request breaks and
    whose violation draws the code it got (None: nothing the client sent explains the answer)."""
    code = record.error_code()
    if not code:
        return None
    usersig = usersig_problem(record, expected)
    problems = {"CL-QUERY-PARAMS": query_problem(checker.spec, record, expected),
                "CL-USERSIG-VALID": None if usersig is NOT_CHECKED else usersig,
                "CL-BATCH-1000": batch_problem(checker.spec, record),
                "CL-REQUEST-VALID": body_problem(checker.spec, record),
                "CL-JSON-CONTENT-TYPE": content_type_problem(record)}
    for rule_id, problem in problems.items():
        codes = {c for target in EXPLAINS[rule_id] for c in _rule_codes(checker.spec, target)}
        if problem is not None and code in codes:
            return rule_id
    return None


def _rule_codes(spec: Spec, rule_id: str) -> set[int]:
    rule = spec.rules[rule_id]
    return set(rule.codes) | {c for outcome in rule.outcomes for c in outcome.codes}


def _codes(record: Recorded) -> Iterable[int]:
    code = record.error_code()
    if code:
        yield code
    yield from (c for c in record.item_codes().values() if c)


