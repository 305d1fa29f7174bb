"""Price history from the registry's snapshots, read lazily.

Snapshots are written one model per line (`registry.encode_registry`), so a question
about one model is a byte search per snapshot, and the changes between two snapshots
are the lines that differ: only those are parsed.  A snapshot in another layout
(indented JSON, say) is parsed whole instead, and still answers the same.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError, RegistryError, StorageError
from ..providers import PROVIDERS
from ..registry import RegistryStore
from . import _text
from .prices import PriceBook, price_of, price_sources, sources_banner

__all__ = [
    "PriceChange",
    "PriceChanges",
    "PriceHistory",
    "PricePoint",
    "Snapshot",
    "price_changes",
    "price_history",
    "registry_snapshots",
]

log = logging.getLogger("mpc_lib.pricing")

_MODELS_MARK = b'\n"models": [\n'
_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_PRICE_FIELDS = ("unit_price", "unit", "output_unit_price", "currency")


def _iso(moment: datetime) -> str:
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
            self._at = _parse_time(raw) or datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        return self._at

    @property
    def at_iso(self) -> str:
        """`at` as an ISO UTC string."""
        if self._at_iso is None:
            self._at_iso = _iso(self.at)
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
            self._records = {_key(record): record for record in document["models"]}
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


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _key(record: Mapping[str, Any]) -> str:
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


# --- a price at one moment -----------------------------------------------------------


@dataclass(frozen=True)
class PricePoint:
    """A model's price in one snapshot; `present` False when the model was not listed at all."""

    at: str
    snapshot: str
    present: bool
    unit_price: float | None = None
    unit: str | None = None
    raw_unit: str | None = None
    output_unit_price: float | None = None
    currency: str | None = None

    @classmethod
    def of(cls, record: Mapping[str, Any] | None, snapshot: Snapshot) -> PricePoint:
        """The point for `record` (None: the model is absent from the snapshot)."""
        if record is None:
            return cls(snapshot.at_iso, snapshot.label, present=False)
        price = price_of(record, None)
        return cls(
            snapshot.at_iso,
            snapshot.label,
            present=True,
            unit_price=price.unit_price,
            unit=price.unit,
            raw_unit=price.raw_unit,
            output_unit_price=price.output_unit_price,
            currency=price.currency,
        )

    @property
    def priced(self) -> bool:
        """Whether a price is known here."""
        return self.unit_price is not None or self.output_unit_price is not None

    def same_price(self, other: PricePoint) -> bool:
        """Same presence, prices, unit (as sent) and currency."""
        return (self.present, self.unit_price, self.raw_unit, self.output_unit_price,
                self.currency) == (other.present, other.unit_price, other.raw_unit,
                                   other.output_unit_price, other.currency)  # fmt: skip

    def describe(self) -> str:
        """`0.025 USD / image`, `no price`, or `not listed`."""
        if not self.present:
            return "not listed"
        if not self.priced:
            return "no price"
        text = f"{_text.price(self.unit_price)} {self.currency or ''} / {self.unit}".replace(
            "  ", " "
        )
        if self.output_unit_price is not None:
            text += f" (output {_text.price(self.output_unit_price)})"
        return text

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "at": self.at,
            "snapshot": self.snapshot,
            "present": self.present,
            "unit_price": self.unit_price,
            "unit": self.unit,
            "raw_unit": self.raw_unit,
            "output_unit_price": self.output_unit_price,
            "currency": self.currency,
        }


def _pct(old: float | None, new: float | None) -> float | None:
    if old is None or new is None or old == 0:
        return None
    return (new - old) / old * 100.0


def _move(old: PricePoint, new: PricePoint) -> float | None:
    """% change of the price that moved (unit price, else output price); None across units."""
    if not (old.priced and new.priced and old.unit == new.unit and old.currency == new.currency):
        return None
    if old.unit_price == new.unit_price and old.output_unit_price != new.output_unit_price:
        return _pct(old.output_unit_price, new.output_unit_price)
    return _pct(old.unit_price, new.unit_price)


# --- one model's history -------------------------------------------------------------


