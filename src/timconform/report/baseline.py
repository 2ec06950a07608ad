"""Baselines: known divergences of a target that should not fail CI (``timconform run --baseline FILE``).

File format (YAML or JSON)::

    known_divergences:
      - rule: FI-RESULTITEM-ORDER
        reason: staging answers ResultItem sorted by To_Account (ticket 1234)

A listed rule whose verdict is Fail, Warn or Error is marked ``baselined`` with the reason, and
:meth:`RunResult.exit_code` ignores it; its verdict and evidence stay in every report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from timconform.report.json_report import redact_text
from timconform.report.model import RuleResult, RunResult, Verdict
from timconform.inputs import read_document
from timconform.report.redact import Redactor

KEY = "known_divergences"
EXCUSABLE = (Verdict.FAIL, Verdict.ERROR, Verdict.WARN)
_RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_REASON_CHARS = 200


def load(path: str | Path) -> dict[str, str]:
    """Rule id -> reason, from a baseline file; ValueError naming the file and the problem if it is bad."""
    path = Path(path)
    return parse(read_document(path, "baseline"), where=str(path))


def parse(data: Any, *, where: str = "baseline") -> dict[str, str]:
    """Rule id -> reason from an already-decoded baseline document."""
    if not isinstance(data, dict) or KEY not in data:
        raise ValueError(f"baseline {where}: expected a mapping with a {KEY!r} list, "
                         f"e.g. {{{KEY!r}: [{{'rule': 'FI-HTTP-200', 'reason': '...'}}]}}")
    unknown = sorted(set(map(str, data)) - {KEY, "$schema", "version", "generated_from"})
    if unknown:
        raise ValueError(f"baseline {where}: unknown top-level key(s) {', '.join(unknown)} (expected {KEY!r})")
    entries = data[KEY] if data[KEY] is not None else []
    if not isinstance(entries, list):
        raise ValueError(f"baseline {where}: {KEY} must be a list, not {type(entries).__name__}")
    baseline: dict[str, str] = {}
    for number, entry in enumerate(entries, 1):
        at = f"baseline {where}: {KEY} entry {number}"
        if not isinstance(entry, dict):
            raise ValueError(f"{at}: expected a mapping with 'rule' and 'reason', got {type(entry).__name__}")
        extra = sorted(set(map(str, entry)) - {"rule", "reason", "verdict"})
        if extra:
            raise ValueError(f"{at}: unknown key(s) {', '.join(extra)} (expected 'rule' and 'reason')")
        rule, reason = entry.get("rule"), entry.get("reason")
        if not isinstance(rule, str) or not _RULE_ID.match(rule):
            raise ValueError(f"{at}: rule={rule!r}, but a rule id such as 'FI-HTTP-200' is required")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"{at} ({rule}): a non-empty 'reason' is required (why is this divergence accepted?)")
        if rule in baseline:
            raise ValueError(f"{at}: rule {rule} is listed twice")
        baseline[rule] = reason.strip()
    return baseline


def apply(run: RunResult, baseline: dict[str, str]) -> list[str]:
    """Mark listed rules that are Fail, Warn or Error as baselined; return the listed ids that matched nothing.

    An id that matched nothing is a divergence that is gone (or a rule that did not run): the baseline
    can be pruned.
    """
    used: set[str] = set()
    for rule in run.rules:
        reason = baseline.get(rule.rule_id)
        if reason is not None and rule.verdict in EXCUSABLE:
            rule.baselined = reason
            used.add(rule.rule_id)
    return sorted(set(baseline) - used)


def write(path: str | Path, run: RunResult, *, redactor: Redactor | None = None) -> Path:
    """Write a baseline listing every current Fail, Warn and Error rule, its first evidence message as reason.

    JSON when ``path`` ends in ``.json``, YAML otherwise. The reasons are redacted.
    """
    path = Path(path)
    redactor = redactor or Redactor()
    entries = [{"rule": rule.rule_id, "verdict": rule.verdict.label, "reason": _reason(rule, redactor)}
               for rule in run.rules if rule.verdict in EXCUSABLE]
    document = {KEY: entries}
    if path.suffix.lower() == ".json":
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        text = ("# timconform baseline: known divergences that do not fail the run (--baseline FILE).\n"
                "# Edit each reason to say why the divergence is accepted.\n"
                + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redactor.text(text), encoding="utf-8")
    return path


def _reason(rule: RuleResult, redactor: Redactor) -> str:
    text = rule.baselined or (rule.evidence[0].message if rule.evidence else "") or rule.reason
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    line = line or f"{rule.verdict.label}: {rule.title}"
    line = redact_text(line, redactor)
    return line if len(line) <= _REASON_CHARS else line[:_REASON_CHARS - 1] + "…"
