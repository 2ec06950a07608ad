"""How the source is held together (issue 12): one check per rule, verdicts only from checks, codes from the
catalogue, small functions, ruff clean.

These read the source, not a run: a scenario that records a verdict itself, an error code typed into the
emulator, or a function that grew past the limit fails here, naming the file and line.
"""

from __future__ import annotations

import ast
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from timconform import spec as spec_module
from timconform.oracle.registry import CHECKS, load_all

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "timconform"
SCENARIOS = SRC / "suite" / "scenarios"
LOADER = SRC / "spec.py"  # the catalogue loader: the one place a code may be spelt out
MAX_LINES = 60
# Recorder methods that make a verdict, and the names through which a verdict could be recorded by hand.
VERDICT_CALLS = {"passed", "failed", "skipped", "outcome", "errored"}
VERDICT_NAMES = {"CheckFailed", "Recorder", "judge", "record", "evaluate"}


def _sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_every_rule_has_exactly_one_check_or_says_why_it_cannot_have_one():
    spec = spec_module.load()
    load_all()
    unobservable = {r for r, rule in spec.rules.items() if rule.unobservable}
    assert sorted(set(spec.rules) - set(CHECKS) - unobservable) == [], "rules without a check"
    assert sorted(set(CHECKS) & unobservable) == [], "an unobservable rule cannot also have a check"
    assert sorted(set(CHECKS) - set(spec.rules)) == [], "checks of rules the catalogue does not have"


def test_scenarios_record_no_verdict_themselves():
    """A scenario arranges, sends and hands what it saw to session.judge / session.require; the registered check
    of the rule decides, so a verdict can be traced to one function."""
    found = []
    for path in _sources(SCENARIOS):
        for node in ast.walk(_tree(path)):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and (node.attr == "recorder" or node.attr in VERDICT_CALLS
                                                    and isinstance(node.value, ast.Attribute)):
                found.append(f"{where}: .{node.attr}")
            elif isinstance(node, ast.Name) and node.id in VERDICT_NAMES:
                found.append(f"{where}: {node.id}")
            elif isinstance(node, ast.ImportFrom) and node.module in ("timconform.oracle.recorder",):
                found.append(f"{where}: imports {node.module}")
            elif isinstance(node, ast.Raise) and "SetupFailed" in ast.unparse(node):
                found.append(f"{where}: raises SetupFailed (use session.require)")
    assert found == []


def test_the_verdict_test_would_see_a_scenario_that_records_one(tmp_path):
    """The guard above is not blind: a line that records a verdict is caught."""
    probe = "def scenario(session):\n    session.recorder.passed('FI-HTTP-200')\n"
    nodes = list(ast.walk(ast.parse(probe)))
    assert any(isinstance(n, ast.Attribute) and n.attr == "recorder" for n in nodes)


def _code_literals(path: Path, codes: set[int]) -> list[str]:
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    for token in tokens:
        if token.type == tokenize.NUMBER and token.string.isdigit() and int(token.string) in codes:
            found.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string}")
    return found


def test_no_error_code_is_spelt_out_in_the_source_outside_the_catalogue_loader():
    """The emulator, the oracle and the client certification read every code from schemas/error-codes.json and
    schemas/rules.yaml through timconform.spec, so a code changed in the catalogue changes everywhere."""
    codes = {code for code in spec_module.load().codes if code >= 10000}
    found = [hit for path in _sources(SRC) if path != LOADER for hit in _code_literals(path, codes)]
    assert found == []


def _functions(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_no_function_is_longer_than_sixty_lines():
    long = [f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} ({fn.end_lineno - fn.lineno + 1} lines)"
            for path in _sources(SRC) for fn in _functions(_tree(path)) if fn.end_lineno - fn.lineno + 1 > MAX_LINES]
    assert long == []


def _ruff() -> list[str] | None:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    return [found] if found else None


@pytest.mark.skipif(_ruff() is None, reason="ruff is not installed (it comes with the test extra: pip install -e .[test])")
def test_ruff_finds_nothing_with_the_project_s_rule_set():
    """The rule set (pyflakes, and complexity at most 12) is [tool.ruff] in pyproject.toml."""
    done = subprocess.run([*_ruff(), "check", "--no-cache", "src", "tests", "scripts", "bench", "conftest.py"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
