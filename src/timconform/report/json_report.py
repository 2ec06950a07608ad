"""results.json: the results tree as data, and the redacted copy every report is written from.

``redact_run`` is the structural redaction step at the sink: it copies the tree, replaces the
``usersig`` query parameter of every recorded URL, blanks secret-named config keys and headers,
and passes every other string through the run's :class:`Redactor`. Each writer (JSON, JUnit,
HTML, console) works on that copy, and the written text goes through ``Redactor.text`` once more.
The document validates against ``schemas/results.schema.json``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

from timconform.report.model import Evidence, Exchange, RuleResult, RunResult
from timconform.report.redact import PLACEHOLDER, Redactor

FORMAT = "timconform.results"
FORMAT_VERSION = 1
# Run metadata every results.json carries, in this order (null when the runner did not know it);
# any other keys the runner recorded follow, sorted.
META_KEYS = ("suite_version", "spec_sha256", "target", "profile", "strict", "seed", "started_at",
             "duration_s", "config")
# Config keys and header names whose values are secrets whatever they look like.
_SECRET_NAME = re.compile(r"secret|usersig|password|passwd|token|credential|private|authori[sz]ation|cookie"
                          r"|(^|[_-])key$", re.IGNORECASE)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A usersig query parameter quoted inside free text (an error message that names the URL), in any encoding.
_USERSIG_PARAM = re.compile(r"(\busersig=)[^&\s'\"<>#]+", re.IGNORECASE)


def to_json(run: RunResult, redactor: Redactor) -> str:
    """The text of results.json: deterministic key order, indent 2, UTF-8 (not ASCII-escaped), redacted."""
    text = json.dumps(document(run, redactor), indent=2, ensure_ascii=False) + "\n"
    return redactor.text(text)


def document(run: RunResult, redactor: Redactor) -> dict[str, Any]:
    """The results.json document as a dict (already redacted)."""
    run = redact_run(run, redactor)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": _meta(run.meta),
        "summary": _summary(run),
        "rules": [_rule(rule) for rule in run.rules],
        "coverage": _coverage(run.coverage),
        "behaviour_profile": dict(sorted(run.behaviour_profile.items())),
    }


def redact_text(value: str, redactor: Redactor) -> str:
    """``redactor.text`` plus any ``usersig=...`` quoted in free text; lone surrogates become U+FFFD."""
    return _clean(redactor.text(_USERSIG_PARAM.sub(r"\g<1>" + PLACEHOLDER, value)))


def redact_url(url: str, redactor: Redactor) -> str:
    """``redactor.url`` (the usersig parameter replaced structurally), falling back to text for a malformed URL."""
    try:
        url = redactor.url(url)
    except ValueError:
        pass  # not parseable as a URL: the textual redaction below still removes every secret it holds
    return redact_text(url, redactor)


def redact_run(run: RunResult, redactor: Redactor) -> RunResult:
    """A deep copy of ``run`` with every secret replaced: the one tree every report is written from."""
    return RunResult(
        meta=_scrub(run.meta, redactor),
        rules=[_redact_rule(rule, redactor) for rule in run.rules],
        coverage=_scrub(run.coverage, redactor),
        behaviour_profile={redact_text(str(k), redactor): redact_text(str(v), redactor)
                           for k, v in run.behaviour_profile.items()},
    )


def redact_exchange(exchange: Exchange, redactor: Redactor) -> Exchange:
    """The exchange with its URL redacted structurally and every header and body redacted as text."""
    def text(value: str | None) -> str | None:
        return None if value is None else redact_text(value, redactor)

    return replace(
        exchange,
        operation=text(exchange.operation), method=text(exchange.method),
        url=redact_url(exchange.url, redactor),
        headers=_headers(exchange.headers, redactor), body=text(exchange.body),
        response_headers=_headers(exchange.response_headers, redactor),
        response_body=text(exchange.response_body), error=text(exchange.error),
    )


def _redact_rule(rule: RuleResult, redactor: Redactor) -> RuleResult:
    def text(value: str) -> str:
        return redact_text(value, redactor)

    evidence = [replace(e, check=text(e.check), message=text(e.message),
                        exchange=None if e.exchange is None else redact_exchange(e.exchange, redactor))
                for e in rule.evidence]
    return replace(
        rule, title=text(rule.title), reason=text(rule.reason), failed_in=[text(s) for s in rule.failed_in],
        source={k: text(str(v)) for k, v in rule.source.items()}, evidence=evidence,
        outcomes={text(str(k)): v for k, v in rule.outcomes.items()},
        baselined=None if rule.baselined is None else text(rule.baselined),
    )


def _headers(headers: dict[str, str], redactor: Redactor) -> dict[str, str]:
    return {redact_text(str(name), redactor):
            PLACEHOLDER if _SECRET_NAME.search(str(name)) else redact_text(str(value), redactor)
            for name, value in headers.items()}


def _scrub(value: Any, redactor: Redactor, key: str = "") -> Any:
    """Recursively redact a JSON-like value; values under secret-named keys become the placeholder."""
    if key and _SECRET_NAME.search(key) and not isinstance(value, bool) and value not in (None, "", {}, []):
        return PLACEHOLDER
    if isinstance(value, dict):
        return {redact_text(str(k), redactor): _scrub(v, redactor, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_scrub(v, redactor) for v in items]
    if isinstance(value, str):
        if value.startswith(("http://", "https://")) and "?" in value:
            return redact_url(value, redactor)
        return redact_text(value, redactor)
    if value is None or isinstance(value, (bool, int, float)):
        return copy.copy(value)
    return redact_text(str(value), redactor)  # paths, enums, anything else: as text


def _clean(text: str) -> str:
    """Lone surrogates cannot be written as UTF-8: show them as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _meta(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: _sorted(meta.get(key)) for key in META_KEYS}
    if out["suite_version"] is None:
        from timconform import __version__

        out["suite_version"] = __version__
    if out["config"] is None:
        out["config"] = {}
    for key in sorted(set(meta) - set(META_KEYS), key=str):
        out[str(key)] = _sorted(meta[key])
    return out


