"""Shared fixtures: a clean environment per test and one loopback sandbox per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpc_lib.sandbox import Sandbox

_ENV_PREFIXES = ("MPC_", "FAL_", "COMET", "COMETAPI_", "APIDOG_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MPC_/FAL_/COMET*/APIDOG_ variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """Both emulators on ephemeral loopback ports, shared by the whole session."""
    with Sandbox() as sb:
        yield sb


@pytest.fixture(autouse=True)
def _reset_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the sandbox: clear faults and the log, restore data and latency."""
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").reset()


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ../shared folder next to the repo; skips the test when it is absent."""
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture
def seed_registry(shared_dir: Path) -> Path:
    """The raw registry snapshot in ../shared/seed-data (866 FAL + 568 Comet records)."""
    path = shared_dir / "seed-data" / "model_registry.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path
