"""report.html: one self-contained page a person reads (inline CSS, no scripts, no external assets)."""

from __future__ import annotations

import html
import json
from typing import Any

from timconform.report.console import EXIT_MEANINGS, worst_first
from timconform.report.json_report import code_order, redact_run
from timconform.report.junit import xml_safe
from timconform.report.model import Exchange, RuleResult, RunResult, Verdict
from timconform.report.redact import Redactor

COLOURS = {  # verdict -> (background, text)
    Verdict.FAIL: ("#c62828", "#fff"), Verdict.ERROR: ("#6a1b9a", "#fff"), Verdict.WARN: ("#ef6c00", "#fff"),
    Verdict.SKIP: ("#9e9e9e", "#fff"), Verdict.DISABLED: ("#cfd8dc", "#263238"), Verdict.PASS: ("#2e7d32", "#fff"),
}
_DETAILED = (Verdict.FAIL, Verdict.ERROR, Verdict.WARN)
PRETTY_MAX_CHARS = 1 << 20  # indenting a 20 MB body helps nobody reading a page
SHOWN_EVIDENCE = 3  # the rest of a rule's evidence is folded (results.json has it all)
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
 padding:0 1em;color:#212121}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin-bottom:.3em}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;
 vertical-align:top}th{background:#f5f5f5}
table.kv{width:auto}table.kv th{width:12em}
.v{display:inline-block;padding:1px 8px;border-radius:3px;font-weight:600;white-space:nowrap}
pre{background:#f7f7f7;border:1px solid #e0e0e0;padding:8px;overflow-x:auto;white-space:pre-wrap;
 word-break:break-all}
blockquote{margin:.5em 0;padding:.3em 1em;border-left:4px solid #90caf9;background:#f3f8fd}
.rule{border:1px solid #e0e0e0;border-radius:4px;padding:0 1em 1em;margin:1em 0}
.muted{color:#757575}code{font-family:ui-monospace,Menlo,Consolas,monospace}
"""


def to_html(run: RunResult, redactor: Redactor) -> str:
    """The text of report.html (redacted; every value escaped)."""
    run = redact_run(run, redactor)
    headline = run.headline()
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>timconform: {_e(headline)} ({_e(run.meta.get('target') or 'unknown target')})</title>",
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>timconform report {_headline_badge(headline)}</h1>"]
    parts += _summary(run)
    parts += _table(run)
    parts += _details(run, redactor)
    parts += _outcomes(run)
    parts += _coverage(run)
    parts += _config(run, redactor)
    parts.append("</body></html>\n")
    return redactor.text("\n".join(parts))


def _summary(run: RunResult) -> list[str]:
    meta = run.meta
    counts = " ".join(f"{_badge(Verdict[label.upper()], f'{n} {label}')}" for label, n in run.counts().items())
    baselined = sum(1 for r in run.rules if r.baselined is not None)
    rows = [("Verdict", _headline_badge(run.headline())),
            ("Rules", counts + (f" ({baselined} baselined)" if baselined else "")),
            ("Exit code", _e(EXIT_MEANINGS[run.exit_code()]))]
    if meta.get("root_cause"):
        rows.insert(1, ("Root cause", f"<strong>{_e(meta['root_cause'])}</strong>"))
    for label, key in (("Target", "target"), ("Network", "isolation"), ("Profile", "profile"), ("Strict", "strict"),
                       ("Seed", "seed"),
                       ("Started", "started_at"), ("Duration", "duration_s"), ("Suite version", "suite_version"),
                       ("Spec sha256", "spec_sha256")):
        value = meta.get(key)
        if value is None:
            continue
        shown = f"{float(value):.1f} s" if key == "duration_s" else ("yes" if value else "no") if isinstance(
            value, bool) else value
        rows.append((label, f"<code>{_e(shown)}</code>" if key == "spec_sha256" else _e(shown)))
    return ["<h2>Summary</h2>", '<table class="kv">',
            *(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows), "</table>"]


def _table(run: RunResult) -> list[str]:
    out = ["<h2>Rules</h2>", "<table><thead><tr><th>Rule</th><th>Title</th><th>Strength</th><th>Verdict</th>"
           "<th>Reason</th></tr></thead><tbody>"]
    for rule in worst_first(run.rules):
        rid = _e(rule.rule_id)
        cell = f'<a href="#{rid}">{rid}</a>' if _has_details(rule) else rid
        verdict = _badge(rule.verdict) + (' <span class="muted">baselined</span>' if rule.baselined else "")
        out.append(f"<tr><td><code>{cell}</code></td><td>{_e(rule.title)}</td><td>{_e(rule.strength)}</td>"
                   f"<td>{verdict}</td><td>{_e(_reason(rule))}</td></tr>")
    out.append("</tbody></table>")
    return out


def _details(run: RunResult, redactor: Redactor) -> list[str]:
    rules = [r for r in worst_first(run.rules) if _has_details(r)]
    if not rules:
        return []
    out = ["<h2>Details: the Fail, Error and Warn rules</h2>"]
    for rule in rules:
        out += rule_section(rule, redactor)
    return out


def rule_section(rule: RuleResult, redactor: Redactor) -> list[str]:
    """One rule's details: verdict, reason, source, and each piece of evidence with its exchange."""
    out = []
    rid = _e(rule.rule_id)
    out.append(f'<section class="rule" id="{rid}"><h3><code>{rid}</code> {_e(rule.title)} {_badge(rule.verdict)}'
               "</h3>")
    where = (f"; failed {rule.failures} time(s), in {', '.join(rule.failed_in)}" if rule.failed_in else
             f"; failed {rule.failures} time(s)" if rule.failures else "")
    out.append(f'<p class="muted">{_e(rule.strength)} rule, category {_e(rule.category)}; '
               f"{rule.checks} check(s) ran{_e(where)}</p>")
    if rule.baselined:
        out.append(f"<p><strong>Known divergence (baseline):</strong> {_e(rule.baselined)}</p>")
    if rule.reason:
        out.append(f"<p><strong>Reason:</strong> {_e(rule.reason)}</p>")
    out += _source(rule)
    for number, evidence in enumerate(rule.evidence, 1):
        if number == SHOWN_EVIDENCE + 1:
            out.append(f"<details><summary>{len(rule.evidence) - SHOWN_EVIDENCE} more piece(s) of evidence"
                       "</summary>")
        out.append(f"<h4>Evidence {number}: <code>{_e(evidence.check)}</code></h4>")
        out.append(f"<pre>{_e(evidence.message)}</pre>")
        if evidence.exchange is not None:
            out += _exchange(evidence.exchange, redactor, evidence.curl_file)
    if len(rule.evidence) > SHOWN_EVIDENCE:
        out.append("</details>")
    out.append("</section>")
    return out


def _source(rule: RuleResult) -> list[str]:
    url, quote, ref = (rule.source.get(k, "") for k in ("url", "quote", "ref"))
    if not (url or quote):
        return []
    where = _e(ref or url or "source")
    link = f'<a href="{_e(url)}">{where}</a>' if url.startswith(("https://", "http://")) else where
    return [f"<p><strong>Source</strong> ({link}):</p>", f"<blockquote>{_e(quote)}</blockquote>" if quote else ""]


def _exchange(ex: Exchange, redactor: Redactor, curl_file: str | None = None) -> list[str]:
    request = [f"{ex.method} {ex.url}", *(f"{k}: {v}" for k, v in ex.headers.items()), "", _pretty(ex.body, redactor)]
    if ex.error is not None and ex.status is None:
        response = [f"no response: {ex.error}"]
    else:
        response = [f"HTTP {ex.status} ({ex.elapsed_ms:.0f} ms)",
                    *(f"{k}: {v}" for k, v in ex.response_headers.items()), "", _pretty(ex.response_body, redactor)]
        if ex.error:
            response.insert(1, f"error: {ex.error}")
    reproduce = (f'<p>Reproduce: the curl command is too long to show here; it is in <a href="{_e(curl_file)}">'
                 f"<code>{_e(curl_file)}</code></a> beside this report.</p>" if curl_file else
                 f"<p>Reproduce:</p><pre>{_e(ex.curl())}</pre>")
    return ["<p>Request:</p>", f"<pre>{_e(chr(10).join(request).rstrip())}</pre>",
            "<p>Response:</p>", f"<pre>{_e(chr(10).join(response).rstrip())}</pre>", reproduce]


def _outcomes(run: RunResult) -> list[str]:
    rules = [r for r in run.rules if r.outcomes]
    if not rules and not run.behaviour_profile:
        return []
    out = ["<h2>Observed behaviour where the docs are silent</h2>",
           "<table><thead><tr><th>Rule</th><th>Observed outcomes</th><th>Profile</th></tr></thead><tbody>"]
    for rule_id in sorted({r.rule_id for r in rules} | set(run.behaviour_profile)):
        seen = next((r.outcomes for r in rules if r.rule_id == rule_id), {})
        shown = ", ".join(f"{o} ×{n}" for o, n in sorted(seen.items()))
        out.append(f"<tr><td><code>{_e(rule_id)}</code></td><td>{_e(shown)}</td>"
                   f"<td>{_e(run.behaviour_profile.get(rule_id, ''))}</td></tr>")
    out.append("</tbody></table>")
    return out


COVERAGE_HEADINGS = {"elicited": "Catalogue codes the target answered (any operation)",
                     "unknown": "Codes the target answered that the catalogue lacks",
                     "not_elicited": "friend_import codes of the catalogue the run never drew"}


def _coverage(run: RunResult) -> list[str]:
    out = ["<h2>Error catalogue coverage</h2>"]
    meanings = _catalogue()
    for key, title in COVERAGE_HEADINGS.items():
        if key == "not_elicited":
            codes = {code: "" for code in run.coverage.get(key) or ()}
        else:
            codes = dict(run.coverage.get(key) or {})
        out.append(f"<h3>{title} ({len(codes)})</h3>")
        if not codes:
            out.append('<p class="muted">none</p>')
            continue
        times = "" if key == "not_elicited" else "<th>Times</th>"
        out.append(f"<table><thead><tr><th>Code</th>{times}<th>Meaning</th></tr></thead><tbody>")
        for code in sorted(codes, key=code_order):
            meaning = meanings.get(str(code), "not in schemas/error-codes.json")
            count = "" if key == "not_elicited" else f"<td>{_e(codes[code])}</td>"
            out.append(f"<tr><td><code>{_e(code)}</code></td>{count}<td>{_e(meaning)}</td></tr>")
        out.append("</tbody></table>")
    for key in sorted(set(run.coverage) - set(COVERAGE_HEADINGS), key=str):
        text = json.dumps(run.coverage[key], indent=2, ensure_ascii=False, default=str)
        out += [f"<h3>{_e(key.replace('_', ' ').capitalize())}</h3>", f"<pre>{_e(text)}</pre>"]
    return out


def _config(run: RunResult, redactor: Redactor) -> list[str]:
    config = run.meta.get("config")
    if not config:
        return []
    text = redactor.text(json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True, default=str))
    return ["<h2>Configuration (redacted)</h2>", f"<pre>{_e(text)}</pre>"]


def _catalogue() -> dict[str, str]:
    try:
        from timconform import spec

        return {str(code): f"{entry.name}: {entry.meaning}" for code, entry in spec.load().codes.items()}
    except Exception:  # noqa: BLE001 - the report must be written even when the spec cannot be read
        return {}


def _has_details(rule: RuleResult) -> bool:
    return rule.verdict in _DETAILED or rule.baselined is not None


def _reason(rule: RuleResult) -> str:
    text = rule.reason or (rule.evidence[0].message if rule.evidence else "")
    return text.strip().splitlines()[0] if text.strip() else ""


def _pretty(body: str, redactor: Redactor) -> str:
    """A JSON body indented (re-redacted: decoding may reveal escaped text); other text, and JSON too deep
    or too large to indent usefully, as it came (results.json has every body in full either way)."""
    if not body or len(body) > PRETTY_MAX_CHARS:
        return body
    try:
        return redactor.text(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
    except (ValueError, RecursionError):
        return body


def _headline_badge(headline: str) -> str:
    return _badge({"FAIL": Verdict.FAIL, "ERROR": Verdict.ERROR}.get(headline, Verdict.PASS), headline)


def _badge(verdict: Verdict, text: str | None = None) -> str:
    background, colour = COLOURS[verdict]
    return (f'<span class="v v-{verdict.label.lower()}" style="background:{background};color:{colour}">'
            f"{_e(text or verdict.label)}</span>")


def _e(value: Any) -> str:
    return html.escape(xml_safe(str(value)), quote=True)
