"""pytest plugin: the ``timconform_emulator`` fixture, for testing your own client against the emulator.

    def test_my_import(timconform_emulator):
        client = MyClient(base_url=timconform_emulator.base_url, sdkappid=timconform_emulator.sdkappid,
                          identifier=timconform_emulator.identifier, key=timconform_emulator.secret_key)
        timconform_emulator.add_accounts("alice", "bob")
        client.import_friends("alice", ["bob"])
        assert timconform_emulator.friends_of("alice") == ["bob"]

The emulator serves on an ephemeral loopback port for the whole session and is reset before each
test, the way moto's ``mock_aws`` isolates tests.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest


class EmulatorHandle:
    """What a test needs to reach the emulator: URL, credentials, and direct access to its state."""

    def __init__(self, running) -> None:
        self._running = running
        self.emulator = running.emulator

    @property
    def base_url(self) -> str:
        return self._running.base_url

    @property
    def sdkappid(self) -> int:
        return self.emulator.config.sdkappid

    @property
    def identifier(self) -> str:
        return self.emulator.config.admins[0]

    @property
    def secret_key(self) -> str:
        return self.emulator.config.secret_key

    def usersig(self, identifier: str | None = None, *, expire: int = 86400) -> str:
        return self.emulator.usersig(identifier, expire=expire)

    def add_accounts(self, *user_ids: str) -> None:
        for user_id in user_ids:
            self.emulator.model.account_import(self.emulator.app_state, user_id)

    def friends_of(self, user_id: str) -> list[str]:
        return self.emulator.model.store.friends_of(self.emulator.app_state, user_id)

    def install_faults(self, plan) -> None:
        self.emulator.install_faults(plan)

    def reset(self) -> None:
        self.emulator.reset()


@pytest.fixture(scope="session")
def _timconform_server() -> Iterator[object]:
    from timconform.emulator import Emulator, EmulatorConfig
    from timconform.emulator.serve import start_in_thread

    running = start_in_thread(Emulator(EmulatorConfig(rate_limit=None, record=True)))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def timconform_emulator(_timconform_server) -> Iterator[EmulatorHandle]:
    """The embedded emulator on a loopback port, reset (state, faults, recordings) for this test."""
    handle = EmulatorHandle(_timconform_server)
    handle.emulator.install_faults([])
    handle.reset()
    yield handle


# -- the conformance suite from pytest ------------------------------------------------------------
#
#   pytest --timconform [--timconform-target URL] [--timconform-profile quick] [--timconform-strict] ...
#
# adds one test item per rule of schemas/rules.yaml; the suite runs once, and each item reports its
# rule's verdict (Fail fails, Error errors, Skip and Disabled skip, Warn warns). The session's exit
# status becomes the exit code of DESIGN.md (0, 1 or 3).


def pytest_addoption(parser) -> None:
    group = parser.getgroup("timconform", "timconform conformance suite")
    group.addoption("--timconform", action="store_true", help="run the conformance suite, one item per rule")
    group.addoption("--timconform-target", default=None, help="emulator (default), a base URL or a region")
    group.addoption("--timconform-profile", default="quick", choices=("quick", "standard", "full", "staging"))
    group.addoption("--timconform-strict", action="store_true", help="a broken inferred rule fails")
    group.addoption("--timconform-seed", type=int, default=None)
    group.addoption("--timconform-rules", default="", help="comma-separated rule ids")
    group.addoption("--timconform-report-dir", default=None, help="write results.json, junit.xml, report.html here")


class _SuiteRun:
    def __init__(self, config) -> None:
        self.config = config
        self.result = None

    def get(self):
        if self.result is None:
            from timconform.suite.runner import RunConfig, run, write_outputs

            option = self.config.getoption
            rules = tuple(r.strip() for r in option("timconform_rules").split(",") if r.strip())
            self.result, redactor = run(RunConfig(target=option("timconform_target"),
                                                  profile=option("timconform_profile"),
                                                  strict=option("timconform_strict"), seed=option("timconform_seed"),
                                                  rules=rules))
            directory = option("timconform_report_dir")
            write_outputs(self.result, redactor, Path(directory) if directory else None)
        return self.result


class RuleItem(pytest.Item):
    def __init__(self, *, rule_id: str, suite: _SuiteRun, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rule_id, self.suite = rule_id, suite

    def runtest(self) -> None:
        from timconform.report.model import Verdict

        result = next(r for r in self.suite.get().rules if r.rule_id == self.rule_id)
        detail = "; ".join(e.message for e in result.evidence) or result.reason
        if result.baselined is not None:
            pytest.skip(f"known divergence (baseline): {result.baselined}")
        if result.verdict == Verdict.FAIL:
            raise RuleFailed(f"{self.rule_id} Fail: {detail}")
        if result.verdict == Verdict.ERROR:
            raise RuntimeError(f"{self.rule_id} Error (harness or network, not the target): {detail}")
        if result.verdict in (Verdict.SKIP, Verdict.DISABLED):
            pytest.skip(f"{result.verdict.label}: {result.reason}")
        if result.verdict == Verdict.WARN:
            warnings.warn(f"{self.rule_id} Warn: {detail}", stacklevel=1)

    def repr_failure(self, excinfo):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, None, f"timconform {self.rule_id}"


class RuleFailed(AssertionError):
    """A rule the target breaks."""


def pytest_collection_modifyitems(session, config, items) -> None:
    if not config.getoption("timconform", default=False):
        return
    from timconform import spec
    from timconform.oracle.recorder import target_rules

    suite = _SuiteRun(config)
    config._timconform_suite = suite
    for rule_id in target_rules(spec.load()):
        items.append(RuleItem.from_parent(session, name=rule_id, rule_id=rule_id, suite=suite))


def pytest_sessionfinish(session, exitstatus) -> None:
    suite = getattr(session.config, "_timconform_suite", None)
    if suite is not None and suite.result is not None and exitstatus in (0, 1):
        session.exitstatus = suite.result.exit_code()
