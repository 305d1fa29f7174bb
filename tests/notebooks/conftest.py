"""Fixtures for the notebook tests: fixture notebooks, tmp settings, a fixed clock.

The clean environment comes from `clean_environ` in tests/conftest.py.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mpc_lib.config import Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """The folder of tiny fixture notebooks (ok, broken, sysexit0, ...)."""
    return FIXTURES


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings writing under tmp_path/outputs."""
    return Settings(outputs_dir=tmp_path / "outputs", source="sandbox")


@pytest.fixture
def now() -> datetime:
    """A fixed run time, so output names are predictable."""
    return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="session")
def widget_renderer() -> Path:
    """The html-manager bundle offline reports load (fetched once with npm into the cache).

    Skips when it cannot be fetched (no npm, no registry), except in CI, where it must be.
    """
    from mpc_lib.errors import ConfigError
    from mpc_lib.runs import fetch_widget_renderer

    try:
        return fetch_widget_renderer(Settings())
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to fetch the widgets renderer: {exc}")
        pytest.skip(f"widgets renderer not available: {exc}")
