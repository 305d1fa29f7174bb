"""The installed `mpc` script, one real process per command group: it starts, reaches the group's
code and exits with the code the README's table gives.  The processes start with the session
(tests/entry_points.py); everything else about the commands runs in-process
(tests/cli_runner.py), where it costs no interpreter start."""

from __future__ import annotations

import json

import pytest
from entry_points import DASH_M, GROUPS, EntryPointRuns


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_command_group_through_the_installed_script(
    group: str, entry_point_runs: EntryPointRuns
) -> None:
    args, _env, code, text = GROUPS[group]
    done = entry_point_runs.result(group)
    assert done.returncode == code, done.stdout[-2000:] + done.stderr[-2000:]
    assert text in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if code == 0 and "--json" in args:
        assert json.loads(done.stdout.strip().splitlines()[-1])


def test_python_dash_m_runs_the_same_app(entry_point_runs: EntryPointRuns) -> None:
    done = entry_point_runs.result(DASH_M)  # `spec validate missing.json`
    assert done.returncode == 2 and "missing.json: no such file" in done.stderr


def test_every_command_group_is_covered() -> None:
    from mpc_lib.cli import app

    groups = {group.name for group in app.registered_groups}
    commands = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert groups | commands == set(GROUPS) | {"runs", "run-all"}
