"""Run a notebook with papermill: resolve, validate, lock, execute, guard, report, index.

Every run leaves three files side by side under `<outputs_dir>/runs/<YYYY-MM-DD>/`:
the executed notebook, an offline HTML report and a JSON manifest, even when a
cell failed, and appends one record to `<outputs_dir>/runs/index.jsonl`.  The kernel
sees the caller's settings through its environment (`Settings.public_env()` plus the
API keys the caller holds, blank when absent), so a notebook's own
`Settings.from_env()` agrees with the caller's.  Two runs of one notebook never
overlap (a per-notebook file lock), and no configured secret survives in what a
run wrote (see `guard`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..config import Settings, shipped_dir
from ..errors import ConfigError, NotebookError, RunLocked, SecretLeaked
from ..extras import require
from ..storage import atomic_write_json
from .facts import run_facts
from .guard import SecretGuard, SecretHit
from .html import ReportHeader, write_report
from .index import RunIndex, RunRecord
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

# The notebooks this package ships: installed beside it, or in the source checkout.
SHIPPED_NOTEBOOKS_DIR = shipped_dir("notebooks")

_START_TIMEOUT_S = 60
_LOCKS_DIRNAME = ".locks"
# Files a notebook wrote are those changed since its start, less this much clock slack.
_MTIME_SLACK_S = 2.0


@dataclass(frozen=True)
class RunResult:
    """Where a finished run left its executed notebook, HTML report and manifest."""

    notebook: str
    parameters: dict[str, object]
    output_path: Path
    html_path: Path
    manifest_path: Path
    duration_s: float
    facts: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""

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
    deadline_s: float | None = None,
    report_only: bool = False,
    lock_timeout_s: float | None = None,
) -> RunResult:
    """Execute `notebook`; outputs are written and indexed even when it fails, then it raises.

    The kernel starts in the workbook root (`settings.home`) with the caller's settings.
    `timeout_s` bounds each cell, `deadline_s` the whole execution (the kernel is
    stopped); `report_only` hides code in the HTML report.  Raises NotebookError (a
    cell failed, timed out or passed the deadline), RunLocked (another run of this
    notebook held on past `lock_timeout_s`, default MPC_RUN_LOCK_TIMEOUT_S) or
    SecretLeaked (a configured secret was written, and has been redacted).
    """
    path = resolve_notebook(notebook, notebooks_dir, home=settings.home)
    name = path.stem
    params = validate_parameters(path, parameters)
    for label, value in (("timeout", timeout_s), ("deadline", deadline_s)):
        if value is not None and not value > 0:
            raise ConfigError(f"--{label} must be more than 0 seconds, got {value}")
    pm = require("papermill", "notebook runs")
    require("nbconvert", "notebook runs")
    check_kernel(kernel_name)

    runs_dir = Path(settings.outputs_dir).resolve() / "runs"
    index = RunIndex(runs_dir)
    wait = settings.run_lock_timeout_s if lock_timeout_s is None else lock_timeout_s
    run = _Run(
        path=path, params=params, settings=settings, runs_dir=runs_dir, index=index,
        kernel_name=kernel_name, timeout_s=timeout_s, deadline_s=deadline_s,
        report_only=report_only, guard=SecretGuard.from_settings(settings),
    )  # fmt: skip
    try:
        with _notebook_lock(runs_dir, name, wait, index, params):
            return run.execute(pm, now or datetime.now(UTC))
    finally:
        if settings.runs_keep_days is not None:
            _prune_quietly(index, settings.runs_keep_days)


@dataclass
class _Run:
    """One run's inputs; `execute` is the recipe."""

    path: Path
    params: dict[str, object]
    settings: Settings
    runs_dir: Path
    index: RunIndex
    kernel_name: str
    timeout_s: float | None
    deadline_s: float | None
    report_only: bool
    guard: SecretGuard

    def execute(self, pm: Any, started: datetime) -> RunResult:
        """Reserve paths, execute, guard, write the report and manifest, index the run."""
        name = self.path.stem
        output_path, html_path, manifest_path = _reserve_paths(self.runs_dir, name, started)
        run_id = f"{output_path.parent.name}/{output_path.stem}"
        manifest: dict[str, Any] = {
            "run_id": run_id,
            "notebook": name,
            "input_path": str(self.path),
            "parameters": self.params,
            "status": "running",
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": None,
            "duration_s": None,
            "kernel_name": self.kernel_name,
            "git_sha": _git_sha(self.path.parent),
            "report_only": self.report_only,
            "outputs": {
                "notebook": str(output_path),
                "html": str(html_path),
                "manifest": str(manifest_path),
            },
            "error": None,
        }
        atomic_write_json(manifest_path, manifest)

        clock, wall = time.monotonic(), time.time()
        hits: list[SecretHit] = []
        try:
            error = _execute(pm, self, output_path)
            hits = self.guard.sweep(
                [output_path, *_written_since(self.runs_dir.parent, wall, self.runs_dir)]
            )
            error = _redacted(error, self.guard)
            executed = _load(output_path)
            facts = run_facts(executed) if executed is not None else {}
            status = "ok" if error is None and not hits else "failed"
            duration_s = round(time.monotonic() - clock, 3)
            failure = _failure_text(error, hits)
            header = ReportHeader(
                notebook=name, run_id=run_id, status=status,
                started_at=manifest["started_at"], duration_s=duration_s,
                sources=facts.get("sources"), parameters=self.params,
                git_sha=manifest["git_sha"],
                error=self.guard.redact(failure) if failure else None,
            )  # fmt: skip
            if executed is not None:
                try:
                    write_report(
                        executed, html_path, header,
                        settings=self.settings, report_only=self.report_only,
                    )  # fmt: skip
                except Exception:
                    if status == "ok":
                        raise
                    logger.warning("no report of the failed run %s", output_path, exc_info=True)
            manifest.update(
                status=status,
                finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                duration_s=duration_s,
                sources=facts.get("sources"),
                error=_error_record(name, error, hits),
                secrets_redacted=[_hit_record(hit) for hit in hits] or None,
            )
            _write_guarded_json(manifest_path, manifest, self.guard)
            hits += self.guard.sweep([html_path, manifest_path])
        except BaseException as exc:
            manifest.update(
                status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                duration_s=round(time.monotonic() - clock, 3),
                error={"type": type(exc).__name__, "message": _one_line(str(exc))},
            )
            _write_guarded_json(manifest_path, manifest, self.guard)
            self.index.append(_record(manifest, self.guard))
            raise
        self.index.append(_record(manifest, self.guard))
        logger.info("notebook %s %s in %.1fs: %s", name, manifest["status"], duration_s, run_id)
        if hits:
            raise SecretLeaked(name, _hits_by_file(hits), also=str(error) if error else "")
        if error is not None:
            raise error
        return RunResult(
            name, self.params, output_path, html_path, manifest_path, duration_s, facts, run_id
        )


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


