"""The stack_bringup notebook in local mode: nbval brings the core up, smoke-tests it and
draws the diagram; the test takes the core down and checks nothing is left.

It runs the real core (issue 6's `mpc gateway serve` and `mpc api serve`, LiteLLM from
the `gateway` extra); until those are on the branch it skips.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mpc_lib.config import Settings
from mpc_lib.runs import SHIPPED_NOTEBOOKS_DIR, declared_parameters
from mpc_lib.stack import local_stack

NOTEBOOK = SHIPPED_NOTEBOOKS_DIR / "stack_bringup.ipynb"
REPO = Path(__file__).resolve().parents[2]
HAS_GATEWAY = all(importlib.util.find_spec(m) for m in ("mpc_lib.gateway", "litellm"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_notebook_declares_profiles_mode_and_timeout() -> None:
    declared = declared_parameters(NOTEBOOK)
    assert list(declared) == ["profiles", "mode", "timeout"]
    assert declared["mode"].default == "local" and declared["profiles"].default == ["core"]


@pytest.mark.skipif(not HAS_GATEWAY, reason="needs issue 6: mpc gateway serve")
def test_stack_bringup_passes_nbval_lax_in_local_mode(tmp_path: Path) -> None:
    home = tmp_path / "wb"
    home.mkdir()
    (home / "pyproject.toml").write_text("[tool.mpc]\n", encoding="utf-8")
    shutil.copytree(REPO / "compose", home / "compose", ignore=shutil.ignore_patterns(".env"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPC_", "FAL_", "COMET"))}
    env.update(
        MPC_HOME=str(home),
        MPC_GATEWAY_URL=f"http://127.0.0.1:{_free_port()}",
        MPC_API_URL=f"http://127.0.0.1:{_free_port()}",
    )
    stack = local_stack(Settings.from_env(env))
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--nbval-lax",
                "--nbval-current-env",
                "-p",
                "no:cacheprovider",
                "-q",
                str(NOTEBOOK),
            ],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert {row.name: row.state for row in stack.status()} == {
            "gateway": "healthy",
            "mpc-api": "healthy",
        }
    finally:
        results = stack.down()
    assert {r.outcome for r in results} <= {"stopped", "killed"}
    assert stack.recorded() == []
