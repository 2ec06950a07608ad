"""junit.xml: one testsuite "timconform", one testcase per rule, for CI dashboards.

Fail -> <failure>, Error -> <error>, Skip and Disabled -> <skipped message=reason>. A rule excused by
the baseline is <skipped> too (the exit code ignores it, so CI must not turn red on it), with its
evidence in <system-out>.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from timconform.report.json_report import redact_run
from timconform.report.model import RuleResult, RunResult, Verdict
from timconform.report.redact import Redactor

SUITE_NAME = "timconform"
# XML 1.0 allows only #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MESSAGE_CHARS = 300


def to_junit_xml(run: RunResult, redactor: Redactor) -> str:
    """The text of junit.xml (redacted, always well-formed XML 1.0)."""
    run = redact_run(run, redactor)
    counts = run.counts()
    skipped = sum(1 for r in run.rules if _skipped(r))
    root = ET.Element("testsuites", name=SUITE_NAME)
    suite = ET.SubElement(root, "testsuite", _attrs(
        name=SUITE_NAME, tests=len(run.rules),
        failures=sum(1 for r in run.rules if r.verdict == Verdict.FAIL and r.baselined is None),
        errors=sum(1 for r in run.rules if r.verdict == Verdict.ERROR and r.baselined is None),
        skipped=skipped, time=_seconds(run.meta.get("duration_s")), timestamp=run.meta.get("started_at") or "",
    ))
    properties = ET.SubElement(suite, "properties")
    for key in ("suite_version", "spec_sha256", "target", "profile", "strict", "seed"):
        if run.meta.get(key) is not None:
            value = run.meta[key]
            ET.SubElement(properties, "property", _attrs(name=key, value=json.dumps(value) if isinstance(
                value, bool) else value))
    ET.SubElement(properties, "property", _attrs(name="headline", value=run.headline()))
    ET.SubElement(properties, "property", _attrs(name="verdict", value=run.verdict().label))
    ET.SubElement(properties, "property", _attrs(name="counts", value=", ".join(
        f"{n} {label}" for label, n in counts.items())))
    for rule in run.rules:
        suite.append(testcase(rule))
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return redactor.text('<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n")


def testcase(rule: RuleResult) -> ET.Element:
    case = ET.Element("testcase", _attrs(classname=rule.category, name=f"{rule.rule_id} {rule.title}",
                                         time=_seconds(_elapsed_s(rule))))
    details = _details(rule)
    headline = _headline(rule)
    if rule.baselined is not None and rule.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.WARN):
        ET.SubElement(case, "skipped", _attrs(message=f"known divergence ({rule.verdict.label}, baselined): "
                                                      f"{rule.baselined}"))
        _text(ET.SubElement(case, "system-out"), details)
    elif rule.verdict == Verdict.FAIL:
        _text(ET.SubElement(case, "failure", _attrs(message=headline, type=f"{rule.strength} rule broken")), details)
    elif rule.verdict == Verdict.ERROR:
        _text(ET.SubElement(case, "error", _attrs(message=headline, type="harness or network error")), details)
    elif rule.verdict in (Verdict.SKIP, Verdict.DISABLED):
        ET.SubElement(case, "skipped", _attrs(message=f"{rule.verdict.label}: {rule.reason or 'no reason given'}"))
    elif rule.verdict == Verdict.WARN:
        # JUnit has no "warning" result: a Warn rule is reported as passed (it does not change the exit
        # code), and what was broken is told in <system-out> so it shows in the CI tool's test details.
        _text(ET.SubElement(case, "system-out"), f"WARNING: inferred rule broken (Warn, not --strict)\n{details}")
    elif rule.outcomes:
        observed = ", ".join(f"{o} x{n}" for o, n in sorted(rule.outcomes.items()))
        _text(ET.SubElement(case, "system-out"), f"observed outcomes: {observed}")
    return case


def _headline(rule: RuleResult) -> str:
    first = rule.evidence[0].message if rule.evidence else ""
    text = rule.reason or first or rule.verdict.label
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= _MESSAGE_CHARS else line[:_MESSAGE_CHARS - 1] + "…"


def _details(rule: RuleResult) -> str:
    lines = [f"{rule.rule_id} [{rule.strength}] {rule.title}", f"verdict: {rule.verdict.label}"]
    if rule.reason:
        lines.append(f"reason: {rule.reason}")
    if rule.source.get("url"):
        lines.append(f"source: {rule.source['url']}")
    if rule.source.get("quote"):
        lines.append(f"quote: {rule.source['quote']}")
    for number, evidence in enumerate(rule.evidence, 1):
        lines += ["", f"evidence {number} ({evidence.check}):", evidence.message]
        ex = evidence.exchange
        if ex is not None:
            if ex.error:
                lines.append(f"transport error: {ex.error}")
            else:
                lines.append(f"response: HTTP {ex.status} {ex.response_body}")
            lines += ["reproduce:", f"(too long to show: see {evidence.curl_file} beside this report)"
                      if evidence.curl_file else ex.curl()]
    if rule.outcomes:
        lines.append("observed outcomes: " + ", ".join(f"{o} x{n}" for o, n in sorted(rule.outcomes.items())))
    return "\n".join(lines)


def _elapsed_s(rule: RuleResult) -> float:
    return sum(e.exchange.elapsed_ms for e in rule.evidence if e.exchange is not None) / 1000


def _seconds(value: object) -> str:
    try:
        return f"{float(value or 0):.3f}"
    except (TypeError, ValueError):
        return "0.000"


def _skipped(rule: RuleResult) -> bool:
    return rule.verdict in (Verdict.SKIP, Verdict.DISABLED) or (
        rule.baselined is not None and rule.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.WARN))


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids shown as a visible escape (``\\x01``)."""
    return _XML_FORBIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                              else f"\\u{ord(m.group()):04x}", text)


def _attrs(**values: object) -> dict[str, str]:
    return {k: xml_safe(str(v)) for k, v in values.items()}


def _text(element: ET.Element, text: str) -> None:
    element.text = xml_safe(text)
