"""`mpc health`'s stack.services row: skipped with no stack up, then the local processes."""

from __future__ import annotations

import json
import os
import signal

from seam import health
from stackhelp import free_port, standin_spec

from mpc_lib.config import Settings
from mpc_lib.health.checks import CHECKS
from mpc_lib.stack import StackPaths

STACK_CHECKS = [check for check in CHECKS if check.group == "stack"]


def test_the_row_is_in_the_check_table() -> None:
    assert [check.name for check in STACK_CHECKS] == ["stack.services"]


def _row(settings: Settings):
    return health(settings, checks=STACK_CHECKS, history=False).row("stack.services")


def test_no_stack_up_is_a_skip(settings: Settings, no_engine: None) -> None:
    row = _row(settings)
    assert row.status == "skip" and row.reason.startswith("no stack is up")


def test_local_processes_are_reported_healthy_then_dead(
    settings: Settings, make_stack, no_engine: None
) -> None:
    # Stand-ins under the names and the state folder local mode uses for the core.
    state = StackPaths.for_settings(settings).state_dir / "local"
    stack = make_stack(
        [standin_spec(free_port(), name="gateway"), standin_spec(free_port(), name="mpc-api")],
        state=state,
    )
    stack.up(timeout_s=30)
    row = _row(settings)
    assert row.status == "ok", row.reason
    assert row.reason == "local: 2 healthy: gateway, mpc-api"
    assert row.metrics == {"services": 2.0, "services_healthy": 2.0}

    pid = json.loads(stack.pid_file("gateway").read_text(encoding="utf-8"))["pid"]
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # our child: reap it, as a long-running kernel would
    row = _row(settings)
    assert row.status == "fail" and row.reason.startswith("local: gateway dead (pid")
    assert row.metrics["services_healthy"] == 1.0

    stack.down()
    assert _row(settings).status == "skip"  # nothing left: not a dead stack, no stack