def _summary(run: RunResult) -> dict[str, Any]:
    return {"headline": run.headline(), "verdict": run.verdict().label, "exit_code": run.exit_code(),
            "counts": run.counts(),
            "baselined": sum(1 for r in run.rules if r.baselined is not None), "rules": len(run.rules)}


def _rule(rule: RuleResult) -> dict[str, Any]:
    return {
        "id": rule.rule_id,
        "title": rule.title,
        "strength": rule.strength,
        "category": rule.category,
        "verdict": rule.verdict.label,
        "reason": rule.reason,
        "baselined": rule.baselined,
        "checks": rule.checks,
        "source": {k: rule.source[k] for k in sorted(rule.source)},
        "evidence": [_evidence(e) for e in rule.evidence],
        "outcomes": dict(sorted(rule.outcomes.items())),
        "failures": rule.failures,
        "failed_in": list(rule.failed_in),
    }


def _evidence(evidence: Evidence) -> dict[str, Any]:
    out: dict[str, Any] = {"check": evidence.check, "message": evidence.message}
    ex = evidence.exchange
    if ex is not None:
        out["request"] = {"operation": ex.operation, "method": ex.method, "url": ex.url,
                          "headers": dict(ex.headers), "body": ex.body}
        out["response"] = {"status": ex.status, "headers": dict(ex.response_headers), "body": ex.response_body,
                           "elapsed_ms": ex.elapsed_ms, "error": ex.error}
        out["curl"] = ex.curl()
        if evidence.curl_file:
            out["curl_file"] = evidence.curl_file
    return out


def _coverage(coverage: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"elicited": _codes(coverage.get("elicited")), "unknown": _codes(coverage.get("unknown"))}
    for key in sorted(set(coverage) - {"elicited", "unknown"}, key=str):
        out[str(key)] = _sorted(coverage[key])
    return out


def _codes(codes: Any) -> dict[str, int]:
    """``{code: times}`` with string keys in numeric order (JSON object keys are strings)."""
    items = dict(codes or {})
    return {str(code): int(items[code]) for code in sorted(items, key=code_order)}


def code_order(code: Any) -> tuple[int, int, str]:
    """Sort key: numeric codes in numeric order, then anything else as text."""
    text = str(code)
    return (0, int(text), text) if re.fullmatch(r"-?[0-9]+", text) else (1, 0, text)

