"""The report directory: results.json, junit.xml, report.html and behaviour-profile.yaml from one results tree.

Redact at the sink: each writer builds its text from the redacted copy of the tree, and every text
passes through ``redactor.text()`` as the very last step before it touches the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from timconform.report.html import to_html
from timconform.report.json_report import redact_run, to_json
from timconform.report.junit import to_junit_xml
from timconform.report.model import RunResult
from timconform.report.redact import Redactor

RESULTS_JSON = "results.json"
JUNIT_XML = "junit.xml"
REPORT_HTML = "report.html"
BEHAVIOUR_PROFILE = "behaviour-profile.yaml"


def write_reports(run: RunResult, directory: str | Path, redactor: Redactor) -> list[Path]:
    """Write the four report files into ``directory`` (created if needed); return their paths in that order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        RESULTS_JSON: to_json(run, redactor),
        JUNIT_XML: to_junit_xml(run, redactor),
        REPORT_HTML: to_html(run, redactor),
        BEHAVIOUR_PROFILE: behaviour_profile_yaml(run, redactor),
    }
    return [_write(directory / name, redactor.text(text)) for name, text in texts.items()]


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
