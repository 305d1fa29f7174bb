"""The installed `mpc` script, one real process per command group, started with the session.

Each group's command runs in a workbook of its own, one process at a time in a thread of its
own (each is mostly its interpreter starting), while the first tests run;
tests/cli/test_entry_points.py reads each group's result.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from cli_runner import mpc_env, mpc_script

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
    "gateway": (("gateway", "config"), {}, 5, "no registry yet; run `mpc sync` first"),
    "spec": (("spec", "validate", "missing.json"), {}, 2, "missing.json: no such file"),
    "stack": (("stack", "status"), {}, 0, "no stack is up"),
    "sandbox": (("sandbox", "serve", "--fal-port", "70000"), {}, 2, "65535"),
    "api": (("api", "serve", "--host", "0.0.0.0"),
            {"LITELLM_MASTER_KEY": "sk-anything-long-enough"}, 2,
            "MPC_API_KEY is not set: refusing to serve MPC-API on 0.0.0.0"),
}  # fmt: skip
# The same app as a module: `python -m mpc_lib.cli ARGS`.
DASH_M = "python -m mpc_lib.cli"
DASH_M_ARGS = ("spec", "validate", "missing.json")


class EntryPointRuns:
    """Every group's process, and `python -m mpc_lib.cli`'s, started now; `result(group)` waits
    for one (`DASH_M` for the latter)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="entry-point")
        self._runs = {
            group: self._start(group, [mpc_script(), *args], env)
            for group, (args, env, _code, _text) in GROUPS.items()
        }
        self._runs[DASH_M] = self._start(
            "dash-m", [sys.executable, "-m", "mpc_lib.cli", *DASH_M_ARGS]
        )

    def _start(
        self, label: str, argv: list[str], env: dict[str, str] | None = None
    ) -> Future[subprocess.CompletedProcess[str]]:
        # argv, environment and folder are settled here, in the session's thread
        run = functools.partial(
            subprocess.run, argv, env=mpc_env(env), cwd=self._tmp.mktemp(f"entry-{label}"),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return self._pool.submit(run)

    def result(self, group: str) -> subprocess.CompletedProcess[str]:
        return self._runs[group].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
