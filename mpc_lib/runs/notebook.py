"""Run a notebook with papermill: resolve, validate parameters, execute, export HTML, record.

Every run leaves three files side by side under `<outputs_dir>/runs/<YYYY-MM-DD>/`:
the executed notebook, an offline HTML copy and a JSON manifest, even when a
cell failed.  The kernel sees the caller's settings through its environment
(`Settings.public_env()` plus the API keys the caller holds, blank when absent),
so a notebook's own `Settings.from_env()` agrees with the caller's.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError, NotebookError
from ..extras import require
from ..storage import atomic_write_json
from .facts import run_facts
from .html import write_html
from .kernel import check_kernel, kernel_env, kernel_manager_class
from .parameters import validate_parameters

__all__ = [
    "SHIPPED_NOTEBOOKS_DIR",
    "RunResult",
    "available_notebooks",
    "notebook_dirs",
    "resolve_notebook",
    "run_notebook",
]

logger = logging.getLogger("mpc_lib")

_SOURCE_CHECKOUT = Path(__file__).resolve().parents[2]
_INSTALLED_NOTEBOOKS = Path(sys.prefix) / "share" / "mpc-workbench" / "notebooks"
# The notebooks this package ships: installed beside it, or in the source checkout.
SHIPPED_NOTEBOOKS_DIR = (
    _INSTALLED_NOTEBOOKS
    if _INSTALLED_NOTEBOOKS.is_dir() and not (_SOURCE_CHECKOUT / "notebooks").is_dir()
    else _SOURCE_CHECKOUT / "notebooks"
)

_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class RunResult:
    """Where a finished run left its executed notebook, HTML copy and manifest."""

    notebook: str
    parameters: dict[str, object]
    output_path: Path
    html_path: Path
    manifest_path: Path
    duration_s: float
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def sources(self) -> dict[str, str]:
        """Which source (live, sandbox…) each provider used, as the notebook reported it."""
        return dict(self.facts.get("sources") or {})


def run_notebook(
    notebook: str | Path,
    parameters: Mapping[str, object] | None = None,
    *,
    settings: Settings,
    notebooks_dir: Path | None = None,
    kernel_name: str = "python3",
    now: datetime | None = None,
    timeout_s: float | None = None,
) -> RunResult:
    """Execute `notebook`; outputs are written even when it fails, then NotebookError is raised.

    The kernel starts in the workbook root (`settings.home`) with the caller's settings.
    """
    path = resolve_notebook(notebook, notebooks_dir, home=settings.home)
    name = path.stem
    params = validate_parameters(path, parameters)
    pm = require("papermill", "notebook runs")
    require("nbconvert", "notebook runs")
    check_kernel(kernel_name)

    started = now or datetime.now(UTC)
    outputs_dir = Path(settings.outputs_dir).resolve()
    output_path, html_path, manifest_path = _reserve_paths(outputs_dir, name, started)
    manifest: dict[str, Any] = {
        "notebook": name,
        "input_path": str(path),
        "parameters": params,
        "status": "running",
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": None,
        "duration_s": None,
        "kernel_name": kernel_name,
        "git_sha": _git_sha(path.parent),
        "outputs": {
            "notebook": str(output_path),
            "html": str(html_path),
            "manifest": str(manifest_path),
        },
        "error": None,
    }
    atomic_write_json(manifest_path, manifest)

    clock = time.monotonic()
    facts: dict[str, Any] = {}
    try:
        error = _execute(pm, path, output_path, params, settings, kernel_name, timeout_s)
        try:
            executed = _load(output_path)
            if executed is not None:
                facts = run_facts(executed)
                write_html(executed, html_path)
        except Exception:
            if error is None:
                raise
            logger.warning("no HTML copy of the failed run %s", output_path, exc_info=True)
    except BaseException as exc:
        manifest.update(
            status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_s=round(time.monotonic() - clock, 3),
            error={"type": type(exc).__name__, "message": _one_line(str(exc))},
        )
        atomic_write_json(manifest_path, manifest)
        raise
    duration_s = round(time.monotonic() - clock, 3)

    manifest.update(
        status="ok" if error is None else "failed",
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=duration_s,
        sources=facts.get("sources"),
        error=None if error is None else _error_record(error),
    )
    atomic_write_json(manifest_path, manifest)
    logger.info("notebook %s %s in %.1fs: %s", name, manifest["status"], duration_s, output_path)
    if error is not None:
        raise error
    return RunResult(name, params, output_path, html_path, manifest_path, duration_s, facts)


def notebook_dirs(notebooks_dir: Path | None = None, home: Path | None = None) -> list[Path]:
    """Where notebooks are looked up, first match wins: `notebooks_dir` if given, else the
    workbook's own `notebooks/` and then the shipped ones."""
    if notebooks_dir is not None:
        return [Path(notebooks_dir)]
    folders = [Path(home) / "notebooks"] if home is not None else []
    folders.append(SHIPPED_NOTEBOOKS_DIR)
    return list(dict.fromkeys(folder.resolve() for folder in folders))


