"""The workbook notebooks the tests cover, and what each one must show.

A new notebook in notebooks/ is covered by one entry here (the suite fails until it is):
strict nbval on the sandbox, a headless `mpc run` that is indexed and leaves a small
offline report, and the browser test (JupyterLab, then the report with the network off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SANITIZE = NOTEBOOKS_DIR / "nbval_sanitize.cfg"


@dataclass(frozen=True)
class WorkbookNotebook:
    """How the tests run one notebook and what its page must show."""

    name: str
    parameters: dict[str, str] = field(default_factory=dict)  # for `mpc run -p`
    chart: bool = False  # shows a plotly chart
    widget: bool = False  # shows an ipywidget
    text: tuple[str, ...] = ()  # strings its report must contain
    sources: bool = True  # reports its sources (views.sources_banner) to the run index
    needs: tuple[str, ...] = ()  # services it talks to, started by a fixture: "gateway"


WORKBOOK: dict[str, WorkbookNotebook] = {
    notebook.name: notebook
    for notebook in (
        WorkbookNotebook(
            "catalog_sync",
            chart=True,
            widget=True,
            text=("Models per category", "fal: sandbox"),
        ),
        WorkbookNotebook(
            "gateway",
            parameters={"models": "gpt-4o-mini"},
            chart=True,
            text=("Sandbox reply from gpt-4o-mini", "gpt-4o-mini stream: median"),
            sources=False,
            needs=("gateway",),
        ),
        WorkbookNotebook(
            "hub_health",
            chart=True,
            text=("overall: ", "fal: sandbox (emulator"),
        ),
    )
}


def service_env(case: WorkbookNotebook, request: Any) -> dict[str, str]:
    """The variables that point a notebook at the services it needs (their fixtures start them)."""
    env: dict[str, str] = {}
    if "gateway" in case.needs:
        gateway = request.getfixturevalue("gateway")
        env["MPC_GATEWAY_URL"] = gateway.url
        env["LITELLM_MASTER_KEY"] = gateway.settings.gateway_key.reveal()
    return env
