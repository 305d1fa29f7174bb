"""Fixtures for the notebook tests: fixture notebooks, tmp settings, a fixed clock, and one
headless run of each workbook notebook per session.

The clean environment comes from `clean_environ` in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runner import mpc_env, mpc_script
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
) -> Iterator[Callable[[str], HeadlessRun]]:
    """`mpc run NAME` once per session per workbook notebook, in a fresh workbook of its own on
    the sandbox: the one execution that strict nbval, the headless, report and index checks, the
    notebook's own data checks and the browser test all read.

    Every notebook the session's tests name is started at once, two runs at a time: each is a
    process of its own (a real `mpc run`), so the second core works while a test waits.
    """
    runs = _HeadlessRuns(tmp_path_factory, request)
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if "headless_runs" in item.fixturenames and callspec and "name" in callspec.params:
            runs.start(callspec.params["name"])
    try:
        yield runs.result
    finally:
        runs.close()


class _HeadlessRuns:
    """The session's headless runs, each started once and read by every test that names it."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
        self._tmp = tmp_path_factory
        self._request = request
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="headless-run")
        self._runs: dict[str, Future[HeadlessRun]] = {}

    def start(self, name: str) -> Future[HeadlessRun]:
        """Start `name`'s run (once); its services and environment are settled here, in the
        test's thread, so a test's monkeypatching never reaches the run."""
        if name not in self._runs:
            case = WORKBOOK[name]
            folder = self._tmp.mktemp(f"headless-{name}")
            env = {"MPC_SOURCE": "sandbox", "MPC_OUTPUTS_DIR": str(folder / "out")}
            env.update(service_env(case, self._request))
            params = [arg for key, value in case.parameters.items() for arg in ("-p", key, value)]
            argv = [mpc_script(), "run", name, *params, "--json"]
            stop = "stack" in case.needs  # the core it brings up is stopped right after
            self._runs[name] = self._pool.submit(_headless_run, argv, mpc_env(env), folder, stop)
        return self._runs[name]

    def result(self, name: str) -> HeadlessRun:
        return self.start(name).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _headless_run(argv: list[str], env: dict[str, str], folder: Path, stop: bool) -> HeadlessRun:
    try:
        done = subprocess.run(
            argv, env=env, cwd=folder, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        if stop:
            stop_local_core(env)
    assert done.returncode == 0, f"{' '.join(argv[1:])}: {done.stderr}"
    return HeadlessRun(folder / "out", json.loads(done.stdout.splitlines()[-1]))