def available_notebooks(notebooks_dir: Path | None = None, home: Path | None = None) -> list[str]:
    """The names of the runnable notebooks (see `notebook_dirs`)."""
    names = {
        p.stem
        for folder in notebook_dirs(notebooks_dir, home)
        if folder.is_dir()
        for p in folder.glob("*.ipynb")
        if not p.name.startswith(".")
    }
    return sorted(names)


def resolve_notebook(
    notebook: str | Path, notebooks_dir: Path | None = None, *, home: Path | None = None
) -> Path:
    """A bare name (`catalog_sync`) or a path to an .ipynb file; unknown names raise ConfigError."""
    text = str(notebook)
    given = Path(text)
    if given.parent != Path(".") or (given.suffix == ".ipynb" and given.is_file()):
        if given.is_file():
            return given.resolve()
        raise ConfigError(f"no such notebook file {text!r}")
    filename = given.name if given.suffix == ".ipynb" else f"{text}.ipynb"
    folders = notebook_dirs(notebooks_dir, home)
    for folder in folders:
        if (folder / filename).is_file():
            return (folder / filename).resolve()
    known = ", ".join(available_notebooks(notebooks_dir, home)) or "(none)"
    where = " or ".join(str(folder) for folder in folders)
    raise ConfigError(f"unknown notebook {text!r} in {where}; available: {known}")


def _reserve_paths(outputs_dir: Path, name: str, started: datetime) -> tuple[Path, Path, Path]:
    """Claim `<name>-<HHMMSS>[-N]` in today's run folder by creating its manifest exclusively."""
    folder = outputs_dir / "runs" / started.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{name}-{started.strftime('%H%M%S')}"
    for attempt in range(1, 1000):
        stem = base if attempt == 1 else f"{base}-{attempt}"
        manifest = folder / f"{stem}.json"
        if (folder / f"{stem}.ipynb").exists():
            continue
        try:
            os.close(os.open(manifest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        return folder / f"{stem}.ipynb", folder / f"{stem}.html", manifest
    raise ConfigError(f"{folder}: too many runs of {name} in the same second")


def _execute(
    pm: Any,
    path: Path,
    output_path: Path,
    params: dict[str, object],
    settings: Settings,
    kernel_name: str,
    timeout_s: float | None,
) -> NotebookError | None:
    """Run papermill; a failed cell, dead kernel or timeout comes back as a NotebookError."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        pm.execute_notebook(
            str(path),
            str(output_path),
            parameters=params,
            kernel_name=kernel_name,
            progress_bar=False,
            start_timeout=_START_TIMEOUT_S,
            execution_timeout=timeout_s,
            kernel_manager_class=kernel_manager_class(kernel_env(settings), _kernel_cwd(settings)),
        )
    except pm.PapermillExecutionError as exc:
        index = _input_cell_index(output_path, exc.cell_index)
        return NotebookError(path.stem, index, exc.ename, _one_line(exc.evalue), output_path)
    except (CellTimeoutError, DeadKernelError, RuntimeError) as exc:
        index = _running_cell_index(output_path)
        return NotebookError(path.stem, index, type(exc).__name__, _one_line(str(exc)), output_path)
    return None


def _kernel_cwd(settings: Settings) -> Path:
    """The workbook root, as for `mpc` itself (relative paths in cells mean the same)."""
    return Path(settings.home) if settings.home is not None else Path.cwd()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


def _load(output_path: Path) -> Any | None:
    import nbformat

    try:
        return nbformat.read(str(output_path), as_version=4)
    except (OSError, ValueError):
        return None


def _input_cell_index(output_path: Path, executed_index: int | None) -> int | None:
    """Map papermill's index (which counts the injected-parameters cell) to the input notebook."""
    nb = _load(output_path)
    if nb is None or executed_index is None:
        return executed_index
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    injected = sum(
        1
        for cell in cells[:executed_index]
        if "injected-parameters" in cell.metadata.get("tags", [])
    )
    return executed_index - injected


def _running_cell_index(output_path: Path) -> int | None:
    """The input-notebook index of the last cell started before the kernel died or timed out."""
    nb = _load(output_path)
    if nb is None:
        return None
    found = None
    index = 0
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            continue
        if cell.metadata.get("papermill", {}).get("start_time"):
            found = index
        index += 1
    return found


def _error_record(error: NotebookError) -> dict[str, object]:
    return {
        "type": type(error).__name__,
        "cell_index": error.cell_index,
        "ename": error.ename,
        "evalue": error.evalue,
        "message": str(error),
    }


def _git_sha(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else None
