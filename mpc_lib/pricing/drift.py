"""Gateway cost drift: the registry's prices against LiteLLM's bundled cost map.

LiteLLM prices its spend logs from `model_prices_and_context_window_backup.json`,
shipped inside the package (`LITELLM_LOCAL_MODEL_COST_MAP=True` makes the proxy use
it).  FAL endpoints appear there as `fal_ai/<endpoint_id>`, priced per image, per
pixel or per second; Comet has no `cometapi/` entries, so a Comet model is priced by
the bare model name's entry, if any.  The file is read from the installed package
without importing litellm (an import takes seconds).

`write_cost_overrides` writes, for every model the map misprices or lacks, the
`model_info` fields that price it as the provider does, for the gateway config
generator to merge into that deployment's `model_info`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, InstanceOf, computed_field, field_serializer

from ..errors import ConfigError, CostMapError, StorageError
from ..extras import install_hint
from ..models import MpcModel, Number
from ..storage import atomic_write_text
from . import _text
from .cost_keys import litellm_cost_keys
from .prices import Price, PriceBook

__all__ = [
    "COST_MAP_FILE",
    "DEFAULT_TOLERANCE",
    "CostMap",
    "DriftReport",
    "DriftRow",
    "gateway_drift",
    "litellm_costs",
    "load_cost_map",
    "write_cost_overrides",
]

COST_MAP_FILE = "model_prices_and_context_window_backup.json"
DEFAULT_TOLERANCE = 0.05
OVERRIDES_VERSION = 1

DriftStatus = Literal["agree", "drift", "missing", "unit_mismatch", "unsupported_unit"]
_STATUS_ORDER = ("drift", "unit_mismatch", "missing", "unsupported_unit", "agree")


@dataclass(frozen=True)
class CostMap:
    """LiteLLM's cost map: `key -> model_info`, and which file and version it came from."""

    entries: dict[str, dict[str, Any]]
    path: Path
    version: str | None = None

    def lookup(self, price: Price) -> tuple[str, dict[str, Any] | None, list[str]]:
        """(the key LiteLLM uses, its entry or None, the keys tried) for one model."""
        if price.provider == "fal":
            tried = [f"fal_ai/{price.model_id}"]
        else:
            # No cometapi/ entries ship; an OpenAI-compatible deployment is priced by its name.
            tried = [f"{price.provider}api/{price.model_id}", price.model_id]
        for key in tried:
            entry = self.entries.get(key)
            if isinstance(entry, dict):
                return key, entry, tried
        return tried[0], None, tried


