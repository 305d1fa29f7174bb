"""Notebook runs: `run_notebook()` executes a notebook with papermill and records the run.

`notebook` holds the recipe, `parameters` checks and coerces `-p` values, `kernel`
starts the kernel with the caller's settings, `html` writes the offline HTML copy.
"""

from .notebook import (
    NOTEBOOKS_DIR,
    REPO_ROOT,
    RunResult,
    available_notebooks,
    resolve_notebook,
    run_notebook,
)
from .parameters import validate_parameters

__all__ = [
    "NOTEBOOKS_DIR",
    "REPO_ROOT",
    "RunResult",
    "available_notebooks",
    "resolve_notebook",
    "run_notebook",
    "validate_parameters",
]
