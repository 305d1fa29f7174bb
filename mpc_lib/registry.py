"""The registry on disk: `models.json`, its timestamped snapshots, and the diff between syncs.

Layout under `<outputs>/registry/`:
    models.json              the current registry {generated_at, sources, counts, models}
    diff.json                what the last sync changed
    snapshots/models-<UTC timestamp>.json   one per successful sync, newest N kept
    replaced/models-<UTC timestamp>.json    each models.json a restore replaced, all kept

Every file is written atomically.  A sync holds `registry/.lock` (a filelock, with
a timeout) only while it re-reads, diffs and writes, never during the network
phase, so two syncs cannot interleave and neither waits long for the other.
A corrupt `models.json` is never overwritten by a read; `restore()` puts the
newest snapshot that parses back in its place, and moves the file it replaces to
`replaced/` under a name of its own (never overwritten by the next restore).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import ConfigDict, Field, field_serializer

from .errors import ConfigError, RegistryError, RegistryLocked, StorageError
from .models import MpcModel
from .storage import atomic_write_bytes, atomic_write_many, read_json

__all__ = [
    "ModelChange",
    "RegistryDiff",
    "RegistryRestore",
    "RegistryStamp",
    "RegistryStore",
    "diff_registries",
    "encode_registry",
    "load_registry",
]

# Fields that identify a record or describe our bookkeeping, not the model.
_IDENTITY_FIELDS = ("provider", "model_id", "stale")


class ModelChange(MpcModel):
    """One model whose fields changed: field name -> (old, new), as `{"old", "new"}` in JSON."""

    model_config = ConfigDict(frozen=True)

    key: str
    fields: dict[str, tuple[Any, Any]]

    @field_serializer("fields")
    def _old_new(self, fields: dict[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
        return {name: {"old": old, "new": new} for name, (old, new) in fields.items()}


class RegistryDiff(MpcModel):
    """What changed between two registries, keyed `provider:model_id` (its JSON: diff.json)."""

    model_config = ConfigDict(frozen=True)

    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    changed: list[ModelChange] = Field(default_factory=list)

    def price_changes(self) -> list[tuple[str, Any, Any]]:
        """(key, old price, new price) for every change of `pricing.unit_price`."""
        return [
            (change.key, *change.fields["pricing.unit_price"])
            for change in self.changed
            if "pricing.unit_price" in change.fields
        ]


def _flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as flat comparable fields: nested pricing and meta become dotted names."""
    flat: dict[str, Any] = {}
    for name, value in record.items():
        if name in _IDENTITY_FIELDS:
            continue
        if name in ("pricing", "meta") and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                flat[f"{name}.{sub}"] = sub_value
        elif name == "pricing" and value is None:
            flat["pricing"] = None
        else:
            flat[name] = value
    return flat


def _key(record: Mapping[str, Any]) -> str:
    return f"{record['provider']}:{record['model_id']}"


def diff_registries(
    old: Iterable[Mapping[str, Any]] | None, new: Iterable[Mapping[str, Any]]
) -> RegistryDiff:
    """Added, removed and changed models between two lists of registry records."""
    before = {_key(record): record for record in old or ()}
    after = {_key(record): record for record in new}
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed: list[ModelChange] = []
    for key in sorted(before.keys() & after.keys()):
        if before[key] == after[key]:
            continue
        old_flat, new_flat = _flatten(before[key]), _flatten(after[key])
        fields = {
            name: (old_flat.get(name), new_flat.get(name))
            for name in sorted(old_flat.keys() | new_flat.keys())
            if old_flat.get(name) != new_flat.get(name)
        }
        if fields:
            changed.append(ModelChange(key=key, fields=fields))
    return RegistryDiff(added=added, removed=removed, changed=changed)


def load_registry(path: Path) -> dict[str, Any]:
    """Read a registry file; a missing or broken one raises RegistryError naming it."""
    path = Path(path)
    if not path.is_file():
        raise RegistryError(f"{path}: no registry yet; run `mpc sync` first")
    try:
        data = read_json(path)
    except ValueError as exc:
        raise RegistryError(str(exc)) from exc
    except OSError as exc:
        raise StorageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise RegistryError(f"{path}: not a registry (expected an object with a 'models' list)")
    for index, record in enumerate(data["models"]):
        if not isinstance(record, dict) or "provider" not in record or "model_id" not in record:
            raise RegistryError(f"{path}: models[{index}] lacks provider/model_id")
    return data


