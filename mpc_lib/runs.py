"""Run a notebook with papermill: resolve, validate parameters, execute, export HTML, record.

Every run leaves three files side by side under `<outputs_dir>/runs/<YYYY-MM-DD>/`:
the executed notebook, an offline HTML copy and a JSON manifest, even when a
cell failed.  The kernel sees the caller's settings through its environment
(`Settings.public_env()` plus the API keys the caller holds, blank when absent),
so a notebook's own `Settings.from_env()` agrees with the caller's.
"""

from __future__ import annotations

import ast
import copy
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import ConfigError, NotebookError
from .extras import require
from .storage import atomic_write_json, atomic_write_text

__all__ = [
    "NOTEBOOKS_DIR",
    "REPO_ROOT",
    "RunResult",
    "available_notebooks",
    "resolve_notebook",
    "run_notebook",
    "validate_parameters",
]

logger = logging.getLogger("mpc_lib")

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

_SECRET_WORDS = ("key", "token", "secret", "password")
_KEY_VARS = {"fal": ("FAL_KEY", "FAL_API_KEY"), "comet": ("COMETAPI_KEY", "COMET_API_KEY")}
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_NULL = frozenset({"none", "null"})
_PLOTLY_MIME = "application/vnd.plotly.v1+json"
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
    """Execute `notebook`; outputs are written even when it fails, then NotebookError is raised."""
    pm = require("papermill", "notebook runs")
    require("nbconvert", "notebook runs")
    path = resolve_notebook(notebook, notebooks_dir)
    name = path.stem
    params = validate_parameters(path, parameters)
    _check_kernel(kernel_name)

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
        "git_sha": _git_sha(REPO_ROOT),
        "outputs": {
            "notebook": str(output_path),
            "html": str(html_path),
            "manifest": str(manifest_path),
        },
        "error": None,
    }
    atomic_write_json(manifest_path, manifest)

    clock = time.monotonic()
    try:
        error = _execute(pm, path, output_path, params, settings, kernel_name, timeout_s)
        try:
            _write_html(output_path, html_path)
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
        error=None if error is None else _error_record(error),
    )
    atomic_write_json(manifest_path, manifest)
    logger.info("notebook %s %s in %.1fs: %s", name, manifest["status"], duration_s, output_path)
    if error is not None:
        raise error
    return RunResult(name, params, output_path, html_path, manifest_path, duration_s)


def available_notebooks(notebooks_dir: Path | None = None) -> list[str]:
    """The names of the runnable notebooks in `notebooks_dir` (default: the repo's notebooks/)."""
    folder = notebooks_dir or NOTEBOOKS_DIR
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def resolve_notebook(notebook: str | Path, notebooks_dir: Path | None = None) -> Path:
    """A bare name (`catalog_sync`) or a path to an .ipynb file; unknown names raise ConfigError."""
    folder = notebooks_dir or NOTEBOOKS_DIR
    text = str(notebook)
    given = Path(text)
    if given.suffix == ".ipynb" or given.parent != Path("."):
        if given.is_file():
            return given.resolve()
        candidate = folder / given.name if given.parent == Path(".") else given
    else:
        candidate = folder / f"{text}.ipynb"
    if candidate.is_file():
        return candidate.resolve()
    known = ", ".join(available_notebooks(folder)) or "(none)"
    raise ConfigError(f"unknown notebook {text!r} in {folder}; available: {known}")


def validate_parameters(
    notebook: Path, parameters: Mapping[str, object] | None
) -> dict[str, object]:
    """Check names against the notebook's parameters cell and coerce string values to its types."""
    if not parameters:
        return {}
    for name in parameters:
        if any(word in name.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"parameter {name!r} looks like a secret; API keys come only from the "
                "environment (FAL_KEY, COMETAPI_KEY), never from notebook parameters"
            )
    declared = require("papermill", "notebook runs").inspect_notebook(str(notebook))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        known = ", ".join(declared) or "(none: the notebook has no cell tagged 'parameters')"
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for notebook {notebook.stem}; "
            f"known: {known}"
        )
    return {
        name: _coerce(name, value, _default_value(declared[name].get("default")))
        for name, value in parameters.items()
    }


def _default_value(source: object) -> object:
    """The declared default as a Python value; a non-literal expression gives `...`."""
    if not isinstance(source, str):
        return ...
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return ...


