"""Registry snapshots read lazily: bytes once, then only the model lines a question needs.

Snapshots are written one model per line (`registry.encode_registry`), so a question
about one model is a byte search per snapshot, and the changes between two snapshots
are the lines that differ.  A snapshot in another layout (indented JSON, say) is
parsed whole instead, and still answers the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import RegistryError, StorageError
from ..providers import PROVIDERS
from ..registry import RegistryStore

__all__ = ["Snapshot", "iso_utc", "parse_time", "record_key", "registry_snapshots"]

_MODELS_MARK = b'\n"models": [\n'
_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


def iso_utc(moment: datetime) -> str:
    """A moment as `2026-11-01T12:00:00.000000Z`, as the registry writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Snapshot:
    """One registry file, read only as far as a question needs (bytes once, JSON by line)."""

    def __init__(self, path: Path, *, label: str | None = None) -> None:
        self.path = Path(path)
        self.label = label or self.path.name
        self._data: bytes | None = None
        self._split: tuple[bytes, list[bytes]] | None = None
        self._records: dict[str, dict[str, Any]] | None = None
        self._header: dict[str, Any] = {}
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

    def data(self) -> bytes:
        """The file's bytes, read once."""
        if self._data is None:
            try:
                self._data = self.path.read_bytes()
            except OSError as exc:
                raise StorageError(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        return self._data

    def _lines(self) -> tuple[bytes, list[bytes]] | None:
        """(header JSON, model lines) for a one-model-per-line file, else None."""
        if self._split is None:
            data = self.data()
            mark = data.find(_MODELS_MARK)
            end = data.rfind(b"\n]")
            if not data.startswith(b"{") or mark < 0 or end < mark:
                return None
            header = data[:mark].rstrip().rstrip(b",") + b"}"
            body = data[mark + len(_MODELS_MARK) : end]
            # Records are joined by ",\n", and JSON text never holds a raw newline.
            lines = body.strip().split(b",\n") if body.strip() else []
            self._split = (header, lines)
        return self._split

    def _parsed(self) -> dict[str, dict[str, Any]]:
        """Every record by key: the slow path, for files not written one model per line."""
        if self._records is None:
            try:
                document = json.loads(self.data())
            except ValueError as exc:
                raise RegistryError(f"{self.path}: not a registry snapshot: {exc}") from exc
            if not isinstance(document, dict) or not isinstance(document.get("models"), list):
                raise RegistryError(f"{self.path}: not a registry (no 'models' list)")
            self._records = {record_key(record): record for record in document["models"]}
            self._header = {k: v for k, v in document.items() if k != "models"}
        return self._records

    def header(self) -> dict[str, Any]:
        """`generated_at`, `sources` and `counts`, without parsing the models."""
        split = self._lines()
        if split is None:
            self._parsed()
            return dict(self._header)
        try:
            value = json.loads(split[0])
        except ValueError as exc:
            raise RegistryError(f"{self.path}: the registry header does not parse: {exc}") from exc
        return dict(value) if isinstance(value, dict) else {}

    def model_lines(self) -> list[bytes]:
        """One byte string per model; identical records give identical lines."""
        split = self._lines()
        if split is not None:
            return split[1]
        return [json.dumps(record, sort_keys=True).encode() for record in self._parsed().values()]

    def record(self, line: bytes) -> dict[str, Any]:
        """One model line parsed; a broken line is a RegistryError naming the file."""
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise RegistryError(f"{self.path}: a model line does not parse: {exc}") from exc
        if not isinstance(record, dict) or "provider" not in record or "model_id" not in record:
            raise RegistryError(f"{self.path}: a model line lacks provider/model_id")
        return record

    def find(self, provider: str, model_id: str) -> dict[str, Any] | None:
        """One model's record, by a byte search for its id (no full parse)."""
        if self._lines() is None:
            return self._parsed().get(f"{provider}:{model_id}")
        data = self.data()
        for ascii_only in (False, True):
            needle = json.dumps(model_id, ensure_ascii=ascii_only).encode()
            start = data.find(needle)
            while start >= 0:
                begin = data.rfind(b"\n", 0, start) + 1
                end = data.find(b"\n", start)
                line = data[begin : end if end >= 0 else len(data)].rstrip(b",")
                if line.startswith(b"{"):
                    record = self.record(line)
                    if record["provider"] == provider and record["model_id"] == model_id:
                        return record
                start = data.find(needle, start + 1)
        return None

    def contains_id(self, model_id: str) -> list[str]:
        """Keys of the models with this id in this snapshot (to resolve a removed model)."""
        keys: list[str] = []
        needle = json.dumps(model_id).encode()
        if needle not in self.data():
            return keys
        for provider in PROVIDERS:
            if self.find(provider, model_id) is not None:
                keys.append(f"{provider}:{model_id}")
        return keys


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
