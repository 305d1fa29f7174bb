"""Fixtures for the stack tests: a throwaway workbook with its own compose/, real stand-in
processes, and a check that no process of ours is left behind (helpers: stackhelp.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import engineless_env
from stackhelp import REPO, stack_processes

from mpc_lib.config import Settings
from mpc_lib.stack import LocalStack, ServiceSpec, StackPaths


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    """A workbook root of our own: pyproject with [tool.mpc] and a copy of compose/."""
    root = tmp_path / "wb"
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.mpc]\n", encoding="utf-8")
    shutil.copytree(REPO / "compose", root / "compose", ignore=shutil.ignore_patterns(".env"))
    return root


@pytest.fixture
def settings(workbook: Path) -> Settings:
    """Settings for that workbook (outputs under it)."""
    return Settings(home=workbook)


@pytest.fixture
def paths(settings: Settings) -> StackPaths:
    """The workbook's stack paths (compose/.env is not written yet)."""
    return StackPaths.for_settings(settings)


@pytest.fixture
def cli_env(workbook: Path) -> dict[str, str]:
    """What `mpc` (tests/cli_runner.py) runs with, over a clean environment: that workbook."""
    return {"MPC_HOME": str(workbook)}


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator:
    """Build LocalStacks under tmp_path; every one is taken down after the test, and the
    test fails if a process of theirs survives that."""
    made: list[LocalStack] = []

    def make(
        specs: list[ServiceSpec],
        *,
        state: Path | None = None,
        grace_s: float = 5.0,
        settings: Settings | None = None,
    ) -> LocalStack:
        stack = LocalStack(state or tmp_path / "state", specs, settings=settings, grace_s=grace_s)
        made.append(stack)
        return stack

    yield make
    left = []
    for stack in made:
        stack.down()
        left += stack_processes(stack)
    assert not left, f"processes left behind: {[p.pid for p in left]}"


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For the test, this process (and `mpc` run in it) is on a machine where no container
    engine answers (engines.engineless_env)."""
    for name, value in engineless_env(tmp_path / "engineless").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    assert shutil.which("podman") is None
