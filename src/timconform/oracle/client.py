"""The CL- rules: what a client sends and does, judged on its recorded requests and the emulator's state.

Three kinds of evidence: one recorded request ("request": facts ``record`` and ``expected``, what the client
was configured with), the stream of one client process's requests ("stream": ``records``), and one scenario's
whole run ("run": ``run``, a ScenarioRun with the friend tables afterwards, and ``peer``, the run of the same
input in the current answer shape). The observation's ``note`` is the scenario's label, prefixed to failures.
The verdict follows the rule's strength (documented: Fail; inferred: Warn, Fail with --strict), as in the suite.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from timconform.clientcert.recording import query_value_bad_chars
from timconform.oracle.recorder import CheckFailed
from timconform.oracle.registry import NOT_APPLICABLE, PASS, Observation, Skip, check
from timconform.report.redact import PLACEHOLDER
from timconform.spec import Rule, Spec

QUERY_NAMES = ("sdkappid", "identifier", "usersig", "random", "contenttype")
RETRY_STATUSES = frozenset({502, 503, 504})
MIN_BACKOFF_S = 0.05  # CL-RETRY-BACKOFF: the least wait before a retry that counts as backing off
DELAY_SEEN = 0.9  # an answer at least this share of the injected delay late was delayed by it
OLD_SHAPE_MARK = "Invalid_Account"  # only the older response shape has it (api-facts §4.2)


@dataclass(frozen=True)
class Expected:
    """What the client was configured with (None: unknown, e.g. live traffic through the proxy)."""

    sdkappid: int | None = None
    identifier: str | None = None


def _fail(rule: Rule, observation: Observation, message: str, record: Any = None) -> CheckFailed:
    prefix = f"[{observation.note}] " if observation.note else ""
    return CheckFailed(rule.id, prefix + message, exchange=record.exchange() if record is not None else None)


def _problem(problem: str | None, rule: Rule, observation: Observation) -> Any:
    if problem is None:
        return PASS
    raise _fail(rule, observation, problem, observation["record"])


# -- one request ----------------------------------------------------------------------------------------------


def query_problem(spec: Spec, record: Any, expected: Expected) -> str | None:
    """What is wrong with the query string of ``record`` (None: nothing)."""
    raw = record.query.replace(PLACEHOLDER, "")
    bad = "".join(sorted(set(query_value_bad_chars(raw.encode("latin-1", "replace"))) | set(record.usersig_bad_chars)))
    if bad:
        return f"Expected a URL-encoded query string. Received raw character(s) {bad!r} in {record.query!r}."
    names = [name for name, _ in record.params]
    missing = [n for n in QUERY_NAMES if n not in names]
    extra = sorted({n for n in names if n not in QUERY_NAMES})
    repeated = sorted({n for n in names if names.count(n) > 1})
    if missing or extra or repeated:
        parts = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
                 f"repeated {repeated}" if repeated else ""]
        return (f"Expected exactly the parameters {list(QUERY_NAMES)}, once each. Received "
                f"{'; '.join(p for p in parts if p)} in {record.query!r}.")
    return _value_problem(spec, dict(record.params), expected)


def _value_problem(spec: Spec, values: dict[str, str], expected: Expected) -> str | None:
    if values["contenttype"] != "json":
        return f"Expected contenttype=json. Received contenttype={values['contenttype']!r}."
    random, most = values["random"], spec.limit("random_max")
    if not (random.isascii() and random.isdigit()) or int(random) > most:
        return f"Expected random to be a decimal integer from 0 to {most}. Received {random!r}."
    if expected.sdkappid is not None and values["sdkappid"] != str(expected.sdkappid):
        return f"Expected sdkappid={expected.sdkappid}. Received sdkappid={values['sdkappid']!r}."
    return None


NOT_CHECKED = object()


def usersig_problem(record: Any, expected: Expected) -> Any:
    """What is wrong with the UserSig of ``record``: None, a problem, or NOT_CHECKED (no verdict on it)."""
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


def body_problem(spec: Spec, record: Any) -> str | None:
    """What is wrong with the friend_import body of ``record`` (the batch size aside: CL-BATCH-1000's)."""
    if record.method != "POST":
        return f"Expected POST. Received {record.method}."
    try:
        body = json.loads(record.body_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        return "Expected a UTF-8 body. Received bytes that are not UTF-8."
    except ValueError as exc:
        return f"Expected a JSON body. Received text that does not parse ({exc})."
    errors = [e for e in spec.validator("friend_import.request.json").iter_errors(body)
              if not (e.validator == "maxItems" and list(e.absolute_path) == ["AddFriendItem"])]
    if errors:
        error = min(errors, key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        return f"Expected a body matching friend_import.request.json. Received at {where}: {error.message}"
    return _byte_problem(spec, body)


def _byte_problem(spec: Spec, body: dict) -> str | None:
    def over(value, name: str, where: str) -> str | None:
        if isinstance(value, str) and len(value.encode("utf-8")) > spec.limit(name):
            return (f"Expected at most {spec.limit(name)} UTF-8 bytes at {where}. "
                    f"Received {len(value.encode('utf-8'))} bytes.")
        return None

    problems = [over(body.get("From_Account"), "user_id_bytes", "/From_Account")]
    for n, item in enumerate(body.get("AddFriendItem", [])):
        at = f"/AddFriendItem/{n}"
        problems.append(over(item.get("To_Account"), "user_id_bytes", f"{at}/To_Account"))
        problems.append(over(item.get("Remark"), "remark_bytes", f"{at}/Remark"))
        problems.append(over(item.get("AddWording"), "add_wording_bytes", f"{at}/AddWording"))
        problems += [over(g, "group_name_bytes", f"{at}/GroupName/{k}") for k, g in enumerate(item.get("GroupName") or [])]
        problems += [over(c.get("Value"), "custom_value_bytes", f"{at}/CustomItem/{k}/Value")
                     for k, c in enumerate(item.get("CustomItem") or [])]
    return next((p for p in problems if p), None)


def content_type_problem(record: Any) -> str | None:
    value = record.headers.get("content-type")
    if value is None:
        return "Expected a Content-Type: application/json header. Received no Content-Type header."
    if value.split(";", 1)[0].strip().lower() != "application/json":
        return f"Expected Content-Type: application/json. Received {value!r}."
    return None


def batch_problem(spec: Spec, record: Any) -> str | None:
    batch, items = spec.limit("batch_items"), record.items()
    if len(items) > batch:
        return f"Expected at most {batch} AddFriendItem entries in one request. Received {len(items)} in {record.describe()}."
    return None


def query_params(spec: Spec, rule: Rule, observation: Observation) -> Any:
    return _problem(query_problem(spec, observation["record"], observation["expected"]), rule, observation)


def usersig_valid(spec: Spec, rule: Rule, observation: Observation) -> Any:
    problem = usersig_problem(observation["record"], observation["expected"])
    return NOT_APPLICABLE if problem is NOT_CHECKED else _problem(problem, rule, observation)


def request_valid(spec: Spec, rule: Rule, observation: Observation) -> Any:
    return _problem(body_problem(spec, observation["record"]), rule, observation)


def json_content_type(spec: Spec, rule: Rule, observation: Observation) -> Any:
    return _problem(content_type_problem(observation["record"]), rule, observation)


def batch_1000(spec: Spec, rule: Rule, observation: Observation) -> Any:
    return _problem(batch_problem(spec, observation["record"]), rule, observation)


# -- the stream of one client process -------------------------------------------------------------------------


def random_fresh(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """A new random for every request of the process."""
    carrying = [r for r in observation["records"] if r.param("random") is not None]
    if len(carrying) < 2:  # no evidence either way: a missing random is CL-QUERY-PARAMS's to judge
        return NOT_APPLICABLE
    first: dict[str, Any] = {}
    repeats = []
    for record in carrying:
        value = record.param("random")
        if value in first:
            repeats.append((first[value], record))
        else:
            first[value] = record
    if not repeats:
        return PASS
    earlier, later = repeats[0]
    shared = {r.param("random") for _, r in repeats}
    sharing = sum(1 for r in carrying if r.param("random") in shared)
    raise _fail(rule, observation, f"Expected a new random for every request. Received random={later.param('random')} "
                                   f"on {earlier.describe()} and again on {later.describe()} ({sharing} requests "
                                   f"shared {len(shared)} value(s)).", later)


def rate_200(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """At most the default rate limit's calls in any one second."""
    most = spec.limit("rate_default_per_second")
    window: deque[float] = deque()
    worst, worst_at = 0, None
    for record in sorted(observation["records"], key=lambda r: r.started):
        window.append(record.started)
        while window and record.started - window[0] >= 1.0:
            window.popleft()
        if len(window) > worst:
            worst, worst_at = len(window), record
    if worst > most:
        raise _fail(rule, observation, f"Expected at most {most} requests in any one second. Received {worst} within "
                                       f"one second (up to {worst_at.describe()}).", worst_at)
    return PASS


def retryable_answer(spec: Spec, record: Any) -> str | None:
    """Why the answer asks for a retry after a wait (None: it does not)."""
    if record.status in RETRY_STATUSES:
        return f"HTTP {record.status}"
    code = record.error_code()
    if code and code in spec.codes and spec.codes[code].retry in ("yes", "backoff"):
        return f"ErrorCode {code}"
    retry_items = [c for c in record.item_codes().values()
                   if c and c in spec.codes and spec.codes[c].retry in ("yes", "backoff")]
    return f"ResultCode {retry_items[0]}" if retry_items else None


def next_overlapping(record: Any, later: Sequence[Any]) -> Any:
    """The first later request of the same From_Account that carries any of ``record``'s items."""
    accounts = {json.dumps(a, sort_keys=True) for a in record.to_accounts()}
    sender = record.from_account()
    for other in later:
        if other.from_account() == sender and accounts & {json.dumps(a, sort_keys=True) for a in other.to_accounts()}:
            return other
    return None


def _imports(observation: Observation) -> list[Any]:
    return [r for r in observation["records"] if r.operation == "friend_import"]


def retry_backoff(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Every retry after a retryable answer waits at least MIN_BACKOFF_S."""
    imports, waited = _imports(observation), False
    for n, record in enumerate(imports):
        why = retryable_answer(spec, record)
        if why is None or record.ended is None or record.client_gone:
            continue
        retry = next_overlapping(record, imports[n + 1:])
        if retry is None:
            continue
        gap = retry.started - record.ended
        if gap < MIN_BACKOFF_S:
            raise _fail(rule, observation, f"Expected a wait of at least {int(MIN_BACKOFF_S * 1000)} ms before "
                                           f"retrying after {why}. Received the retry ({retry.describe()}) "
                                           f"{gap * 1000:.0f} ms after the answer.", retry)
        waited = True
    return PASS if waited else NOT_APPLICABLE


def _resent(spec: Spec, record: Any, later: Sequence[Any]) -> tuple[str, Any] | None:
    """What of ``record``, refused with a permanent code, the client sent again (None: nothing); a request
    refused with no permanent code at all has nothing to judge (a ValueError)."""
    codes, sender, code = spec.codes, record.from_account(), record.error_code()
    if code and code in codes and codes[code].retry == "no":
        same = [r for r in later if r.from_account() == sender and r.items() == record.items()]
        return (f"Expected no resend after the permanent ErrorCode {code}. Received the same request again "
                f"({same[0].describe()}).", same[0]) if same else None
    permanent = {to for to, c in record.item_codes().items() if c and c in codes and codes[c].retry == "no"}
    if not permanent:
        raise ValueError("no permanent refusal")
    again = [(r, sorted(set(map(str, r.to_accounts())) & set(map(str, permanent)))) for r in later
             if r.from_account() == sender]
    again = [(r, accounts) for r, accounts in again if accounts]
    if not again:
        return None
    resend, accounts = again[0]
    return (f"Expected no resend of items refused with a permanent ResultCode. Received {accounts[:5]} again in "
            f"{resend.describe()}.", resend)


def no_retry_permanent(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Nothing refused with a permanent code (retry "no" in the catalogue) is sent again unchanged."""
    imports, judged = _imports(observation), False
    for n, record in enumerate(imports):
        try:
            resent = _resent(spec, record, imports[n + 1:])
        except ValueError:
            continue
        if resent is not None:
            raise _fail(rule, observation, resent[0], resent[1])
        judged = True
    return PASS if judged else NOT_APPLICABLE


# -- one scenario's run ---------------------------------------------------------------------------------------


def _first(run: Any) -> Any:
    imports = run.imports()
    return imports[0] if imports else None


def _last(run: Any) -> Any:
    imports = run.imports()
    return imports[-1] if imports else None


def import_complete(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Every importable item of the scenario ends up in the friend table."""
    run = observation["run"]
    done, importable = run.counts()
    if done == importable:
        return PASS
    missing = sorted(a for accounts in run.missing().values() for a in accounts)
    raise _fail(rule, observation, f"Expected all {importable} importable items imported. Received {done} imported; "
                                   f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''} ({len(run.imports())} "
                                   f"friend_import request(s), items per request "
                                   f"{[len(r.items()) for r in run.imports()][:10]}; adapter {run.exit_text()}).",
                _first(run))


def report_partial(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """The adapter's exit says whether everything was imported: 0 exactly when it was."""
    run = observation["run"]
    if run.exit_code is None:
        raise _fail(rule, observation, f"Expected the adapter to finish and report. It was still running after "
                                       f"{run.time_limit_s:g} s and was stopped.", _first(run))
    everything = run.everything_imported()
    if (run.exit_code == 0) == everything:
        return PASS
    if run.exit_code != 0 and everything and any(r.client_gone for r in run.imports()) and not _told_imported(run):
        # It left before an answer, and no later answer said every item was in: it could not know the import went
        # through. Leaving is graded elsewhere.
        return Skip(f"not reached [{observation.note}]: the client left before an answer, so it could not know that "
                    "its items were imported")
    wanted = run.scenario.wanted()
    total = sum(len(v) for v in wanted.values())
    if run.exit_code == 0:
        left = sum(len(accounts - run.friends.get(sender, set())) for sender, accounts in wanted.items())
        message = (f"Expected a failure report (non-zero exit): {left} of {total} items were not imported. "
                   f"Received exit 0 (success).")
    else:
        message = f"Expected a success report (exit 0): all {total} items were imported. Received exit {run.exit_code}."
    raise _fail(rule, observation, message, _last(run))


def _told_imported(run: Any) -> bool:
    """Whether the answers the client did receive, the latest for each item, said every item was imported."""
    latest: dict[tuple[Any, Any], int] = {}
    for record in run.imports():
        if not record.client_gone:
            latest.update(((record.from_account(), to), code) for to, code in record.item_codes().items())
    wanted = [(sender, to) for sender, accounts in run.scenario.wanted().items() for to in accounts]
    return bool(wanted) and all(latest.get(pair) == 0 for pair in wanted)


def delivered(run: Any) -> Any:
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


def renewed(refused: Any, retry: Any) -> bool:
    """Whether ``retry`` carries a newly made UserSig: by what the UserSigs say (when both decode), else by
    their hashes. The same UserSig re-encoded (another padding, say) is not a new one."""
    if refused.usersig_made is not None and retry.usersig_made is not None:
        return retry.usersig_made != refused.usersig_made
    return retry.usersig_hash != refused.usersig_hash


def recovery(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """After the scenario's fault (a transient code, a 502, a delay, a rate-limit code, an expired UserSig), the
    client sends the refused items again (with a new UserSig after 70001) and imports everything."""
    run = observation["run"]
    imports, label = run.imports(), observation.note
    if not imports:
        raise _fail(rule, observation, f"Expected friend_import requests. Received none (adapter {run.exit_text()}).")
    met = delivered(run)
    if met is None:
        return Skip(f"not delivered [{label}]: no answer of the client's {len(imports)} friend_import request(s) "
                    f"carried {run.scenario.fault_label}")
    done, importable = run.counts()
    if run.scenario.faults[0].get("action") == "delay":
        if run.exit_code == 0 and done == importable:
            return PASS
        raise _fail(rule, observation, f"Expected the client to wait for (or time out and retry) "
                                       f"{run.scenario.fault_label} and report success with every item imported. "
                                       f"Received adapter {run.exit_text()}, {done} of {importable} importable items "
                                       f"imported, {len(imports)} friend_import request(s).", met)
    return _retried(rule, observation, met, done, importable)


def _retried(rule: Rule, observation: Observation, met: Any, done: int, importable: int) -> Any:
    run = observation["run"]
    imports, fault = run.imports(), run.scenario.fault_label
    retry = next_overlapping(met, [r for r in imports if r.index > met.index])
    if retry is None:
        raise _fail(rule, observation, f"Expected the refused items to be sent again after {fault}. Received no retry: "
                                       f"{len(imports)} friend_import request(s), adapter {run.exit_text()}, {done} of "
                                       f"{importable} importable items imported.", met)
    if observation.get("renew") and not renewed(met, retry):
        raise _fail(rule, observation, f"Expected a newly made UserSig on the retry after {fault} (the refusal came in "
                                       f"a later second than the request, so a UserSig made then differs). Received "
                                       f"the refused UserSig again on {retry.describe()}.", retry)
    if done != importable:
        raise _fail(rule, observation, f"Expected every importable item imported after the retry. Received {done} of "
                                       f"{importable} imported.", retry)
    return PASS


def renew_usersig(spec: Spec, rule: Rule, observation: Observation) -> Any:
    return recovery(spec, rule, Observation(observation.kind, note=observation.note,
                                            facts={**observation.facts, "renew": True}))


def tolerate_old_shape(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Answers in the older shape (with Invalid_Account) lead to the same outcome as the same input in the current
    shape (``peer``'s run), or, without a peer, to everything imported and the truth reported."""
    run, peer, label = observation["run"], observation.get("peer"), observation.note
    if not any(OLD_SHAPE_MARK in (r.answer() or {}) for r in run.imports() if isinstance(r.answer(), dict)):
        return Skip(f"not delivered [{label}]: no answer the client got was in the older shape (with {OLD_SHAPE_MARK})")

    def outcome(r: Any) -> tuple[str, dict[str, set[str]]]:
        return r.exit_text() if r.exit_code in (0, None) else "a failure report", r.friends

    if peer is not None and peer.error is None:
        mine, theirs = outcome(run), outcome(peer)
        if mine == theirs:
            return PASS
        raise _fail(rule, observation, f"Expected the same outcome as for the same input in the current shape "
                                       f"(scenario {peer.scenario.name}: {theirs[0]}, {peer.counts()[0]} imported). "
                                       f"Received {mine[0]}, {run.counts()[0]} imported.", _last(run))
    done, importable = run.counts()
    everything = run.everything_imported()
    if done == importable and run.exit_code is not None and (run.exit_code == 0) == everything:
        return PASS
    raise _fail(rule, observation, f"Expected every importable item imported and "
                                   f"{'success' if everything else 'a failure'} reported. Received {done} of "
                                   f"{importable} imported, adapter {run.exit_text()}.", _last(run))


check("CL-QUERY-PARAMS", request=query_params)
check("CL-USERSIG-VALID", request=usersig_valid)
check("CL-REQUEST-VALID", request=request_valid)
check("CL-BATCH-1000", request=batch_1000)
check("CL-JSON-CONTENT-TYPE", request=json_content_type)
check("CL-RANDOM-FRESH", stream=random_fresh)
check("CL-RATE-200", stream=rate_200)
check("CL-RETRY-BACKOFF", stream=retry_backoff)
check("CL-NO-RETRY-PERMANENT", stream=no_retry_permanent)
check("CL-IMPORT-COMPLETE", run=import_complete)
check("CL-REPORT-PARTIAL-FAILURE", run=report_partial)
check("CL-TOLERATE-OLD-SHAPE", run=tolerate_old_shape)
for _rule_id in ("CL-RETRY-TRANSIENT", "CL-RECOVER-30008", "CL-RECOVER-RATE-LIMIT", "CL-SURVIVE-502-TIMEOUT"):
    check(_rule_id, run=recovery)
check("CL-RENEW-USERSIG-70001", run=renew_usersig)
# Per request, in this order: the rules every recorded /v4/ request is judged by (friend_import's alone from
# CL-REQUEST-VALID on).
REQUEST_RULES = ("CL-QUERY-PARAMS", "CL-USERSIG-VALID", "CL-REQUEST-VALID", "CL-JSON-CONTENT-TYPE", "CL-BATCH-1000")
STREAM_RULES = ("CL-RANDOM-FRESH", "CL-RATE-200", "CL-RETRY-BACKOFF", "CL-NO-RETRY-PERMANENT")
