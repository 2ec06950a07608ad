"""From what each scenario recorded to a :class:`~timconform.report.model.RunResult` over the CL- rules.

Grading is separate from running, so one recorded certification can be graded strict and not strict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from timconform.clientcert.checks import (NOT_CHECKED, REQUEST_RULES, STREAM_RULES, Checker, Expected,
                                         content_type_problem, next_overlapping)
from timconform.clientcert.recording import Recorded
from timconform.clientcert.scenarios import Scenario
from timconform.oracle.recorder import Recorder
from timconform.report.model import RunResult
from timconform.spec import Spec

REPORT_RULE = "CL-REPORT-PARTIAL-FAILURE"
ROOT_CAUSE_SHARE = 0.8  # one refusal this common among the client's requests is named as the thing to fix first
ROOT_CAUSE_MIN_REQUESTS = 3
DELAY_SEEN = 0.9  # an answer at least this share of the injected delay late was delayed by it
OLD_SHAPE_MARK = "Invalid_Account"  # only the older response shape has it (api-facts §4.2)
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
    _report(checker, run)
    refused = own_refusal(checker, run, expected)
    outcome_rules = [r for r in ("CL-IMPORT-COMPLETE", "CL-TOLERATE-OLD-SHAPE") if r in scenario.rules]
    if refused is not None:
        # Every import was refused for what the client itself sent: the request rule that says so is the
        # client's Fail; what the run would have shown about importing or recovering was never reached.
        recorder.skipped(outcome_rules, f"not reached [{label}]: {refused}")
        if scenario.recovery:
            recorder.skipped([scenario.recovery], f"not delivered [{label}]: {refused}")
        return
    if "CL-IMPORT-COMPLETE" in scenario.rules:
        checker.verdict("CL-IMPORT-COMPLETE", _incomplete(run), _first(run), label)
    if scenario.recovery:
        _recovery(checker, recorder, run)
    if "CL-TOLERATE-OLD-SHAPE" in scenario.rules:
        _old_shape(checker, recorder, run, by_name.get(scenario.peer or ""))


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
    usersig = checker.usersig_problem(record, expected)
    batch = len(record.items()) > checker.spec.limit("batch_items")
    problems = {"CL-QUERY-PARAMS": checker.query_problem(record, expected),
                "CL-USERSIG-VALID": None if usersig is NOT_CHECKED else usersig,
                "CL-BATCH-1000": "too many items" if batch else None,
                "CL-REQUEST-VALID": checker.body_problem(record),
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


def _first(run: ScenarioRun) -> Recorded | None:
    imports = run.imports()
    return imports[0] if imports else None


def _incomplete(run: ScenarioRun) -> str | None:
    done, importable = run.counts()
    if done == importable:
        return None
    missing = sorted(a for accounts in run.missing().values() for a in accounts)
    return (f"Expected all {importable} importable items imported. Received {done} imported; missing "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''} ({len(run.imports())} friend_import request(s), "
            f"items per request {[len(r.items()) for r in run.imports()][:10]}; adapter {run.exit_text()}).")


def _report(checker: Checker, run: ScenarioRun) -> None:
    label = run.scenario.name
    if run.exit_code is None:
        checker.fail(REPORT_RULE, f"Expected the adapter to finish and report. It was still running after "
                                  f"{run.time_limit_s:g} s and was stopped.", _first(run), label)
        return
    everything = run.everything_imported()
    if (run.exit_code == 0) == everything:
        checker.ok(REPORT_RULE)
        return
    if run.exit_code != 0 and everything and any(r.client_gone for r in run.imports()):
        # It left before an answer: it could not know the import went through. Leaving is graded elsewhere.
        checker.recorder.skipped([REPORT_RULE], f"not reached [{label}]: the client left before an answer, so it "
                                                "could not know that its items were imported")
        return
    wanted = run.scenario.wanted()
    total = sum(len(v) for v in wanted.values())
    if run.exit_code == 0:
        left = sum(len(accounts - run.friends.get(sender, set())) for sender, accounts in wanted.items())
        message = (f"Expected a failure report (non-zero exit): {left} of {total} items were not imported. "
                   f"Received exit 0 (success).")
    else:
        message = f"Expected a success report (exit 0): all {total} items were imported. Received exit {run.exit_code}."
    checker.fail(REPORT_RULE, message, _last(run), label)


def _last(run: ScenarioRun) -> Recorded | None:
    imports = run.imports()
    return imports[-1] if imports else None


def delivered(run: ScenarioRun) -> Recorded | None:
    """The friend_import that met the scenario's fault, read from its answer (None: the client never met it)."""
    fault = run.scenario.faults[0]
    for record in run.imports():
        if fault["action"] == "code" and record.error_code() == fault["code"]:
            return record
        if fault["action"] == "http" and record.status == fault.get("status", 502):
            return record
        if fault["action"] == "delay" and record.ended is not None and \
                record.ended - record.started >= DELAY_SEEN * fault["seconds"]:
            return record
    return None


