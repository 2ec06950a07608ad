"""Every misuse of the CLI and every malformed input file: one line on stderr naming the option or the file and
the problem, exit code 2, no traceback (issue 15, point 3). The cases are the ones a survey of the CLI found
answered with exit 3 ("internal error"), several lines, or silence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from timconform.cli import main

DEEP = "[" * 10000 + "]" * 10000
CREDS = {"TIMCONFORM_SDKAPPID": "1400000000", "TIMCONFORM_IDENTIFIER": "administrator",
         "TIMCONFORM_SECRET_KEY": "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"}
HEADER = {"target": "http://127.0.0.1:9 (http://127.0.0.1:9)", "sdkappid": 1400000000, "identifier": "administrator"}


@dataclass
class Misuse:
    name: str
    argv: list[str]  # {dir} stands for the test's directory
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    names: str = ""  # what the line must name (an option or a file); "" for the file the case writes first


CASSETTE = json.dumps({"type": "header", "cassette": 1, "started": 0}) + "\n"
CASES = [
    # files nested far too deeply
    Misuse("baseline-nested", ["run", "--baseline", "{dir}/b.yaml"], {"b.yaml": DEEP}),
    Misuse("accounts-nested", ["emulator", "--port", "0", "--accounts", "{dir}/a.yaml"], {"a.yaml": DEEP}),
    Misuse("behaviour-nested", ["emulator", "--port", "0", "--behaviour", "{dir}/p.yaml"], {"p.yaml": DEEP}),
    Misuse("faults-nested", ["emulator", "--port", "0", "--faults", "{dir}/f.json"], {"f.json": DEEP}),
    Misuse("declared-nested", ["parity", "{dir}/c.jsonl", "--declared", "{dir}/d.yaml"],
           {"d.yaml": DEEP, "c.jsonl": CASSETTE}, names="d.yaml"),
    Misuse("cassette-nested", ["parity", "{dir}/c.jsonl"], {"c.jsonl": DEEP + "\n"}),
    Misuse("profile-nested", ["profile", "{dir}/c.jsonl"], {"c.jsonl": DEEP + "\n"}),
    # not YAML, not UTF-8, a typo, an unknown key, a key twice
    Misuse("baseline-not-yaml", ["run", "--baseline", "{dir}/b.yaml"], {"b.yaml": "known_divergences: [unclosed\n"}),
    Misuse("faults-not-yaml", ["emulator", "--port", "0", "--faults", "{dir}/f.yaml"], {"f.yaml": "faults: [x\n"}),
    Misuse("faults-not-utf8", ["emulator", "--port", "0", "--faults", "{dir}/f.yaml"], {"f.yaml": b"faults: \xff\n"}),
    Misuse("accounts-not-utf8", ["emulator", "--port", "0", "--accounts", "{dir}/a.yaml"], {"a.yaml": b"\xff\xfe"}),
    Misuse("faults-typo", ["emulator", "--port", "0", "--faults", "{dir}/f.yaml"], {"f.yaml": "fautls: []\n"}),
    Misuse("faults-extra-key", ["emulator", "--port", "0", "--faults", "{dir}/f.yaml"], {"f.yaml": "faults: []\nextra: 1\n"}),
    Misuse("faults-unknown-field", ["emulator", "--port", "0", "--faults", "{dir}/f.yaml"],
           {"f.yaml": "faults: [{action: code, code: 30006, calls: [1], colour: red}]\n"}),
    Misuse("behaviour-extra-key", ["emulator", "--port", "0", "--behaviour", "{dir}/p.yaml"],
           {"p.yaml": "outcomes: {}\nextra: 1\n"}),
    Misuse("behaviour-unknown-rule", ["emulator", "--port", "0", "--behaviour", "{dir}/p.yaml"],
           {"p.yaml": "outcomes: {FI-NO-SUCH: x}\n"}),
    Misuse("behaviour-key-twice", ["emulator", "--port", "0", "--behaviour", "{dir}/p.yaml"],
           {"p.yaml": "outcomes:\n  OPEN-EXISTING-FRIEND: keep\n  OPEN-EXISTING-FRIEND: overwrite\n"}),
    Misuse("accounts-not-a-list", ["emulator", "--port", "0", "--accounts", "{dir}/a.yaml"], {"a.yaml": "accounts: false\n"}),
    Misuse("declared-unknown-key", ["parity", "{dir}/c.jsonl", "--declared", "{dir}/d.yaml"],
           {"d.yaml": "divergences: [{path: $.a, reason: r, colour: red}]\n", "c.jsonl": CASSETTE}, names="d.yaml"),
    # ledgers timconform did not write
    Misuse("ledger-nested", ["cleanup", "--ledger", "{dir}/l.jsonl"], {"l.jsonl": DEEP + "\n"}, CREDS),
    Misuse("ledger-array-header", ["cleanup", "--ledger", "{dir}/l.jsonl"],
           {"l.jsonl": '["target", "sdkappid"]\n{"pairs": [["a", "b"]]}\n'}, CREDS),
    Misuse("ledger-no-sdkappid", ["cleanup", "--ledger", "{dir}/l.jsonl"],
           {"l.jsonl": json.dumps({"target": "x", "identifier": "a"}) + "\n"}, CREDS),
    Misuse("ledger-bad-pairs", ["cleanup", "--ledger", "{dir}/l.jsonl"],
           {"l.jsonl": json.dumps(HEADER) + "\n" + json.dumps({"pairs": [["a", "b", "c"]]}) + "\n"}, CREDS),
    Misuse("ledger-not-utf8", ["cleanup", "--ledger", "{dir}/l.jsonl"],
           {"l.jsonl": json.dumps(HEADER).encode() + b"\n\xff\xfe\n"}, CREDS),
    Misuse("ledger-other-sdkappid", ["cleanup", "--ledger", "{dir}/l.jsonl"],
           {"l.jsonl": json.dumps(HEADER) + "\n" + json.dumps({"pairs": [["a", "b"]]}) + "\n"},
           {**CREDS, "TIMCONFORM_SDKAPPID": "1400000001"}, names="TIMCONFORM_SDKAPPID"),
    # targets and URLs
    *[Misuse(f"target-{n}", ["run", "--target", url], env=CREDS, names="--target") for n, url in (
        ("ipv6-open", "http://[::1"), ("port-not-a-number", "http://127.0.0.1:abc"), ("query", "http://127.0.0.1:9/?q=1"),
        ("fragment", "http://127.0.0.1:9/#f"), ("no-host", "http://"), ("userinfo", "http://u:p@127.0.0.1:9"),
        ("space", "http://127.0.0.1:9 "), ("empty", ""))],
    Misuse("parity-target-ipv6-open", ["parity", "{dir}/c.jsonl", "--target", "http://[::1"], {"c.jsonl": CASSETTE},
           CREDS, names="--target"),
    Misuse("proxy-upstream-ipv6-open", ["proxy", "--upstream", "http://[::1"], names="--upstream"),
    Misuse("proxy-upstream-bad-port", ["proxy", "--upstream", "http://127.0.0.1:abc"], names="--upstream"),
    # values out of range, empty values, settings that are no settings
    Misuse("sdkappid-over-64-bits", ["run", "--sdkappid", str(2**64)], names="--sdkappid"),
    Misuse("custom-tags-env", ["run", "--profile", "quick"], env={"TIMCONFORM_CUSTOM_TAGS": "bad"},
           names="TIMCONFORM_CUSTOM_TAGS"),
    Misuse("ca-bundle-not-certificates", ["run", "--target", "https://127.0.0.1:9", "--ca-bundle", "{dir}/ca.pem"],
           {"ca.pem": "this is no certificate\n"}, CREDS, names="--ca-bundle"),
    Misuse("proxy-ca-bundle-not-certificates", ["proxy", "--upstream", "https://127.0.0.1:9", "--ca-bundle",
                                                "{dir}/ca.pem"], {"ca.pem": "this is no certificate\n"},
           names="--ca-bundle"),
    Misuse("report-dir-empty", ["run", "--report-dir", ""], names="--report-dir"),
    Misuse("identifier-empty", ["run", "--identifier", ""], names="--identifier"),
    Misuse("cassette-under-a-file", ["run", "--cassette", "{dir}/f.txt/c.jsonl"], {"f.txt": "x"}, names="--cassette"),
    Misuse("rules-all-skipped", ["run", "--rules", "FI-HTTP-200", "--skip-rules", "FI-HTTP-200"], names="--rules"),
    Misuse("baseline-unknown-rule", ["run", "--baseline", "{dir}/b.yaml"],
           {"b.yaml": "known_divergences: [{rule: FI-NO-SUCH-RULE, reason: typo}]\n"}),
    Misuse("profile-out-a-directory", ["profile", "{dir}/c.jsonl", "--out", "{dir}"], {"c.jsonl": CASSETTE},
           names="--out"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_misuse_is_one_line_naming_what_is_wrong_and_exit_2(case: Misuse, tmp_path: Path, capsys,
                                                             monkeypatch) -> None:
    for name, content in case.files.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    for name in ("TIMCONFORM_TARGET", "TIMCONFORM_SDKAPPID", "TIMCONFORM_IDENTIFIER", "TIMCONFORM_SECRET_KEY",
                 "TIMCONFORM_CUSTOM_TAGS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    code = main([a.replace("{dir}", str(tmp_path)) for a in case.argv])
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if not line.startswith("timconform: warning:")]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("timconform: error:"), err
    assert "Traceback" not in err + out and "internal error" not in err
    expected = case.names or next(iter(case.files), "")
    assert expected in lines[0], (expected, lines[0])


def test_an_empty_ledger_is_removed_and_cleanup_says_so(tmp_path: Path, capsys, monkeypatch) -> None:
    for name, value in CREDS.items():
        monkeypatch.setenv(name, value)
    ledger = tmp_path / "l.jsonl"
    ledger.write_text("")
    assert main(["cleanup", "--ledger", str(ledger)]) == 0
    assert not ledger.exists() and "holds no friendship" in capsys.readouterr().out