@dataclass(frozen=True)
class PriceHistory:
    """A model's price in every snapshot, and the timeline of its changes."""

    key: str
    points: tuple[PricePoint, ...]
    banner: str = ""
    sources: dict[str, Any] = field(default_factory=dict)

    def timeline(self) -> list[dict[str, Any]]:
        """Runs of equal prices: from, to, the price, and the change from the run before."""
        runs: list[dict[str, Any]] = []
        for point in self.points:
            if runs and runs[-1]["point"].same_price(point):
                runs[-1]["to"] = point.at
                runs[-1]["snapshots"] += 1
                continue
            before = runs[-1]["point"] if runs else None
            runs.append({
                "from": point.at, "to": point.at, "snapshots": 1, "point": point,
                "change": _kind(before, point) if before is not None else "first seen",
                "pct": _move(before, point) if before is not None else None,
            })  # fmt: skip
        return runs

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: the timeline (with each run's price) and every point."""
        return {
            "model": self.key,
            "snapshots": len(self.points),
            "prices": self.sources,
            "timeline": [
                {**{k: v for k, v in run.items() if k != "point"}, **run["point"].to_json()}
                for run in self.timeline()
            ],
        }

    def summary(self) -> str:
        """One line per run of equal prices."""
        rows = [
            (run["from"][:19], run["to"][:19], run["snapshots"], run["point"].describe(),
             run["change"] + (f" {_text.pct(run['pct'])}" if run["pct"] is not None else ""))
            for run in self.timeline()
        ]  # fmt: skip
        head = f"price history of {self.key} over {len(self.points)} snapshot(s)"
        table = _text.table(("from", "to", "snapshots", "price", "change"), rows)
        return "\n".join(part for part in (head, table, self.banner) if part)


def price_history(settings: Settings, model: str, *, book: PriceBook | None = None) -> PriceHistory:
    """One model's price in every snapshot, oldest first; an unknown id raises ConfigError."""
    snapshots = registry_snapshots(settings)
    if not snapshots:
        raise RegistryError(
            f"{RegistryStore(settings.outputs_dir).root}: no registry snapshots yet"
        )
    key = _resolve(model, snapshots, book)
    provider, _, model_id = key.partition(":")
    points = tuple(PricePoint.of(s.find(provider, model_id), s) for s in snapshots)
    sources = price_sources(snapshots[-1].header())  # where the newest prices came from
    return PriceHistory(
        key,
        points,
        banner=sources_banner(sources, [provider]),
        sources={name: source.to_json() for name, source in sources.items()},
    )


def _resolve(model: str, snapshots: list[Snapshot], book: PriceBook | None) -> str:
    """A `provider:model_id` key: the newest snapshot that lists it decides (a byte search).

    Only an id no snapshot knows, or one two providers share, needs the whole registry
    parsed, for close matches or the list of keys to choose from.
    """
    if book is not None and (found := book.find(model)) is not None:
        return found.key
    provider, qualified, rest = model.partition(":")
    for snapshot in reversed(snapshots):  # the newest first; a removed model: older ones
        if qualified and provider in PROVIDERS and snapshot.find(provider, rest):
            return model
        keys = snapshot.contains_id(model)
        if len(keys) == 1:
            return keys[0]
        if keys:
            break  # listed by two providers: resolve() says which keys to write
    book = book or PriceBook.from_file(snapshots[-1].path)
    return book.resolve(model).key  # raises ConfigError with close matches


# --- changes between two moments -----------------------------------------------------


@dataclass(frozen=True)
class PriceChange:
    """One model whose price differs between the base snapshot and the newest one."""

    key: str
    kind: str  # up, down, newly priced, no longer priced, unit changed, currency changed
    old: PricePoint
    new: PricePoint
    pct: float | None
    when: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": self.key,
            "kind": self.kind,
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "pct": self.pct,
            "when": list(self.when),
        }


