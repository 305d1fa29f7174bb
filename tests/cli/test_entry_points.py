"""The installed `mpc` script, one real process per command group: it starts, reaches the group's
code and exits with the code the README's table gives.  Everything else about the commands runs
in-process (tests/cli_runner.py), where it costs no interpreter start."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cli_runner import mpc_env, mpc_process

HUB_SPEC = Path(__file__).resolve().parents[2] / "openapi" / "api-hub.oas.json"

# group: (argv, extra environment, exit code, text on stdout or stderr); `run` stands for
# `runs` too (both in mpc_lib/cli/runs.py), `schedule` for `run-all` (mpc_lib/cli/schedule.py).
GROUPS: dict[str, tuple[tuple[str, ...], dict[str, str], int, str]] = {
    "sync": (("sync", "--providers", "comet", "--json"), {}, 0, '"comet": "sandbox"'),
    "run": (("run", "no_such_notebook"), {}, 2, "unknown notebook 'no_such_notebook'"),
    "registry": (("registry", "restore"), {}, 5, "no snapshots to restore from"),
    "schedule": (("schedule", "add", "catalog_sync", "--cron", "0 25 * * *"), {}, 2,
                 "--cron '0 25 * * *'"),
    "pricing": (("pricing", "cheapest"), {}, 5, "no registry yet; run `mpc sync` first"),
    "health": (("health", "--json"), {}, 2, '"status": "fail"'),
    "apidog": (("apidog", "mcp-config", "--format", "zed"), {}, 2, "--format 'zed'"),
    "gateway": (("gateway", "config"), {}, 2, "no registry yet (run `mpc sync`)"),
    "spec": (("spec", "validate", "missing.json"), {}, 2, "missing.json: no such file"),
    "stack": (("stack", "status"), {}, 0, "no stack is up"),
    "sandbox": (("sandbox", "serve", "--fal-port", "70000"), {}, 2, "65535"),
    "api": (("api", "serve", "--host", "0.0.0.0"),
            {"LITELLM_MASTER_KEY": "sk-anything-long-enough"}, 2,
            "MPC_API_KEY is not set: refusing to serve MPC-API on 0.0.0.0"),
}  # fmt: skip


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each group's command run by the script, in a workbook of its own, two at a time (each
    process is mostly its interpreter starting: the second core takes half of them)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        running = {
            group: pool.submit(
                mpc_process, *args, env=env, cwd=tmp_path_factory.mktemp(group), timeout=120
            )
            for group, (args, env, _code, _text) in GROUPS.items()
        }
    return {group: future.result() for group, future in running.items()}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_command_group_through_the_installed_script(
    group: str, ran: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    args, _env, code, text = GROUPS[group]
    done = ran[group]
    assert done.returncode == code, done.stdout[-2000:] + done.stderr[-2000:]
    assert text in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if code == 0 and "--json" in args:
        assert json.loads(done.stdout.strip().splitlines()[-1])


def test_python_dash_m_runs_the_same_app(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mpc_lib.cli", "spec", "validate", "missing.json"],
        env=mpc_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "missing.json: no such file" in done.stderr


def test_every_command_group_is_covered() -> None:
    from mpc_lib.cli import app

    groups = {group.name for group in app.registered_groups}
    commands = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert groups | commands == set(GROUPS) | {"runs", "run-all"}
