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

from collections.abc import Iterator

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
        return list(self.emulator.app_state.friends.get(user_id, {}))

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
