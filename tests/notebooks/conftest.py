"""Fixtures for the notebook tests: fixture notebooks, tmp settings, a fixed clock.

The clean environment, the widgets renderer and the session's headless run of each workbook
notebook (`headless_runs`) come from tests/conftest.py.
"""

from __future__ import annotations

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
