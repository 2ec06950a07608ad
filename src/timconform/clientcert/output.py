"""The report directory of a client certification or a proxy session: the suite's writers, three files.

results.json, junit.xml and report.html come from the same writers as ``timconform run`` (redacted at
the sink); behaviour-profile.yaml is left out: it describes a target's answers, not a client.
"""

from __future__ import annotations

import os
from pathlib import Path

from timconform.report.html import to_html
from timconform.report.json_report import to_json
from timconform.report.junit import to_junit_xml
from timconform.report.model import RunResult
from timconform.report.redact import Redactor
from timconform.report.write import JUNIT_XML, REPORT_HTML, RESULTS_JSON


def write_reports(run: RunResult, directory: str | Path, redactor: Redactor) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((RESULTS_JSON, to_json(run, redactor)), (JUNIT_XML, to_junit_xml(run, redactor)),
                       (REPORT_HTML, to_html(run, redactor))):
        path = directory / name
        partial = path.with_name(f".{name}.partial")
        partial.write_text(redactor.text(text), encoding="utf-8", newline="\n")
        os.replace(partial, path)  # atomic: a reader never sees half a report
        written.append(path)
    return written
