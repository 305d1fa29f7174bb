"""Notebook runs: `run_notebook()` executes a notebook with papermill and records the run.

`notebook` holds the recipe, `parameters` checks declared parameters before the
kernel starts, `kernel` starts the kernel with the caller's settings in the
workbook root, `facts` reads back what the notebook reported (its sources),
`html` writes the offline HTML copy.
"""

from .facts import RUN_FACTS_MIME, run_facts
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
    "DeclaredParameter",
    "RunResult",
    "available_notebooks",
    "declared_parameters",
    "notebook_dirs",
    "resolve_notebook",
    "run_facts",
    "run_notebook",
    "validate_parameters",
]
