"""The report directory: results.json, junit.xml, report.html and behaviour-profile.yaml from one results tree.

Redact at the sink: each writer builds its text from the redacted copy of the tree, and every text
passes through ``redactor.text()`` as the very last step before it touches the disk.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import yaml

from timconform.report.html import rule_section, to_html
from timconform.report.json_report import document, redact_exchange, redact_run, to_json
from timconform.report.junit import testcase, to_junit_xml
from timconform.report.model import RuleResult, RunResult, Verdict
from timconform.report.redact import Redactor

RESULTS_JSON = "results.json"
JUNIT_XML = "junit.xml"
REPORT_HTML = "report.html"
BEHAVIOUR_PROFILE = "behaviour-profile.yaml"
CURL_DIR = "curl"
SHOWN_CURL_CHARS = 8192  # longer curl commands go to a file beside the report instead of being cut


def write_reports(run: RunResult, directory: str | Path, redactor: Redactor) -> list[Path]:
    """Write the four report files into ``directory`` (created if needed); return their paths in that order,
    then any curl files.

    ``run`` is changed in place first, so that every file and the exit code agree: a rule whose evidence
    a writer cannot render becomes an Error saying why (a Fail stays a Fail), and a curl command too long
    to show is written to ``curl/`` beside the report and referred to from it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    guard_rendering(run, redactor)
    curls = _write_long_curls(run, directory, redactor)
    texts = {
        RESULTS_JSON: to_json(run, redactor),
        JUNIT_XML: to_junit_xml(run, redactor),
        REPORT_HTML: to_html(run, redactor),
        BEHAVIOUR_PROFILE: behaviour_profile_yaml(run, redactor),
    }
    return [_write(directory / name, redactor.text(text)) for name, text in texts.items()] + curls


def guard_rendering(run: RunResult, redactor: Redactor) -> None:
    """Render each rule on its own in every writer; a rule that makes one raise loses the evidence that did
    it, and becomes an Error (a Fail stays a Fail) whose reason names the exception: the other rules and
    every file are still written, and exit code 1 keeps meaning a rule failed."""
    for index, rule in enumerate(run.rules):
        problem = _render_problem(rule, redactor)
        if problem is None:
            continue
        note = f"the report writers could not render this rule's evidence ({problem}); it was left out"
        verdict = rule.verdict if rule.verdict == Verdict.FAIL else Verdict.ERROR
        run.rules[index] = replace(rule, verdict=verdict, evidence=[],
                                   reason=f"{rule.reason}; {note}" if rule.reason else note)


def _render_problem(rule: RuleResult, redactor: Redactor) -> str | None:
    try:
        single = RunResult(meta={}, rules=[rule])
        redacted = redact_run(single, redactor)
        rule_section(redacted.rules[0], redactor)
        ET.tostring(testcase(redacted.rules[0]), encoding="unicode")
        json.dumps(document(single, redactor), ensure_ascii=False)
    except Exception as exc:  # noqa: BLE001 - any writer crash is contained to the rule that caused it
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200] or 'no detail'}"
    return None


def _write_long_curls(run: RunResult, directory: Path, redactor: Redactor) -> list[Path]:
    """Each curl command longer than SHOWN_CURL_CHARS goes to curl/<rule>-<n>.sh; the evidence names the file."""
    written = []
    for rule in run.rules:
        for number, evidence in enumerate(rule.evidence, 1):
            if evidence.exchange is None:
                continue
            command = redact_exchange(evidence.exchange, redactor).curl()
            if len(command) <= SHOWN_CURL_CHARS:
                continue
            name = f"{CURL_DIR}/{rule.rule_id}-{number}.sh"
            (directory / CURL_DIR).mkdir(exist_ok=True)
            written.append(_write(directory / name, redactor.text("#!/bin/sh\n# " + rule.rule_id + ": evidence "
                                                                  f"{number}; fill in the UserSig\n{command}\n")))
            evidence.curl_file = name
    return written


def output_dir_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot receive the report files, or None: checked before the run's first call, so a
    typo costs one line and exit 2 rather than a whole run whose report is then lost."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return f"{path} is a symbolic link to nothing"
    if path.exists() and not path.is_dir():
        return f"{path} exists and is not a directory"
    return _creatable(path)


def output_file_problem(path: str | Path) -> str | None:
    """Why a file cannot be written at ``path`` (e.g. --write-baseline), or None."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a directory"
    if path.is_symlink() and not path.exists():
        return f"{path} is a symbolic link to nothing"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} is not writable"
    return _creatable(path.parent)


def _creatable(path: Path) -> str | None:
    """None when ``path`` is a writable directory or could be made one (its nearest existing ancestor is)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            return f"{existing} is a symbolic link to nothing"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def behaviour_profile_yaml(run: RunResult, redactor: Redactor) -> str:
    """The observed outcome per open rule, as ``rule id: outcome id`` (``timconform emulator --behaviour FILE``)."""
    run = redact_run(run, redactor)
    target = " ".join(str(run.meta.get("target") or "the target").split())  # one comment line
    header = (f"# Behaviour observed on {target} where the docs are silent (rule id: outcome id).\n"
              "# Make the emulator behave the same: timconform emulator --behaviour behaviour-profile.yaml\n")
    profile = dict(sorted(run.behaviour_profile.items()))
    body = yaml.safe_dump(profile, sort_keys=False, allow_unicode=True, default_flow_style=False) if profile else "{}\n"
    return header + body


def _write(path: Path, text: str) -> Path:
    """Write atomically (a reader never sees half a report)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8", newline="\n")
    os.replace(partial, path)
    return path
