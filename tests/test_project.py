"""The project's own contracts: CI runs the README's test command, packaging ships the spec."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The two commands"):text.index("## Status")]
    return re.findall(r"```\n(.+?)\n```", section)


def test_the_readme_gives_exactly_two_commands():
    main, tests = _readme_commands()
    assert "timconform" in main and "pip install" in main
    assert "pytest" in tests and "pip install" in tests


def test_ci_runs_the_readme_s_test_command_word_for_word():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in script if line and not line.startswith(("#", "set ", "cd "))]
    assert commands == [_readme_commands()[1]]


def test_the_wheel_ships_openapi_and_schemas():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"openapi.yaml" = "timconform/_data/openapi.yaml"' in text
    assert '"schemas" = "timconform/_data/schemas"' in text
