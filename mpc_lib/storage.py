"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_many",
    "atomic_write_text",
    "read_json",
    "update_text",
]

_DEFAULT_MODE = 0o644


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to a temp file beside `path`, fsync it, then rename it over `path`."""
    atomic_write_many([(Path(path), data)])
    return Path(path)


def atomic_write_many(files: Sequence[tuple[Path, bytes]]) -> list[Path]:
    """Write several files atomically: all temp files written and fsynced side by side,
    then renamed into place in the order given.

    The fsyncs overlap (each waits on the disk, not on the CPU), and the order of
    the renames still says which file a reader can see first.  If any write fails,
    no file is renamed and every temp file is removed.
    """
    if len(files) == 1:
        outcomes: list[tuple[str, Path] | BaseException] = [_attempt(*files[0])]
    else:
        with ThreadPoolExecutor(max_workers=len(files), thread_name_prefix="write") as pool:
            outcomes = list(pool.map(lambda item: _attempt(*item), files))
    staged = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    try:
        if failed:
            raise failed[0]
        for tmp_name, path in staged:
            try:
                os.replace(tmp_name, path)
            except OSError as exc:
                raise _about(exc, path) from exc
    except BaseException:
        for tmp_name, _path in staged:
            Path(tmp_name).unlink(missing_ok=True)
        raise
    return [path for _tmp, path in staged]


def _attempt(path: Path, data: bytes) -> tuple[str, Path] | BaseException:
    try:
        return _stage(path, data)
    except OSError as exc:  # handed back, so every other temp file can be cleaned up
        return _about(exc, Path(path)) if _names_a_temp_file(exc, Path(path)) else exc
    except Exception as exc:
        return exc


def _names_a_temp_file(exc: OSError, path: Path) -> bool:
    return exc.filename is not None and Path(exc.filename).name.startswith(f".{path.name}.")


def _about(exc: OSError, path: Path) -> OSError:
    """The error as one about `path`: a temp file's random name means nothing to a reader."""
    if exc.errno is None:
        return exc
    about = OSError(exc.errno, exc.strerror, str(path))  # the errno picks the subclass
    about.__cause__ = exc
    return about


def _stage(path: Path, data: bytes) -> tuple[str, Path]:
    """A fsynced temp file beside `path` holding `data`; the caller renames it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600 files; keep an existing file's mode, else the usual 0644.
        mode = path.stat().st_mode & 0o777 if path.exists() else _DEFAULT_MODE
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return tmp_name, path


def atomic_write_text(path: Path, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def update_text(path: Path, text: str) -> bool:
    """Atomically write UTF-8 text unless the file already holds exactly it; True if written.

    (Unchanged files keep their mtime, so build caches that read them stay valid.)
    """
    try:
        if Path(path).read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)
    return True


def atomic_write_json(path: Path, data: Any, *, indent: int | None = 1) -> Path:
    """Atomically write `data` as JSON (sorted keys are left to the caller)."""
    return atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file; a broken file raises ValueError naming the file and position."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
