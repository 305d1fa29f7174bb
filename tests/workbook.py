"""The workbook notebooks the tests cover, and what each one must show.

A new notebook in notebooks/ is covered by one entry here (the suite fails until it is):
one headless `mpc run` on the sandbox per session, whose outputs must match the stored ones
under strict nbval rules, that is indexed and leaves a small offline report; and the browser
test (JupyterLab, then that report with the network off).
"""

from __future__ import annotations

import itertools
import json
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SANITIZE = NOTEBOOKS_DIR / "nbval_sanitize.cfg"


@dataclass(frozen=True)
class WorkbookNotebook:
    """How the tests run one notebook and what its page must show."""

    name: str
    # `mpc run -p` values, each the notebook's own default (strict nbval compares the run with
    # outputs stored from a run on the defaults): they show that `-p` reaches the kernel
    parameters: dict[str, str] = field(default_factory=dict)
    chart: bool = False  # shows a plotly chart
    chart_data: bool = True  # ...with data drawn on it on the sandbox (not an empty chart)
    widget: bool = False  # shows an ipywidget
    widget_text: str = ""  # text its widget shows (in JupyterLab and in the offline report)
    live_widget: bool = False  # its first dropdown changes the widget's " of " summary
    text: tuple[str, ...] = ()  # strings its report must contain
    sources: bool = True  # reports its sources (views.sources_banner) to the run index
    needs: tuple[str, ...] = ()  # services it talks to, started by a fixture: "gateway", "api"
    # or, "stack": it starts the core itself (local mode), on ports of its own, and the test
    # stops it; in JupyterLab it gets a workbook of its own (its ports are not the others')


WORKBOOK: dict[str, WorkbookNotebook] = {
    notebook.name: notebook
    for notebook in (
        WorkbookNotebook(
            "catalog_sync",
            parameters={"allow_partial": "false"},
            chart=True,
            widget=True,
            widget_text=" models",
            live_widget=True,
            text=("Models per category", "fal: sandbox"),
        ),
        WorkbookNotebook(
            "gateway",
            chart=True,
            # the first chat model the gateway serves (test_gateway_notebook.py picks one)
            text=("Sandbox reply from ", " stream: median", "status: COMPLETED"),
            sources=False,
            needs=("gateway", "api"),
        ),
        WorkbookNotebook(
            "pricing_analysis",
            parameters={"categories": "text-to-image,image-to-video,text-to-video,llm"},
            chart=True,
            widget=True,
            widget_text="total: 0 USD",
            text=("SYNTHETIC",),
        ),
        WorkbookNotebook(
            "spec_validation",
            parameters={"data_source": "sandbox"},  # as MPC_SOURCE=sandbox makes `auto`
            chart=True,
            chart_data=False,  # the sandbox's data fits the hub spec: no enum drift to draw
            text=("gate: passed",),
        ),
        WorkbookNotebook(
            "hub_health",
            chart=True,
            text=("overall: ", "fal: sandbox (emulator"),
        ),
        WorkbookNotebook(
            "stack_bringup",
            # a Literal-annotated parameter papermill's own parser cannot read
            parameters={"mode": "local"},
            chart=True,
            text=("mode: local (local mode, as asked)", "chat via MPC-API", "pass"),
            sources=False,
            needs=("stack",),
        ),
    )
}


@dataclass(frozen=True)
class HeadlessRun:
    """One `mpc run NAME --json` on the sandbox: its outputs folder and what it printed."""

    outputs: Path
    result: dict[str, Any]
    stderr: str = ""

    @property
    def notebook_path(self) -> Path:
        return Path(self.result["outputs"]["notebook"])

    @property
    def html_path(self) -> Path:
        return Path(self.result["outputs"]["html"])

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(Path(self.result["outputs"]["manifest"]).read_text(encoding="utf-8"))


def service_env(case: WorkbookNotebook, request: Any) -> dict[str, str]:
    """The variables that point a notebook at the services it needs (their fixtures start them)."""
    env: dict[str, str] = {}
    if "gateway" in case.needs:
        gateway = request.getfixturevalue("gateway")
        env["MPC_GATEWAY_URL"] = gateway.url
        env["LITELLM_MASTER_KEY"] = gateway.settings.gateway_key.reveal()
    if "api" in case.needs:
        api = request.getfixturevalue("mpc_api")
        env["MPC_API_URL"] = api.url
        env["MPC_API_KEY"] = api.key
    if "stack" in case.needs:
        env.update(_local_stack_env(request))
    return env


def _local_stack_env(request: Any) -> dict[str, str]:
    """Free ports for the core the notebook starts, a master key (so nothing is written to a
    .env), and a finalizer that stops that core and checks nothing of it is left."""
    ports = (_free_port(), _free_port())
    env = {
        "MPC_GATEWAY_URL": f"http://127.0.0.1:{ports[0]}",
        "MPC_API_URL": f"http://127.0.0.1:{ports[1]}",
        "LITELLM_MASTER_KEY": "sk-" + secrets.token_hex(32),
    }
    request.addfinalizer(lambda: _stop_local_core(ports))
    return env


def stop_local_core(env: dict[str, str]) -> None:
    """Stop the core a notebook started on the ports `service_env` gave it (now, not at the
    finalizer, which then finds nothing left)."""
    ports = tuple(int(env[name].rsplit(":", 1)[1]) for name in ("MPC_GATEWAY_URL", "MPC_API_URL"))
    _stop_local_core((ports[0], ports[1]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop_local_core(ports: tuple[int, int]) -> None:
    """Stop every process of the local core serving on `ports`, children and orphans too.

    The services started for those ports name them on their command line (`--port N`),
    however their settings reached them (environment or a workbook .env); every process
    of that stack carries its token.
    """
    from mpc_lib.stack.processes import TOKEN_VAR, terminate

    wanted = {str(port) for port in ports}

    def token(proc: psutil.Process) -> str:
        try:
            return proc.environ().get(TOKEN_VAR, "")
        except psutil.Error:
            return ""

    def serves(proc: psutil.Process) -> bool:
        try:
            argv = proc.cmdline()
        except psutil.Error:
            return False
        return any(a == "--port" and b in wanted for a, b in itertools.pairwise(argv))

    stacks = {token(proc).split("/", 1)[0] for proc in psutil.process_iter() if serves(proc)}
    stacks.discard("")

    def ours(proc: psutil.Process) -> bool:
        return token(proc).split("/", 1)[0] in stacks

    terminate([proc for proc in psutil.process_iter() if ours(proc)], 10.0)
    left = [proc.pid for proc in psutil.process_iter() if ours(proc) and proc.status() != "zombie"]
    assert not left, f"the notebook's core left processes behind: {left}"
