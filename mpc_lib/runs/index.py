"""The run index: one JSON line per notebook run in `<outputs>/runs/index.jsonl`.

Appends take a file lock and write one whole line with a single `write` plus fsync,
so concurrent runs never interleave; a line torn by a crash is skipped with a
warning and never glued to the next one.  `prune` rewrites the index atomically
under the same lock and deletes only the files the pruned records name.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError, StorageError
from ..storage import atomic_write_text

__all__ = ["INDEX_FILENAME", "PruneReport", "RunIndex", "RunRecord", "RunStatus"]

logger = logging.getLogger("mpc_lib.runs")

INDEX_FILENAME = "index.jsonl"
_LOCK_TIMEOUT_S = 60.0

RunStatus = Literal["ok", "failed", "interrupted", "blocked"]


class RunRecord(BaseModel):
    """One run as the index keeps it: what ran, with what, against what, and how it went."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str
    notebook: str
    status: RunStatus
    parameters: dict[str, Any] = {}
    sources: dict[str, str] | None = None
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    outputs: dict[str, str] = {}
    git_sha: str | None = None
    report_only: bool = False
    error: dict[str, Any] | None = None

    def to_line(self) -> str:
        """The record as one JSON line (no newline)."""
        return self.model_dump_json()

    @property
    def failing_cell(self) -> int | None:
        """The input-notebook index of the cell that failed, if one did."""
        index = (self.error or {}).get("cell_index")
        return index if isinstance(index, int) else None


@dataclass(frozen=True)
class PruneReport:
    """What `RunIndex.prune` removed (with `dry_run`, what it would remove)."""

    records: list[RunRecord]
    files: list[Path]
    kept: int
    dry_run: bool = False


class RunIndex:
    """The index of runs under one runs folder (`<outputs>/runs`)."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / INDEX_FILENAME
        self._lock = FileLock(str(self.runs_dir / f".{INDEX_FILENAME}.lock"))

    def append(self, record: RunRecord) -> None:
        """Add one record; safe under concurrent runs (one locked, fsynced write)."""
        line = record.to_line().encode("utf-8") + b"\n"
        with self._locked():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                # A crash mid-append leaves a line without its newline: end it first, so
                # the torn line is skipped on read and this record stays whole.
                size = os.fstat(fd).st_size
                if size and _last_byte(self.path) != b"\n":
                    line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> list[RunRecord]:
        """Every readable record, oldest first; broken lines are skipped with a warning."""
        return list(self._read())

    def query(
        self,
        *,
        notebook: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[RunRecord]:
        """Records matching all the given filters, oldest first."""
        found = []
        for record in self._read():
            if notebook is not None and record.notebook != notebook:
                continue
            if status is not None and record.status != status:
                continue
            if since is not None and record.started_at < since:
                continue
            found.append(record)
        return found

    def get(self, run_id: str) -> RunRecord:
        """The record `run_id` names: exact id, a unique ending (`catalog_sync-104620`),
        or `latest`; ConfigError lists near matches otherwise."""
        records = self.records()
        if run_id == "latest" and records:
            return records[-1]
        exact = [record for record in records if record.run_id == run_id]
        if exact:
            return exact[-1]
        partial = [record for record in records if record.run_id.endswith(run_id)]
        if len(partial) == 1:
            return partial[0]
        if partial:
            ids = ", ".join(record.run_id for record in partial[-5:])
            raise ConfigError(f"run id {run_id!r} is ambiguous: {ids}")
        raise ConfigError(f"no run {run_id!r} in {self.path} ({len(records)} runs indexed)")

    def prune(
        self, keep_days: int, *, now: datetime | None = None, dry_run: bool = False
    ) -> PruneReport:
        """Drop records started more than `keep_days` ago and delete their output files.

        `dry_run` changes nothing and reports what would go.
        """
        if keep_days < 0:
            raise ValueError("keep_days must be 0 or more")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
        with self._locked():
            lines = self._lines()
            kept_lines: list[str] = []
            old: list[RunRecord] = []
            for line in lines:
                record = _parse(line, self.path)
                if record is not None and record.started_at < cutoff:
                    old.append(record)
                else:
                    kept_lines.append(line)  # unreadable lines are kept: lose nothing
            if not old or dry_run:
                files = [path for record in old for path in self._outputs_inside(record)]
                return PruneReport(old, files, len(kept_lines), dry_run=dry_run)
            deleted = [path for record in old for path in self._delete_outputs(record)]
            text = "".join(f"{line}\n" for line in kept_lines)
            atomic_write_text(self.path, text)
        for folder in {path.parent for path in deleted}:
            _remove_if_empty(folder)
        logger.info("pruned %d runs older than %d days from %s", len(old), keep_days, self.path)
        return PruneReport(old, deleted, len(kept_lines))

    # --- internals ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=_LOCK_TIMEOUT_S)
        except Timeout:
            raise StorageError(
                f"{self.path}: the run index stayed locked for {_LOCK_TIMEOUT_S:.0f}s "
                f"(lock file {self._lock.lock_file})"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    def _lines(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    def _read(self) -> Iterator[RunRecord]:
        for line in self._lines():
            record = _parse(line, self.path)
            if record is not None:
                yield record

    def _outputs_inside(self, record: RunRecord) -> list[Path]:
        """The files a record names that exist inside the runs folder (the only ones pruned)."""
        root = self.runs_dir.resolve()
        inside = []
        for raw in record.outputs.values():
            path = Path(raw)
            try:
                if path.resolve().is_relative_to(root) and path.is_file():
                    inside.append(path)
            except OSError:
                continue
        return inside

    def _delete_outputs(self, record: RunRecord) -> list[Path]:
        """Delete the files a record names, only inside the runs folder."""
        deleted = []
        for path in self._outputs_inside(record):
            path.unlink()
            deleted.append(path)
        return deleted


def _parse(line: str, where: Path) -> RunRecord | None:
    try:
        return RunRecord.model_validate_json(line)
    except ValidationError as exc:
        logger.warning("%s: skipping an unreadable index line (%s)", where, exc.errors()[0]["msg"])
        return None


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)


def _remove_if_empty(folder: Path) -> None:
    # Not empty (other runs, or files the index never knew): keep it.
    with contextlib.suppress(OSError):
        folder.rmdir()
