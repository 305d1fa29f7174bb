"""Notebook runs: `run_notebook()` executes a notebook with papermill and records the run.

`notebook` holds the recipe, `parameters` checks declared parameters before the
kernel starts, `kernel` starts the kernel with the caller's settings in the
workbook root, `facts` reads back what the notebook reported (its sources),
`html` writes the offline report from the shared `assets`, `guard` redacts secrets
from what a run wrote, and `index` keeps one record per run.
"""

from .assets import WIDGET_RENDERER, fetch_widget_renderer, widget_renderer_cached
from .facts import RUN_FACTS_MIME, run_facts
from .guard import SecretGuard, SecretHit, configured_secrets
from .index import PruneReport, RunIndex, RunRecord
from .notebook import (
    SHIPPED_NOTEBOOKS_DIR,
    RunResult,
    available_notebooks,
    notebook_dirs,
    resolve_notebook,
    run_notebook,
)
from .parameters import DeclaredParameter, declared_parameters, validate_parameters

__all__ = [
    "RUN_FACTS_MIME",
    "SHIPPED_NOTEBOOKS_DIR",
    "WIDGET_RENDERER",
    "DeclaredParameter",
    "PruneReport",
    "RunIndex",
    "RunRecord",
    "RunResult",
    "SecretGuard",
    "SecretHit",
    "available_notebooks",
    "configured_secrets",
    "declared_parameters",
    "fetch_widget_renderer",
    "notebook_dirs",
    "resolve_notebook",
    "run_facts",
    "run_notebook",
    "validate_parameters",
    "widget_renderer_cached",
]