def load_cost_map(path: Path | str | None = None) -> CostMap:
    """The cost map at `path`, default the one bundled in the installed litellm package.

    litellm is located with `importlib.util.find_spec`, never imported.  Not installed
    raises ConfigError with the install hint; a file that does not parse, CostMapError.
    """
    version: str | None = None
    if path is None:
        spec = importlib.util.find_spec("litellm")
        if spec is None or not spec.submodule_search_locations:
            hint = install_hint("gateway")
            raise ConfigError(f"LiteLLM is not installed, so its cost map is not either: {hint}")
        path = Path(next(iter(spec.submodule_search_locations))) / COST_MAP_FILE
        try:
            version = importlib.metadata.version("litellm")
        except importlib.metadata.PackageNotFoundError:
            version = None
    path = Path(path)
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such cost map file") from None
    except OSError as exc:
        raise StorageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CostMapError(f"{path}: the cost map is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise CostMapError(f"{path}: the cost map is not a JSON object of models")
    entries = {key: value for key, value in document.items() if isinstance(value, dict)}
    if not entries:
        raise CostMapError(f"{path}: the cost map lists no models")
    return CostMap(entries, path, version)


def litellm_costs(price: Price) -> dict[str, float] | None:
    """The `model_info` cost fields that price a model as its provider does; None if none can.

    Each unit's own key (`cost_keys.litellm_cost_keys` without a mode): image ->
    output_cost_per_image; megapixel -> output_cost_per_pixel (LiteLLM's 1,048,576-pixel
    megapixel); second and video second -> output_cost_per_second; tokens ->
    input/output_cost_per_token.  A missing price stays out (never 0).
    """
    return litellm_cost_keys(price).keys or None


class DriftRow(MpcModel):
    """One priced model against the cost map."""

    model_config = ConfigDict(frozen=True)

    price: Price = Field(exclude=True)
    status: DriftStatus
    map_key: str
    ours: dict[str, float] = Field(default_factory=dict)
    theirs: dict[str, Any] = Field(default_factory=dict)

    @computed_field
    @property
    def model(self) -> str:
        """The model's `provider:model_id`."""
        return self.price.key

    @computed_field
    @property
    def unit(self) -> str | None:
        """The model's (normalised) unit."""
        return self.price.unit

    @computed_field
    @property
    def unit_price(self) -> float | None:
        """The provider's price per unit."""
        return self.price.unit_price

    @computed_field
    @property
    def output_unit_price(self) -> float | None:
        """The provider's output price (per 1M output tokens), if any."""
        return self.price.output_unit_price

    def pct(self) -> dict[str, float | None]:
        """Per compared field: how far the map is from the provider's price, in percent."""
        result: dict[str, float | None] = {}
        for name, ours in self.ours.items():
            theirs = self.theirs.get(name)
            if not isinstance(theirs, int | float) or isinstance(theirs, bool):
                result[name] = None
            elif ours == 0:
                result[name] = 0.0 if theirs == 0 else None
            else:
                result[name] = (theirs - ours) / ours * 100.0
        return result

    @computed_field(alias="pct")
    @property
    def percent_off(self) -> dict[str, float | None]:
        """`pct()`, as the JSON's `pct`."""
        return self.pct()

    @computed_field
    @property
    def stale(self) -> bool:
        """Whether the price is kept from an earlier sync."""
        return self.price.stale

    @property
    def worst_pct(self) -> float | None:
        """The compared field furthest off, signed."""
        values = [value for value in self.pct().values() if value is not None]
        return max(values, key=abs) if values else None

    @property
    def needs_override(self) -> bool:
        """Whether the gateway needs our prices for this model."""
        return self.status in ("drift", "missing", "unit_mismatch") and bool(self.ours)


class DriftReport(MpcModel):
    """Every priced model's standing against the cost map (`mpc pricing drift`).

    Its JSON (`--json`) gives the counts, every row that does not agree, and the file.
    """

    model_config = ConfigDict(frozen=True)

    tolerance: Number
    cost_map: InstanceOf[CostMap]
    rows: tuple[DriftRow, ...] = Field(exclude=True)
    book: PriceBook = Field(exclude=True)
    overrides_path: Path | None = None

    def with_overrides_path(self, path: Path) -> DriftReport:
        """The same report, saying where its overrides were written."""
        return self.model_copy(update={"overrides_path": path})

    @field_serializer("cost_map")
    def _file_and_version(self, cost_map: CostMap) -> dict[str, str | None]:
        return {"file": str(cost_map.path), "litellm_version": cost_map.version}

    def counts(self) -> dict[str, int]:
        """Models per status."""
        counts = {status: 0 for status in _STATUS_ORDER}
        for row in self.rows:
            counts[row.status] += 1
        return counts

    @computed_field(alias="counts")
    @property
    def per_status(self) -> dict[str, int]:
        """`counts()`, as the JSON's `counts`."""
        return self.counts()

    def of(self, status: str) -> list[DriftRow]:
        """Rows with one status (drift rows furthest off first)."""
        rows = [row for row in self.rows if row.status == status]
        if status == "drift":
            rows.sort(key=lambda row: -abs(row.worst_pct or 0.0))
        return rows

    @computed_field
    @property
    def drift(self) -> list[DriftRow]:
        """The rows beyond the tolerance, furthest off first."""
        return self.of("drift")

    @computed_field
    @property
    def unit_mismatch(self) -> list[DriftRow]:
        """The rows the map prices in another unit."""
        return self.of("unit_mismatch")

    @computed_field
    @property
    def missing(self) -> list[str]:
        """The models the map lacks."""
        return [row.price.key for row in self.of("missing")]

    @computed_field
    @property
    def unsupported_unit(self) -> list[dict[str, str | None]]:
        """The models priced in a unit LiteLLM has no cost field for, with that unit."""
        return [
            {"model": row.price.key, "unit": row.price.unit} for row in self.of("unsupported_unit")
        ]

    @computed_field
    @property
    def unpriced(self) -> list[str]:
        """The models without a price (not compared)."""
        return [price.key for price in self.book.unpriced]

    def overrides(self) -> dict[str, dict[str, Any]]:
        """`provider:model_id -> override entry` for every model the gateway misprices."""
        found: dict[str, dict[str, Any]] = {}
        for row in sorted(self.rows, key=lambda row: row.price.key):
            if row.needs_override:
                found[row.price.key] = {
                    "provider": row.price.provider,
                    "model_id": row.price.model_id,
                    "cost_map_key": row.map_key,
                    "reason": row.status,
                    "model_info": dict(row.ours),
                }
        return found

    @computed_field(alias="overrides")
    @property
    def override_count(self) -> int:
        """How many models the overrides file prices."""
        return len(self.overrides())

    @computed_field
    @property
    def prices(self) -> dict[str, Any]:
        """Where the registry's prices came from."""
        return self.book.sources_json()

    def overrides_document(self, moment: datetime | None = None) -> dict[str, Any]:
        """The whole overrides file as data (see `write_cost_overrides`)."""
        moment = moment or datetime.now(UTC)
        return {
            "version": OVERRIDES_VERSION,
            "generated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "generated_by": "mpc pricing drift",
            "registry": str(self.book.path) if self.book.path else None,
            "registry_generated_at": self.book.generated_at,
            "prices": {name: source.label for name, source in self.book.sources.items()},
            "cost_map": {"file": str(self.cost_map.path), "litellm_version": self.cost_map.version},
            "tolerance": self.tolerance,
            "overrides": self.overrides(),
        }

    def summary(self, limit: int = 25) -> str:
        """Counts, the drifting models furthest off first, what is missing, where overrides went."""
        counts = self.counts()
        out = [
            f"LiteLLM {self.cost_map.version or '?'} cost map "
            f"({len(self.cost_map.entries)} entries) against {sum(counts.values())} priced "
            f"models, tolerance {self.tolerance:.0%}",
            ", ".join(f"{status}: {counts[status]}" for status in _STATUS_ORDER),
        ]
        rows = [
            (row.price.key, row.map_key, _fields(row.ours), _fields(row.theirs, row.ours),
             _text.pct(row.worst_pct))
            for row in self.of("drift") + self.of("unit_mismatch")
        ]  # fmt: skip
        if rows:
            out.append(
                _text.table(
                    ("model", "map key", "provider price", "map price", "off by"), rows, limit=limit
                )
            )
        missing = self.of("missing")
        if missing:
            by_provider: dict[str, int] = {}
            for row in missing:
                by_provider[row.price.provider] = by_provider.get(row.price.provider, 0) + 1
            out.append(
                "missing from the map (LiteLLM would log $0): "
                + ", ".join(f"{name} {n}" for name, n in sorted(by_provider.items()))
                + f", e.g. {', '.join(row.price.key for row in missing[:3])}"
            )
        unsupported = self.of("unsupported_unit")
        if unsupported:
            units = sorted({str(row.price.unit) for row in unsupported})
            out.append(
                f"no LiteLLM cost field for {len(unsupported)} model(s) priced per "
                + ", ".join(repr(unit) for unit in units[:8])
                + (" ..." if len(units) > 8 else "")
            )
        if self.book.unpriced:
            out.append(f"no price, not compared: {len(self.book.unpriced)} model(s)")
        if self.overrides_path is not None:
            out.append(f"overrides for {len(self.overrides())} model(s): {self.overrides_path}")
        out.append(self.book.banner())
        return "\n".join(out)


_SHORT = {
    "input_cost_per_token": "in/token",
    "output_cost_per_token": "out/token",
    "output_cost_per_image": "/image",
    "output_cost_per_pixel": "/pixel",
    "output_cost_per_second": "/second",
}


def _fields(values: dict[str, Any], only: dict[str, Any] | None = None) -> str:
    """`in/token 2.5e-06, out/token 1e-05`: the compared fields (or, if none, what the map has)."""
    names = list(only) if only is not None else list(values)
    shown = [(name, values[name]) for name in names if name in values]
    if not shown:
        shown = [(k, v) for k, v in values.items() if "cost" in k][:2]
    return (
        ", ".join(f"{_SHORT.get(name, name)} {_text.price(value)}" for name, value in shown) or "-"
    )


def _compare(price: Price, cost_map: CostMap, tolerance: float) -> DriftRow:
    key, entry, _ = cost_map.lookup(price)
    ours = litellm_costs(price)
    if ours is None:
        return DriftRow(price=price, status="unsupported_unit", map_key=key)
    if entry is None:
        return DriftRow(price=price, status="missing", map_key=key, ours=ours)
    theirs = {name: entry[name] for name in ours if name in entry}
    if len(theirs) < len(ours):
        costs = {name: value for name, value in entry.items() if "cost" in name}
        return DriftRow(
            price=price, status="unit_mismatch", map_key=key, ours=ours, theirs={**costs, **theirs}
        )
    row = DriftRow(price=price, status="agree", map_key=key, ours=ours, theirs=theirs)
    off = [pct for pct in row.pct().values()]
    if any(pct is None or abs(pct) > tolerance * 100.0 + 1e-9 for pct in off):
        return DriftRow(price=price, status="drift", map_key=key, ours=ours, theirs=theirs)
    return row


def gateway_drift(
    book: PriceBook, *, tolerance: float = DEFAULT_TOLERANCE, cost_map: CostMap | None = None
) -> DriftReport:
    """Compare every priced model with the cost map; `tolerance` is relative (0.05 = 5%)."""
    if not 0 <= tolerance < 10:
        raise ConfigError(f"tolerance {tolerance!r}: expected a fraction such as 0.05 (5%)")
    cost_map = cost_map or load_cost_map()
    rows = tuple(_compare(price, cost_map, tolerance) for price in book.priced)
    return DriftReport(tolerance=tolerance, cost_map=cost_map, rows=rows, book=book)


_HEADER = """\
# LiteLLM model_info cost overrides, written by `mpc pricing drift`.
# Each entry under `overrides` is keyed `provider:model_id` (as in the registry): merge its
# `model_info` into that deployment's `model_info`, so the gateway's spend logs price the
# model as the provider does.  Only models the cost map misprices (reason: drift,
# unit_mismatch) or lacks (missing) are listed; an unpriced model never gets a 0.
"""


def write_cost_overrides(
    report: DriftReport, path: Path, *, moment: datetime | None = None
) -> Path:
    """Write the overrides file atomically (YAML); returns the path."""
    import yaml  # only when writing: keeps `import mpc_lib` light

    document = report.overrides_document(moment)
    # libyaml's emitter when pyyaml has it: ~3x faster for a thousand overrides.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    body = yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
    text = _HEADER + body
    try:
        atomic_write_text(Path(path), text)
    except OSError as exc:
        raise StorageError(
            f"{exc.filename or path}: cannot write the overrides: {exc.strerror}"
        ) from exc
    return Path(path)