def _coerce(name: str, value: object, default: object) -> object:
    if not isinstance(value, str):
        _check_plain(name, value)
        return value
    raw = value.strip()
    expected = type(default).__name__
    if isinstance(default, str) or default is ...:
        return value
    if raw.lower() in _NULL:
        return None
    if isinstance(default, bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"parameter {name}={value!r}: expected a bool (true/false/yes/no/1/0)")
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"parameter {name}={value!r}: expected {expected}") from None
    if default is None:
        try:
            parsed: object = json.loads(raw)
        except json.JSONDecodeError:
            return value
        return parsed
    if isinstance(default, list | dict | tuple):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"parameter {name}={value!r}: expected a JSON {expected} ({exc.msg})"
            ) from None
        if isinstance(default, tuple) and isinstance(parsed, list):
            return parsed
        if not isinstance(parsed, type(default)):
            raise ConfigError(f"parameter {name}={value!r}: expected a JSON {expected}")
        return parsed
    return value


def _check_plain(name: str, value: object) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"parameter {name}: {type(value).__name__} is not a plain JSON value"
        ) from None


def _check_kernel(kernel_name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if kernel_name not in specs:
        known = ", ".join(sorted(specs)) or "(none)"
        raise ConfigError(f"no Jupyter kernel named {kernel_name!r}; available: {known}")


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


def _kernel_env(settings: Settings) -> dict[str, str]:
    """The kernel's environment: ours, overlaid with the caller's settings (keys blank if unset)."""
    env = dict(os.environ)
    env.update(settings.public_env())
    env["MPC_OUTPUTS_DIR"] = str(Path(settings.outputs_dir).resolve())
    snapshot = settings.sandbox_snapshot
    env["MPC_SANDBOX_SNAPSHOT"] = str(Path(snapshot).resolve()) if snapshot else ""
    for provider, names in _KEY_VARS.items():
        key = settings.key_for(provider)
        for var in names:
            env[var] = ""  # blank beats a key in the kernel's .env: it mirrors the caller
        if key is not None:
            env[names[0]] = key.reveal()
    return env


def _kernel_manager_class(env: dict[str, str], cwd: Path) -> type:
    """An AsyncKernelManager that starts its kernel with `env` in `cwd` (nothing process-global).

    CurveZMQ transport encryption is on whenever pyzmq and the kernelspec support it.
    """
    import zmq
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class _RunKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _encrypt_when_possible(self) -> str:
            return "auto" if zmq.has("curve") else "disabled"

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**env, **kw.get("env", {})}
            kw.setdefault("cwd", str(cwd))
            await super().start_kernel(**kw)

    return _RunKernelManager


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
            kernel_manager_class=_kernel_manager_class(_kernel_env(settings), REPO_ROOT),
        )
    except pm.PapermillExecutionError as exc:
        index = _input_cell_index(output_path, exc.cell_index)
        return NotebookError(path.stem, index, exc.ename, _one_line(exc.evalue), output_path)
    except (CellTimeoutError, DeadKernelError, RuntimeError) as exc:
        index = _running_cell_index(output_path)
        return NotebookError(path.stem, index, type(exc).__name__, _one_line(str(exc)), output_path)
    return None


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


def _write_html(output_path: Path, html_path: Path) -> None:
    """Export the executed notebook to self-contained HTML (plotly figures drawn offline)."""
    nb = _load(output_path)
    if nb is None:
        return
    from nbconvert import HTMLExporter

    nb = _with_plotly_html(nb)
    body, _resources = HTMLExporter().from_notebook_node(nb)
    atomic_write_text(html_path, body)


def _with_plotly_html(nb: Any) -> Any:
    """Add a text/html rendering beside each plotly JSON output; plotly.js is inlined once."""
    outputs = [
        output
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if _PLOTLY_MIME in output.get("data", {})
    ]
    if not outputs:
        return nb
    try:
        import plotly.io as pio
    except ImportError:
        return nb
    nb = copy.deepcopy(nb)
    first = True
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if _PLOTLY_MIME not in data or "text/html" in data:
                continue
            data["text/html"] = pio.to_html(
                dict(data[_PLOTLY_MIME]),
                include_plotlyjs=first,
                full_html=False,
                validate=False,
            )
            first = False
    return nb


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