def _recovery(checker: Checker, recorder: Recorder, run: ScenarioRun) -> None:
    scenario, label, rule = run.scenario, run.scenario.name, run.scenario.recovery
    imports = run.imports()
    if not imports:
        checker.fail(rule, f"Expected friend_import requests. Received none (adapter {run.exit_text()}).", None, label)
        return
    met = delivered(run)
    if met is None:
        recorder.skipped([rule], f"not delivered [{label}]: no answer of the client's {len(imports)} friend_import "
                                 f"request(s) carried {scenario.fault_label}")
        return
    done, importable = run.counts()
    if scenario.faults[0].get("action") == "delay":
        if run.exit_code == 0 and done == importable:
            checker.ok(rule)
        else:
            checker.fail(rule, f"Expected the client to wait for (or time out and retry) {scenario.fault_label} and "
                               f"report success with every item imported. Received adapter {run.exit_text()}, "
                               f"{done} of {importable} importable items imported, {len(imports)} friend_import "
                               f"request(s).", met, label)
        return
    retry = next_overlapping(met, [r for r in imports if r.index > met.index])
    if retry is None:
        checker.fail(rule, f"Expected the refused items to be sent again after {scenario.fault_label}. Received no "
                           f"retry: {len(imports)} friend_import request(s), adapter {run.exit_text()}, {done} of "
                           f"{importable} importable items imported.", met, label)
    elif rule == "CL-RENEW-USERSIG-70001" and not renewed(met, retry):
        checker.fail(rule, f"Expected a newly made UserSig on the retry after {scenario.fault_label} (the refusal came "
                           f"in a later second than the request, so a UserSig made then differs). Received the "
                           f"refused UserSig again on {retry.describe()}.", retry, label)
    elif done != importable:
        checker.fail(rule, f"Expected every importable item imported after the retry. Received {done} of "
                           f"{importable} imported.", retry, label)
    else:
        checker.ok(rule)


def renewed(refused: Recorded, retry: Recorded) -> bool:
    """Whether ``retry`` carries a newly made UserSig: by what the UserSigs say (when both decode), else by
    their hashes. The same UserSig re-encoded (another padding, say) is not a new one."""
    if refused.usersig_made is not None and retry.usersig_made is not None:
        return retry.usersig_made != refused.usersig_made
    return retry.usersig_hash != refused.usersig_hash


def _old_shape(checker: Checker, recorder: Recorder, run: ScenarioRun, peer: ScenarioRun | None) -> None:
    rule, label = "CL-TOLERATE-OLD-SHAPE", run.scenario.name
    if not any(OLD_SHAPE_MARK in (r.answer() or {}) for r in run.imports() if isinstance(r.answer(), dict)):
        recorder.skipped([rule], f"not delivered [{label}]: no answer the client got was in the older shape "
                                 f"(with {OLD_SHAPE_MARK})")
        return

    def outcome(r: ScenarioRun) -> tuple[str, dict[str, set[str]]]:
        return r.exit_text() if r.exit_code in (0, None) else "a failure report", r.friends

    if peer is not None and peer.error is None:
        mine, theirs = outcome(run), outcome(peer)
        if mine == theirs:
            checker.ok(rule)
        else:
            checker.fail(rule, f"Expected the same outcome as for the same input in the current shape (scenario "
                               f"{peer.scenario.name}: {theirs[0]}, {peer.counts()[0]} imported). Received "
                               f"{mine[0]}, {run.counts()[0]} imported.", _last(run), label)
        return
    done, importable = run.counts()
    everything = run.everything_imported()
    if done == importable and run.exit_code is not None and (run.exit_code == 0) == everything:
        checker.ok(rule)
    else:
        checker.fail(rule, f"Expected every importable item imported and {'success' if everything else 'a failure'} "
                           f"reported. Received {done} of {importable} imported, adapter {run.exit_text()}.",
                     _last(run), label)
