"""Project-wide fixtures for timconform's own tests."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def spec():
    from timconform import spec as spec_module

    return spec_module.load()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's reference folder beside the checkout; tests that read it skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the source-quote checks need the seed page and api-facts.md")
    return SHARED
