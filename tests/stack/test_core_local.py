"""The core in local mode, for real: `mpc gateway serve` (LiteLLM and the sandbox upstream) and
`mpc api serve`, through `mpc stack up --local`, a LiteLLM death, a recovery, and down.

They need the `gateway` extra (LiteLLM), which the dev extra installs.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from cli_runner import Ran, mpc
from stackhelp import free_port, needs_litellm, stack_processes

from mpc_lib.config import Settings
from mpc_lib.stack import local_stack

pytestmark = needs_litellm


@pytest.fixture
def core_env(workbook: Path, cli_env: dict[str, str]) -> dict[str, str]:
    """The workbook on ports of its own (the machine may run another gateway on 4000)."""
    return {
        **cli_env,
        "MPC_GATEWAY_URL": f"http://127.0.0.1:{free_port()}",
        "MPC_API_URL": f"http://127.0.0.1:{free_port()}",
    }


@pytest.fixture
def core_stack(core_env: dict[str, str]):
    """The workbook's core LocalStack (to look at its processes); taken down afterwards."""
    stack = local_stack(Settings.from_env(core_env))
    yield stack
    stack.down()
    assert stack_processes(stack) == []


def _mpc(env: dict[str, str], *args: str) -> Ran:
    """`mpc stack ARGS` in this process; the services it starts are real processes."""
    return mpc("stack", *args, env=env, cwd=env["MPC_HOME"])


def _deep_health(env: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(f"{env['MPC_API_URL']}/health", timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _pids(stack) -> dict[str, int | None]:
    return {row.name: row.pid for row in stack.status(probe=False)}


def test_core_up_smoke_litellm_death_recovery_and_down(core_env, core_stack) -> None:
    up = _mpc(core_env, "up", "--local", "--json")
    assert up.returncode == 0, up.stderr[-3000:]
    run = json.loads(up.stdout)
    assert run["mode"] == "local" and run["smoke"]["ok"], run["smoke"]
    checks = {check["check"]: check for check in run["smoke"]["checks"]}
    assert checks["chat via MPC-API"]["status"] == "pass"
    assert set(run["smoke"]["urls"]) == {"gateway", "mpc-api"}
    print(f"core up in {run['duration_s']} s")  # the figure the README quotes (-s shows it)
    assert "mode: local (local mode, as asked)" in up.stderr
    assert "gateway: healthy after" in up.stderr and "mpc-api: healthy after" in up.stderr

    # a second up is a no-op that says so
    again = _mpc(core_env, "up", "--local", "--no-smoke")
    assert again.returncode == 0 and "already up and healthy: nothing to do" in again.stdout

    # kill LiteLLM itself (a grandchild in its own session): `mpc gateway serve` leaves with
    # it, status shows the gateway dead, MPC-API's deep health turns 503
    before = _pids(core_stack)
    gateway = psutil.Process(before["gateway"])
    litellm = [p for p in gateway.children(recursive=True) if "litellm" in " ".join(p.cmdline())]
    assert litellm, [p.cmdline() for p in gateway.children(recursive=True)]
    litellm[0].kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = json.loads(_mpc(core_env, "status", "--json").stdout)
        states = {row["service"]: row["state"] for row in status["services"]}
        if states["gateway"] == "dead":
            break
        time.sleep(0.1)
    assert states["gateway"] == "dead" and states["mpc-api"] == "healthy"
    assert _mpc(core_env, "status").returncode == 4
    assert _deep_health(core_env) == 503

    # up brings the gateway back; MPC-API recovers without a restart
    back = _mpc(core_env, "up", "--local", "--json")
    assert back.returncode == 0, back.stderr[-3000:]
    actions = {
        row["service"]: row["action"] for row in json.loads(back.stdout)["local"]["services"]
    }
    assert actions["mpc-api"] == "already running" and actions["gateway"] == "restarted"
    assert _pids(core_stack)["mpc-api"] == before["mpc-api"]
    assert _deep_health(core_env) == 200

    # down leaves nothing: not LiteLLM, not the sandbox, not MPC-API
    down = _mpc(core_env, "down", "--local", "--json")
    assert down.returncode == 0
    assert {row["outcome"] for row in json.loads(down.stdout)["services"]} <= {"stopped", "killed"}
    assert stack_processes(core_stack) == []
    assert not psutil.pid_exists(litellm[0].pid) or litellm[0].status() == "zombie"
