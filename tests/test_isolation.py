"""Each test runs in a workbook of its own, with none of the developer's variables (conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

from cli_runner import DEVELOPER_ENV_PREFIXES, mpc

from mpc_lib.config import Settings

CHECKOUT = Path(__file__).resolve().parents[1]


def test_a_test_has_its_own_workbook_outside_the_checkout(workbook_home: Path) -> None:
    assert Path.cwd() == workbook_home and os.environ["MPC_HOME"] == str(workbook_home)
    assert not workbook_home.is_relative_to(CHECKOUT)
    assert [name for name in os.environ if name.startswith(DEVELOPER_ENV_PREFIXES)] == ["MPC_HOME"]
    assert Settings().outputs_dir == workbook_home.resolve() / "outputs"
    assert Settings.from_env().outputs_dir == workbook_home.resolve() / "outputs"


def test_each_test_gets_a_fresh_one(workbook_home: Path) -> None:
    assert list(workbook_home.iterdir()) == []


def test_an_in_process_mpc_sees_its_own_environment_and_folder(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MPC_OUTPUTS_DIR=from-env-file\n")
    done = mpc("runs", "list", cwd=tmp_path, env={"MPC_RUNS_KEEP_DAYS": "3"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"no runs in {tmp_path.resolve() / 'from-env-file/runs/index.jsonl'}\n"
    assert "MPC_RUNS_KEEP_DAYS" not in os.environ and Path.cwd() != tmp_path
    broken = mpc("runs", "list", env={"MPC_OUTPUTS_DIR": None, "MPC_RUNS_KEEP_DAYS": "0"})
    assert broken.returncode == 2 and "MPC_RUNS_KEEP_DAYS='0'" in broken.stderr
