"""`mpc stack` (in this process, tests/cli_runner.py): status, logs and down on real local
processes, and the errors `up` gives when it cannot run what was asked (restart starts the real
core: test_core_local)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import Ran, mpc
from stackhelp import free_port, stack_processes, standin_spec

from mpc_lib.config import Settings
from mpc_lib.stack import StackPaths


def _mpc(env: dict[str, str], *args: str) -> Ran:
    return mpc("stack", *args, env=env, cwd=env["MPC_HOME"])


def test_nothing_up(cli_env: dict[str, str], no_engine: None) -> None:
    status = _mpc(cli_env, "status")
    assert status.returncode == 0 and status.stdout.startswith("no stack is up (")
    down = _mpc(cli_env, "down")
    assert down.returncode == 0 and down.stdout.startswith("nothing is up (")
    logs = _mpc(cli_env, "logs")
    assert logs.returncode == 2 and "no stack is up" in logs.stderr


def test_up_says_what_it_cannot_do(cli_env: dict[str, str], no_engine: None) -> None:
    beyond = _mpc(cli_env, "up", "-p", "core,dify")
    assert beyond.returncode == 4 and "dify need a container engine" in beyond.stderr
    local_dify = _mpc(cli_env, "up", "--local", "-p", "langflow")
    assert local_dify.returncode == 2 and "local mode runs only the core" in local_dify.stderr
    docker = _mpc(cli_env, "up", "--engine", "docker")
    assert docker.returncode == 2 and "run `mpc stack init`" in docker.stderr
    assert _mpc(cli_env, "init").returncode == 0
    docker = _mpc(cli_env, "up", "--engine", "docker")
    assert docker.returncode == 4 and "mode: docker (docker, as asked)" in docker.stderr
    assert "does not answer" in docker.stderr or "not installed" in docker.stderr
    unknown = _mpc(cli_env, "up", "-p", "core,n8n")
    assert unknown.returncode == 2
    assert "error: unknown profile(s) n8n; known: core," in unknown.stderr


def test_status_logs_and_down_on_local_processes(
    settings: Settings, cli_env: dict[str, str], make_stack
) -> None:
    state = StackPaths.for_settings(settings).state_dir / "local"
    stack = make_stack(
        [standin_spec(free_port(), name="gateway"), standin_spec(free_port(), name="mpc-api")],
        state=state,
    )
    stack.up(timeout_s=30)
    status = _mpc(cli_env, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["mode"] == "local" and report["healthy"]
    assert [(s["service"], s["state"]) for s in report["services"]] == [
        ("gateway", "healthy"),
        ("mpc-api", "healthy"),
    ]

    logs = _mpc(cli_env, "logs", "mpc-api", "--tail", "5")
    assert logs.returncode == 0 and "mpc-api | standin: serving on" in logs.stdout
    assert "gateway |" not in logs.stdout
    assert _mpc(cli_env, "logs", "litellm").returncode == 2

    down = _mpc(cli_env, "down", "--json")
    assert down.returncode == 0
    assert [s["outcome"] for s in json.loads(down.stdout)["services"]] == ["stopped", "stopped"]
    assert stack_processes(stack) == []
    assert _mpc(cli_env, "status", "--local", "--json").returncode == 0


def test_status_exits_4_when_a_service_is_dead(
    settings: Settings, cli_env: dict[str, str], make_stack, tmp_path: Path
) -> None:
    state = StackPaths.for_settings(settings).state_dir / "local"
    stack = make_stack([standin_spec(free_port(), name="gateway")], state=state)
    stack.up(timeout_s=30)
    for proc in stack_processes(stack):
        proc.kill()
        proc.wait(5)
    done = _mpc(cli_env, "status")
    assert done.returncode == 4 and "dead" in done.stdout
