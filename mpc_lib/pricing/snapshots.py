"""Registry snapshots: each file's name and time, and its contents parsed with `json`.

A snapshot is parsed whole when a question needs its models, and the parse is not kept
(about 3 MB of objects per 0.9 MB file): price history keeps one model's record per
snapshot, price changes two snapshots at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..registry import RegistryStore, load_registry

__all__ = ["Snapshot", "iso_utc", "parse_time", "record_key", "registry_snapshots"]

_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


def iso_utc(moment: datetime) -> str:
    """A moment as `2026-11-01T12:00:00.000000Z`, as the registry writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Snapshot:
    """One registry file: when it was written, its header, and its models when asked."""

    def __init__(self, path: Path, *, label: str | None = None) -> None:
        self.path = Path(path)
        self.label = label or self.path.name
        self._header: dict[str, Any] | None = None
        self._unread: dict[str, dict[str, Any]] | None = None  # parsed for header(), not yet used
        self._at: datetime | None = _stamp(self.path.name)
        self._at_iso: str | None = None

    @property
    def at(self) -> datetime:
        """When it was written: from the file name, else from its `generated_at`."""
        if self._at is None:
            raw = str(self.header().get("generated_at") or "")
            self._at = parse_time(raw) or datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        return self._at

    @property
    def at_iso(self) -> str:
        """`at` as an ISO UTC string."""
        if self._at_iso is None:
            self._at_iso = iso_utc(self.at)
        return self._at_iso

    def records(self) -> dict[str, dict[str, Any]]:
        """Every model record by `provider:model_id`, parsed anew (or the parse `header()` made).

        A file that does not parse, or is not a registry, raises RegistryError naming it.
        """
        records, self._unread = self._unread, None
        if records is None:
            registry = load_registry(self.path)
            self._header = {name: value for name, value in registry.items() if name != "models"}
            records = {record_key(record): record for record in registry["models"]}
        return records

    def header(self) -> dict[str, Any]:
        """`generated_at`, `sources` and `counts` (kept after the first parse: they are small)."""
        if self._header is None:
            self._unread = self.records()
        return dict(self._header or {})


def _stamp(name: str) -> datetime | None:
    if not (name.startswith("models-") and name.endswith(".json")):
        return None
    try:
        return datetime.strptime(name[7:-5], _STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_time(text: str) -> datetime | None:
    """An ISO date or time (a trailing Z allowed) as an aware UTC datetime, or None."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_key(record: Mapping[str, Any]) -> str:
    """`provider:model_id` of a registry record."""
    return f"{record['provider']}:{record['model_id']}"


def registry_snapshots(settings: Settings) -> list[Snapshot]:
    """The snapshots, oldest first, plus models.json when it is not the newest snapshot."""
    store = RegistryStore(settings.outputs_dir)
    found = [Snapshot(path) for path in store.snapshots()]
    if store.path.is_file():
        current = Snapshot(store.path, label="models.json")
        newest = found[-1].header().get("generated_at") if found else None
        if not found or current.header().get("generated_at") != newest:
            found.append(current)
    return found