def _reserve_paths(runs_dir: Path, name: str, started: datetime) -> tuple[Path, Path, Path]:
    """Claim `<name>-<HHMMSS>[-N]` in today's run folder by creating its manifest exclusively."""
    folder = runs_dir / started.strftime("%Y-%m-%d")
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


def _execute(pm: Any, run: _Run, output_path: Path) -> NotebookError | None:
    """Run papermill; a failed cell, dead kernel, timeout or deadline is a NotebookError."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError  # optional: notebooks extra

    name = run.path.stem
    deadline = _Deadline(run.deadline_s)
    env = kernel_env(run.settings)
    manager = kernel_manager_class(env, _kernel_cwd(run.settings), on_start=deadline.watch)
    logging.getLogger("papermill").addFilter(_CHECKED_NAMES)  # once: adding it again is a no-op
    try:
        with deadline, _CHECKED_NAMES.here():
            pm.execute_notebook(
                str(run.path),
                str(output_path),
                parameters=run.params,
                kernel_name=run.kernel_name,
                progress_bar=False,
                start_timeout=_START_TIMEOUT_S,
                execution_timeout=run.timeout_s,
                kernel_manager_class=manager,
            )
    except pm.PapermillExecutionError as exc:
        index = _input_cell_index(output_path, exc.cell_index)
        return NotebookError(
            name, index, exc.ename, _one_line(exc.evalue), output_path,
            _cell_source(output_path, index),
        )  # fmt: skip
    except (CellTimeoutError, DeadKernelError, RuntimeError) as exc:
        index = _running_cell_index(output_path)
        ename, evalue = type(exc).__name__, _one_line(str(exc))
        if deadline.expired:
            ename = "DeadlineExceeded"
            evalue = f"the run passed its deadline of {run.deadline_s:g}s; the kernel was stopped"
        elif isinstance(exc, CellTimeoutError):
            evalue = f"the cell ran longer than --timeout {run.timeout_s:g}s; {evalue}"
        return NotebookError(
            name, index, ename, evalue, output_path, _cell_source(output_path, index)
        )
    return None


class _CheckedNames(logging.Filter):
    """Drops papermill's "Passed unknown parameter" warning in the threads running `_execute`.

    papermill finds parameter names with a regex that misses annotations holding quotes
    (`mode: Literal["auto", "local"] = "local"`), so it warns about names the notebook
    declares; `validate_parameters` parsed the cell and refused every unknown name before.
    papermill logs the warning from the calling thread, so other callers keep theirs.
    """

    def __init__(self) -> None:
        super().__init__()
        self._threads: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in self._threads or not str(record.msg).startswith(
            "Passed unknown parameter"
        )

    @contextlib.contextmanager
    def here(self) -> Iterator[None]:
        ident = threading.get_ident()
        self._threads.add(ident)
        try:
            yield
        finally:
            self._threads.discard(ident)


_CHECKED_NAMES = _CheckedNames()


class _Deadline:
    """Stops the kernel's whole process group when the run passes `deadline_s`."""

    def __init__(self, deadline_s: float | None) -> None:
        self.deadline_s = deadline_s
        self.expired = False
        self._managers: list[Any] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> _Deadline:
        if self.deadline_s is not None:
            self._timer = threading.Timer(self.deadline_s, self._expire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def watch(self, manager: Any) -> None:
        """Called when a kernel starts: remember it (and stop it at once if already late)."""
        with self._lock:
            self._managers.append(manager)
            late = self.expired
        if late:
            _kill_kernel(manager)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            managers = list(self._managers)
        logger.warning("run deadline of %ss passed: stopping the kernel", self.deadline_s)
        for manager in managers:
            _kill_kernel(manager)


def _kill_kernel(manager: Any) -> None:
    """SIGKILL the kernel's process group (it was started in a session of its own)."""
    provisioner = getattr(manager, "provisioner", None)
    pgid = getattr(provisioner, "pgid", None)
    pid = getattr(provisioner, "pid", None)
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if pgid:
            os.killpg(pgid, signal.SIGKILL)
        elif pid:
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _notebook_lock(
    runs_dir: Path, name: str, wait_s: float, index: RunIndex, params: dict[str, object]
) -> Iterator[None]:
    """Hold `runs/.locks/<name>.lock` for the run; past `wait_s` raise RunLocked (indexed)."""
    folder = runs_dir / _LOCKS_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / f"{name}.lock"
    owner_path = folder / f"{name}.owner.json"
    lock = FileLock(str(lock_path))
    asked = datetime.now(UTC)
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        holder = _holder(owner_path)
        error = RunLocked(name, wait_s, lock_path, holder)
        blocked = RunRecord(
            run_id=f"{asked:%Y-%m-%d}/{name}-{asked:%H%M%S}-blocked",
            notebook=name,
            status="blocked",
            parameters=params,
            started_at=asked,
            finished_at=datetime.now(UTC),
            error={"type": "RunLocked", "message": str(error)},
        )
        index.append(blocked)
        raise error from None
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": asked.isoformat()}
        atomic_write_json(owner_path, owner)
        yield
    finally:
        owner_path.unlink(missing_ok=True)
        lock.release()


def _holder(owner_path: Path) -> str:
    """Who holds a notebook lock, as the holder wrote it down."""
    try:
        owner = json.loads(owner_path.read_text(encoding="utf-8"))
        return f"pid {owner['pid']} on {owner['host']} since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "held by another process"


def _prune_quietly(index: RunIndex, keep_days: int) -> None:
    """MPC_RUNS_KEEP_DAYS after a run: a failure to prune never fails the run."""
    try:
        index.prune(keep_days)
    except Exception:
        logger.warning("could not prune runs older than %d days", keep_days, exc_info=True)


def _written_since(outputs_dir: Path, since: float, runs_dir: Path) -> list[Path]:
    """Files under `outputs_dir` changed since `since`, other runs and shared assets aside."""
    found = []
    skip = runs_dir.resolve()
    for root, dirs, files in os.walk(outputs_dir):
        here = Path(root)
        if here.resolve() == skip:
            dirs[:] = []
            continue
        for name in files:
            path = here / name
            with contextlib.suppress(OSError):
                if path.stat().st_mtime >= since - _MTIME_SLACK_S:
                    found.append(path)
    return found


def _redacted(error: NotebookError | None, guard: SecretGuard) -> NotebookError | None:
    """The error with any secret in its text redacted (it reaches stderr and the index)."""
    if error is None or not guard:
        return error
    return NotebookError(
        error.notebook, error.cell_index, error.ename, guard.redact(error.evalue),
        error.output_path,
        guard.redact(error.cell_source) if error.cell_source is not None else None,
    )  # fmt: skip


def _failure_text(error: NotebookError | None, hits: list[SecretHit]) -> str | None:
    parts = []
    if error is not None:
        where = f"cell {error.cell_index}" if error.cell_index is not None else "kernel"
        parts.append(f"{where}: {error.ename}: {error.evalue}")
    if hits:
        files = sorted({hit.path.name for hit in hits})
        parts.append(f"a configured secret was written (redacted) to {', '.join(files)}")
    return "; ".join(parts) or None


def _hit_record(hit: SecretHit) -> dict[str, object]:
    return {"path": str(hit.path), "variable": hit.variable, "count": hit.count}


def _hits_by_file(hits: list[SecretHit]) -> dict[str, list[str]]:
    by_file: dict[str, list[str]] = {}
    for hit in hits:
        by_file.setdefault(str(hit.path), [])
        if hit.variable not in by_file[str(hit.path)]:
            by_file[str(hit.path)].append(hit.variable)
    return by_file


def _write_guarded_json(path: Path, data: dict[str, Any], guard: SecretGuard) -> None:
    """Write JSON whose text has passed the guard (parameters or errors may echo a key)."""
    text = json.dumps(data, indent=1, ensure_ascii=False)
    atomic_write_json(path, json.loads(guard.redact(text)) if guard else data)


def _record(manifest: dict[str, Any], guard: SecretGuard) -> RunRecord:
    """The index record of a finished run, from its manifest (secrets redacted)."""
    data = json.loads(guard.redact(json.dumps(manifest))) if guard else manifest
    return RunRecord.model_validate(data)


def _kernel_cwd(settings: Settings) -> Path:
    """The workbook root, as for `mpc` itself (relative paths in cells mean the same)."""
    return Path(settings.home) if settings.home is not None else Path.cwd()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


def _load(output_path: Path) -> Any | None:
    import nbformat  # optional: the notebooks extra, loaded only when a run wrote a notebook

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


def _error_record(
    name: str, error: NotebookError | None, hits: list[SecretHit]
) -> dict[str, object] | None:
    if error is None and not hits:
        return None
    record: dict[str, object] = {}
    if error is not None:
        record = {
            "type": type(error).__name__,
            "cell_index": error.cell_index,
            "ename": error.ename,
            "evalue": error.evalue,
            "cell_source": error.cell_source,
            "message": str(error),
        }
    if hits:
        leak = SecretLeaked(name, _hits_by_file(hits))
        record = {
            **record,
            "type": "SecretLeaked",
            "message": _one_line(f"{record['message']}; {leak}" if record else str(leak)),
        }
    return record


def _cell_source(output_path: Path, index: int | None) -> str | None:
    """The source of input-notebook cell `index` in the executed notebook."""
    nb = _load(output_path)
    if nb is None or index is None:
        return None
    cells = [
        cell
        for cell in nb.cells
        if not {"injected-parameters", "papermill-error-cell-tag"}
        & set(cell.metadata.get("tags", []))
    ]
    return str(cells[index].source) if 0 <= index < len(cells) else None


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