def encode_registry(registry: Mapping[str, Any]) -> bytes:
    """JSON with one model per line: diffable by line, and fast (the C encoder, no indent)."""

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))

    fields = [
        f"{dump(name)}: {dump(value)}" for name, value in registry.items() if name != "models"
    ]
    models = ",\n".join(dump(record) for record in registry.get("models", []))
    fields.append(f'"models": [\n{models}\n]')
    return ("{\n" + ",\n".join(fields) + "\n}\n").encode("utf-8")


def utc_stamp(moment: datetime) -> str:
    """A sortable, filename-safe UTC timestamp with microseconds."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass(frozen=True)
class RegistryRestore:
    """What a restore did: the snapshot put back, and where the file it replaced went."""

    snapshot: Path
    replaced: Path | None


# (inode, size, mtime in ns) of models.json, or None when absent: "has it changed since?"
RegistryStamp = tuple[int, int, int] | None


class RegistryStore:
    """Reads and writes the registry files under `<outputs_dir>/registry`."""

    def __init__(self, outputs_dir: Path, *, keep: int = 30, lock_timeout_s: float = 30.0) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        if lock_timeout_s < 0:
            raise ValueError("lock_timeout_s must be >= 0")
        self.root = Path(outputs_dir) / "registry"
        self.keep = keep
        self.lock_timeout_s = lock_timeout_s

    @property
    def path(self) -> Path:
        """The current registry file."""
        return self.root / "models.json"

    @property
    def diff_path(self) -> Path:
        """What the last successful sync changed."""
        return self.root / "diff.json"

    @property
    def snapshots_dir(self) -> Path:
        """Where timestamped copies of each successful sync are kept."""
        return self.root / "snapshots"

    def load(self) -> dict[str, Any] | None:
        """The current registry, or None before the first sync.

        A corrupt file raises RegistryError that says how to restore a snapshot.
        """
        if not self.path.exists():
            return None
        try:
            return load_registry(self.path)
        except RegistryError as exc:
            raise RegistryError(f"{exc}; {self._restore_hint()}") from exc

    def require(self) -> dict[str, Any]:
        """The current registry; none yet is a RegistryError (exit 5), as a corrupt one is."""
        registry = self.load()
        if registry is None:
            raise RegistryError(f"{self.path}: no registry yet; run `mpc sync` first")
        return registry

    def peek_counts(self) -> dict[str, int]:
        """Models per provider from the head of models.json, without parsing the rest.

        `encode_registry` writes `counts` on a line of its own before the models, so
        this costs a small read; anything unexpected gives {} (it only sizes look-aheads).
        """
        try:
            with open(self.path, encoding="utf-8") as handle:
                for _ in range(16):
                    line = handle.readline()
                    if line.startswith('"counts": '):
                        counts = json.loads(line.removeprefix('"counts": ').rstrip().rstrip(","))
                        return {str(k): int(v) for k, v in counts.items()}
                    if not line or line.startswith('"models"'):
                        break
        except (OSError, ValueError, AttributeError, TypeError):
            pass
        return {}

    def stamp(self) -> RegistryStamp:
        """What models.json looks like on disk now, to tell whether it changed since a read."""
        try:
            info = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def load_stamped(self) -> tuple[dict[str, Any] | None, RegistryStamp]:
        """The current registry and the stamp of the file it was read from."""
        stamp = self.stamp()
        return self.load(), stamp

    @property
    def replaced_dir(self) -> Path:
        """Where each models.json a restore replaced is kept, timestamped, never pruned."""
        return self.root / "replaced"

    def find_snapshot(self, name: Path | str) -> Path:
        """A snapshot given as a path, or as a bare name in the snapshots folder (as the
        hints print it); ConfigError names both places when neither holds it."""
        path = Path(name)
        if path.is_file():
            return path
        if path.parent == Path("."):
            beside = self.snapshots_dir / path.name
            if beside.is_file():
                return beside
            where = f"no file {path} here or in {self.snapshots_dir}"
        else:
            where = f"no such file {path}"
        newest = next(reversed(self.snapshots()), None)
        hint = f"; the newest snapshot is {newest.name}" if newest else "; there are no snapshots"
        raise ConfigError(f"registry restore: {where}{hint}")

    def restore(self, snapshot: Path | str | None = None) -> RegistryRestore:
        """Put a snapshot back as models.json (default: the newest one that parses).

        `snapshot` is a path or a bare snapshot name.  Held under the registry lock;
        the replaced file, if any, moves to `replaced/models-<UTC timestamp>.json`.
        """
        with self.locked():
            candidates = (
                [self.find_snapshot(snapshot)] if snapshot is not None else self.snapshots()[::-1]
            )
            if not candidates:
                raise RegistryError(f"{self.snapshots_dir}: no snapshots to restore from")
            for candidate in candidates:
                try:
                    load_registry(candidate)
                except RegistryError:
                    if snapshot is not None:
                        raise
                    continue
                data = candidate.read_bytes()
                try:
                    replaced = self._move_aside()
                    atomic_write_bytes(self.path, data)
                except OSError as exc:
                    raise StorageError(
                        f"{exc.filename or self.path}: restore failed: {exc.strerror}"
                    ) from exc
                return RegistryRestore(candidate, replaced)
            raise RegistryError(f"{self.snapshots_dir}: no snapshot parses; nothing restored")

    def _move_aside(self) -> Path | None:
        """Move models.json to a new timestamped file in `replaced/`; None when there is none."""
        if not self.path.exists():
            return None
        self.replaced_dir.mkdir(parents=True, exist_ok=True)
        stamp = utc_stamp(datetime.now(UTC))
        target = self.replaced_dir / f"models-{stamp}.json"
        count = 1
        while target.exists():  # two restores in one microsecond (a coarse clock)
            target = self.replaced_dir / f"models-{stamp}-{count}.json"
            count += 1
        os.replace(self.path, target)
        return target

    def _restore_hint(self) -> str:
        newest = next(reversed(self.snapshots()), None)
        if newest is None:
            return "no snapshot to restore from: move it aside and run `mpc sync` again"
        return f"restore the newest snapshot ({newest.name}) with `mpc registry restore`"

    def snapshots(self) -> list[Path]:
        """Snapshot files, oldest first."""
        if not self.snapshots_dir.is_dir():
            return []
        return sorted(self.snapshots_dir.glob("models-*.json"))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold registry/.lock for a read-diff-write; RegistryLocked after the timeout."""
        lock_path = self.root / ".lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(lock_path, timeout=self.lock_timeout_s)
            lock.acquire()
        except Timeout:
            raise RegistryLocked(
                f"{lock_path}: another sync holds the lock (waited {self.lock_timeout_s:g} s); "
                "try again when it has finished, or raise MPC_LOCK_TIMEOUT_S"
            ) from None
        except OSError as exc:
            raise StorageError(
                f"{self.root}: cannot write the registry here: {exc.strerror}"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    def keep_current(self, moment: datetime) -> Path | None:
        """A snapshot holding models.json as it is now, before a sync at `moment` replaces it:
        the newest snapshot when it is a copy, else a new one; None without a models.json."""
        try:
            current = self.path.read_bytes()
            newest = next(reversed(self.snapshots()), None)
            if newest is not None and newest.read_bytes() == current:
                return newest
            # stamped just before the sync's own snapshot, so it sorts right before it
            before = utc_stamp(moment - timedelta(microseconds=1))
            kept = self.snapshots_dir / f"models-{before}.json"
            return atomic_write_bytes(kept, current)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(
                f"{exc.filename or self.root}: cannot keep the registry before replacing it: "
                f"{exc.strerror}"
            ) from exc

    def commit(
        self,
        registry: Mapping[str, Any],
        diff: RegistryDiff,
        *,
        moment: datetime,
        keep_also: Path | None = None,
    ) -> Path:
        """Write snapshot, models.json and diff.json atomically; prune old snapshots.

        Returns the snapshot path.  The three files are written side by side, then
        renamed snapshot first, so a crash part-way leaves the old models.json in
        place and nothing half-written.  `keep_also` is a snapshot never pruned here
        (the registry a replacing sync replaced).
        """
        snapshot = self.snapshots_dir / f"models-{utc_stamp(moment)}.json"
        encoded = encode_registry(registry)
        diff_doc = {"generated_at": registry.get("generated_at"), **diff.model_dump(mode="json")}
        diff_bytes = (json.dumps(diff_doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            atomic_write_many(
                [(snapshot, encoded), (self.path, encoded), (self.diff_path, diff_bytes)]
            )
        except OSError as exc:
            raise StorageError(
                f"{exc.filename or self.root}: write failed: {exc.strerror}"
            ) from exc
        for old in self.snapshots()[: -self.keep]:
            if old != keep_also:
                old.unlink(missing_ok=True)
        return snapshot
