"""Fixtures for the notebook tests: fixture notebooks, tmp settings, a fixed clock, and one
headless run of each workbook notebook per session.

The clean environment comes from `clean_environ` in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runner import mpc
from workbook import WORKBOOK, HeadlessRun, service_env, stop_local_core

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


@pytest.fixture(scope="session")
def headless_runs(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, widget_renderer: Path
) -> Callable[[str], HeadlessRun]:
    """`mpc run NAME` once per session per workbook notebook, in a fresh workbook of its own on
    the sandbox: the one execution that strict nbval, the headless, report and index checks, the
    notebook's own data checks and the browser test all read."""

    done: dict[str, HeadlessRun] = {}

    def run(name: str) -> HeadlessRun:
        if name not in done:
            case = WORKBOOK[name]
            folder = tmp_path_factory.mktemp(f"headless-{name}")
            env = {"MPC_SOURCE": "sandbox", "MPC_OUTPUTS_DIR": str(folder / "out")}
            env.update(service_env(case, request))
            params = [arg for key, value in case.parameters.items() for arg in ("-p", key, value)]
            answer = mpc("run", name, *params, "--json", env=env, cwd=folder)
            try:
                assert answer.returncode == 0, answer.stderr
            finally:
                if "stack" in case.needs:  # the core it brought up: stop it now
                    stop_local_core(env)
            done[name] = HeadlessRun(folder / "out", json.loads(answer.stdout.splitlines()[-1]))
        return done[name]

    return run
