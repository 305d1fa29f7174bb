"""Price history and price changes over the registry's snapshots.

`price_history` follows one model through every snapshot; `price_changes` compares
consecutive snapshots record by record.  Each snapshot is parsed once per question.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, computed_field

from ..config import Settings
from ..errors import ConfigError, RegistryError
from ..models import MpcModel
from ..providers import PROVIDERS
from ..registry import RegistryStore
from . import _text
from .prices import PriceBook, PriceSource, price_of, price_sources, sources_banner
from .snapshots import Snapshot, parse_time, registry_snapshots

__all__ = [
    "PriceChange",
    "PriceChanges",
    "PriceHistory",
    "PricePoint",
    "price_changes",
    "price_history",
]

log = logging.getLogger("mpc_lib.pricing")

# --- a price at one moment -----------------------------------------------------------


class PricePoint(MpcModel):
    """A model's price in one snapshot; `present` False when the model was not listed at all."""

    model_config = ConfigDict(frozen=True)

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
            return cls(at=snapshot.at_iso, snapshot=snapshot.label, present=False)
        price = price_of(record, None)
        return cls(
            at=snapshot.at_iso,
            snapshot=snapshot.label,
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


class PriceHistory(MpcModel):
    """A model's price in every snapshot, and the timeline of its changes.

    Its JSON (`mpc pricing history --json`) is the timeline, each run with its price,
    and where the newest prices came from.
    """

    model_config = ConfigDict(frozen=True)

    key: str = Field(serialization_alias="model")
    points: tuple[PricePoint, ...] = Field(exclude=True)
    banner: str = Field(default="", exclude=True)
    sources: dict[str, PriceSource] = Field(default_factory=dict, serialization_alias="prices")

    @computed_field(alias="snapshots")
    @property
    def snapshot_count(self) -> int:
        """How many snapshots were read."""
        return len(self.points)

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

    @computed_field(alias="timeline")
    @property
    def timeline_rows(self) -> list[dict[str, Any]]:
        """`timeline()` as the JSON's `timeline`: each run's dates and change beside its price."""
        return [
            {**{k: v for k, v in run.items() if k != "point"}, **run["point"].model_dump()}
            for run in self.timeline()
        ]

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
    known = book.find(model) if book is not None else None
    candidates = [known.key] if known is not None else _candidate_keys(model)
    # One parse per snapshot, keeping only the records the model could be.
    found = [
        {key: records[key] for key in candidates if key in records}
        for records in (snapshot.records() for snapshot in snapshots)
    ]
    key = known.key if known is not None else _resolve(model, found, snapshots, book)
    provider = key.partition(":")[0]
    points = tuple(PricePoint.of(f.get(key), s) for f, s in zip(found, snapshots, strict=True))
    sources = price_sources(snapshots[-1].header())  # where the newest prices came from
    return PriceHistory(
        key=key, points=points, banner=sources_banner(sources, [provider]), sources=sources
    )


def _candidate_keys(model: str) -> list[str]:
    """The keys `model` may name: itself when provider-qualified, and the id under each provider."""
    provider, qualified, _ = model.partition(":")
    own = [model] if qualified and provider in PROVIDERS else []
    return [*own, *(f"{name}:{model}" for name in PROVIDERS)]


def _resolve(
    model: str,
    found: list[dict[str, Any]],
    snapshots: list[Snapshot],
    book: PriceBook | None,
) -> str:
    """A `provider:model_id` key: the newest snapshot that lists the model decides.

    `found` holds each snapshot's records of the candidate keys.  Only an id no snapshot
    knows, or one two providers share, needs a price book, for close matches or the list
    of keys to choose from.
    """
    for records in reversed(found):  # the newest first; a removed model: older ones
        if model in records:
            return model
        keys = [f"{name}:{model}" for name in PROVIDERS if f"{name}:{model}" in records]
        if len(keys) == 1:
            return keys[0]
        if keys:
            break  # listed by two providers: resolve() says which keys to write
    book = book or PriceBook.from_file(snapshots[-1].path)
    return book.resolve(model).key  # raises ConfigError with close matches


# --- changes between two moments -----------------------------------------------------


class PriceChange(MpcModel):
    """One model whose price differs between the base snapshot and the newest one."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(serialization_alias="model")
    kind: str  # up, down, newly priced, no longer priced, unit changed, currency changed
    old: PricePoint
    new: PricePoint
    pct: float | None
    when: tuple[str, ...]


class PriceChanges(MpcModel):
    """What changed in price from `base` to `head`, with when each change happened.

    Its JSON is `mpc pricing changes --json`: the changes, counts by kind, and where
    the newest prices came from.
    """

    model_config = ConfigDict(frozen=True)

    since: str | None
    base: str | None
    head: str | None
    snapshots: int = 0
    reverted: int = 0
    note: str | None = None
    changes: tuple[PriceChange, ...] = ()
    banner: str = Field(default="", exclude=True)
    sources: dict[str, PriceSource] = Field(default_factory=dict, serialization_alias="prices")

    def by_kind(self) -> dict[str, int]:
        """How many changes of each kind."""
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.kind] = counts.get(change.kind, 0) + 1
        return counts

    @computed_field
    @property
    def counts(self) -> dict[str, int]:
        """`by_kind()`, as the JSON's `counts`."""
        return self.by_kind()

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
    """Consecutive snapshots and, of the records that differ between them, each side's."""
    after: dict[str, dict[str, Any]] | None = None
    for older, newer in itertools.pairwise(snapshots):
        before = after if after is not None else older.records()
        after = newer.records()
        # A PricePoint is made of whether a record is there and of its `pricing`, nothing else.
        differ = [
            key
            for key in before.keys() | after.keys()
            if key not in before
            or key not in after
            or before[key].get("pricing") != after[key].get("pricing")
        ]
        gone = {key: before[key] for key in differ if key in before}
        came = {key: after[key] for key in differ if key in after}
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
    moment = parse_time(text)
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
        kind = _kind(old, new)
        changes.append(
            PriceChange(key=key, kind=kind, old=old, new=new, pct=pct, when=tuple(when[key]))
        )
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
        sources=sources,
    )


def _change_order(change: PriceChange) -> tuple[int, float, str]:
    """Kind first, then the biggest move, then the key."""
    size = abs(change.pct) if change.pct is not None else 0.0
    return (_KIND_ORDER.get(change.kind, 9), -size, change.key)