@dataclass(frozen=True)
class PriceChanges:
    """What changed in price from `base` to `head`, with when each change happened."""

    base: str | None
    head: str | None
    since: str | None
    changes: tuple[PriceChange, ...] = ()
    reverted: int = 0
    snapshots: int = 0
    note: str | None = None
    banner: str = ""
    sources: dict[str, Any] = field(default_factory=dict)

    def by_kind(self) -> dict[str, int]:
        """How many changes of each kind."""
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.kind] = counts.get(change.kind, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (`mpc pricing changes --json`)."""
        return {
            "since": self.since,
            "base": self.base,
            "head": self.head,
            "snapshots": self.snapshots,
            "counts": self.by_kind(),
            "reverted": self.reverted,
            "note": self.note,
            "changes": [change.to_json() for change in self.changes],
            "prices": self.sources,
        }

    def summary(self, limit: int = 40) -> str:
        """Counts by kind, then one row per change."""
        out = [f"price changes from {self.base} to {self.head} ({self.snapshots} snapshot(s))"]
        if self.note:
            out.append(f"note: {self.note}")
        counts = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.by_kind().items()))
        out.append(counts or "no price changed")
        if self.reverted:
            out.append(f"{self.reverted} model(s) changed and changed back (not listed)")
        rows = [
            (c.kind, c.key, c.old.describe(), c.new.describe(), _text.pct(c.pct), c.when[-1][:19])
            for c in self.changes
        ]
        if rows:
            out.append(
                _text.table(("kind", "model", "old", "new", "change", "when"), rows, limit=limit)
            )
        if self.banner:
            out.append(self.banner)
        return "\n".join(out)


_KIND_ORDER = {"up": 0, "down": 1, "unit changed": 2, "currency changed": 3,
               "newly priced": 4, "no longer priced": 5}  # fmt: skip


def _kind(old: PricePoint, new: PricePoint) -> str:
    """How a price moved from `old` to `new` (which differ)."""
    if not old.priced and not new.priced:
        return "listed" if new.present else "unlisted"
    if not old.priced:
        return "newly priced"
    if not new.priced:
        return "no longer priced"
    if old.unit != new.unit:
        return "unit changed"
    if old.currency != new.currency:
        return "currency changed"
    old_price = old.unit_price if old.unit_price is not None else old.output_unit_price
    new_price = new.unit_price if new.unit_price is not None else new.output_unit_price
    if old_price == new_price:
        old_price, new_price = old.output_unit_price, new.output_unit_price
    return "up" if (new_price or 0) > (old_price or 0) else "down"


def _pairs(
    snapshots: list[Snapshot],
) -> Iterator[tuple[Snapshot, Snapshot, dict[str, Any], dict[str, Any]]]:
    """Consecutive snapshots and the records of the lines that differ between them."""
    for older, newer in itertools.pairwise(snapshots):
        before, after = set(older.model_lines()), set(newer.model_lines())
        gone = {_key(r): r for r in map(older.record, before - after)}
        came = {_key(r): r for r in map(newer.record, after - before)}
        yield older, newer, gone, came


def _choose_base(snapshots: list[Snapshot], since: str | None) -> tuple[int, str | None]:
    """Index of the base snapshot for `since`, and a note when the choice needs one."""
    if since is None:
        return max(len(snapshots) - 2, 0), None
    text = since.strip()
    for index, snapshot in enumerate(snapshots):
        if text in (snapshot.label, snapshot.path.name, str(snapshot.path), snapshot.path.stem):
            return index, None
    as_path = Path(text)
    if as_path.is_file():
        resolved = as_path.resolve()
        for index, snapshot in enumerate(snapshots):
            if snapshot.path.resolve() == resolved:
                return index, None
        raise ConfigError(f"--since {since}: not one of the registry's snapshots")
    moment = _parse_time(text)
    if moment is None:
        names = ", ".join(s.label for s in snapshots[-3:])
        raise ConfigError(
            f"--since {since!r}: expected a date (YYYY-MM-DD), an ISO time or a snapshot "
            f"name (newest: {names})"
        )
    earlier = [index for index, snapshot in enumerate(snapshots) if snapshot.at <= moment]
    if earlier:
        return earlier[-1], None
    return 0, f"no snapshot as old as {since}; comparing from the oldest ({snapshots[0].label})"


def price_changes(settings: Settings, since: str | None = None) -> PriceChanges:
    """Price changes from the snapshot at `since` (default: the previous sync) to the newest.

    `since` is a date or ISO time (the registry as it was then), or a snapshot name/path.
    """
    snapshots = registry_snapshots(settings)
    if not snapshots:
        raise RegistryError(
            f"{RegistryStore(settings.outputs_dir).root}: no registry snapshots yet"
        )
    start, note = _choose_base(snapshots, since)
    window = snapshots[start:]
    head = window[-1]
    if len(window) < 2:
        note = note or "only one snapshot in range: nothing to compare yet"
    first: dict[str, PricePoint] = {}
    last: dict[str, PricePoint] = {}
    when: dict[str, list[str]] = {}
    for older, newer, gone, came in _pairs(window):
        for key in gone.keys() | came.keys():
            # A key on one side only was absent from the other snapshot: its line differs.
            old = PricePoint.of(gone.get(key), older)
            new = PricePoint.of(came.get(key), newer)
            if old.same_price(new):
                continue
            first.setdefault(key, old)
            last[key] = new
            when.setdefault(key, []).append(newer.at_iso)
    changes, reverted = [], 0
    for key, old in first.items():
        new = last[key]
        if old.same_price(new):
            reverted += 1
            continue
        if not old.priced and not new.priced:
            continue  # listed or unlisted without a price: not a price change
        pct = _move(old, new)
        changes.append(PriceChange(key, _kind(old, new), old, new, pct, tuple(when[key])))
    changes.sort(key=_change_order)
    sources = price_sources(head.header())
    return PriceChanges(
        base=window[0].label,
        head=head.label,
        since=since,
        changes=tuple(changes),
        reverted=reverted,
        snapshots=len(window),
        note=note,
        banner=sources_banner(sources),
        sources={name: source.to_json() for name, source in sources.items()},
    )


def _change_order(change: PriceChange) -> tuple[int, float, str]:
    """Kind first, then the biggest move, then the key."""
    size = abs(change.pct) if change.pct is not None else 0.0
    return (_KIND_ORDER.get(change.kind, 9), -size, change.key)
