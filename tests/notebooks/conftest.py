"""Fixtures for the notebook tests: fixture notebooks, tmp settings, a fixed clock.

The clean environment comes from `clean_environ` in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
def widget_renderer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The html-manager bundle offline reports load (fetched once with npm into the cache).

    Skips when it cannot be fetched (no npm, no registry), except in CI, where it must be.
    """
    from mpc_lib.errors import ConfigError
    from mpc_lib.runs import fetch_widget_renderer

    try:
        return fetch_widget_renderer(Settings(home=tmp_path_factory.mktemp("renderer-book")))
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to fetch the widgets renderer: {exc}")
        pytest.skip(f"widgets renderer not available: {exc}")


@dataclass(frozen=True)
class HeadlessRun:
    """One `mpc run NAME --json` on the sandbox: its outputs folder and what it printed."""

    outputs: Path
    result: dict[str, Any]

    @property
    def html_path(self) -> Path:
        return Path(self.result["outputs"]["html"])


@pytest.fixture(scope="session")
def headless_runs(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, widget_renderer: Path
) -> Callable[[str], HeadlessRun]:
    """`mpc run NAME` once per session per workbook notebook, for every test that reads it."""
    from workbook import WORKBOOK, service_env

    done: dict[str, HeadlessRun] = {}

    def run(name: str) -> HeadlessRun:
        if name not in done:
            case = WORKBOOK[name]
            folder = tmp_path_factory.mktemp(f"headless-{name}")
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("MPC_", "FAL_", "COMET"))
            }
            env.update(MPC_SOURCE="sandbox", MPC_OUTPUTS_DIR=str(folder / "out"))
            env.update(service_env(case, request))
            params = [arg for key, value in case.parameters.items() for arg in ("-p", key, value)]
            answer = subprocess.run(
                [sys.executable, "-m", "mpc_lib.cli", "run", name, *params, "--json"],
                env=env, cwd=folder, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert answer.returncode == 0, answer.stderr
            done[name] = HeadlessRun(folder / "out", json.loads(answer.stdout.splitlines()[-1]))
        return done[name]

    return run
