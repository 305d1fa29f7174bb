"""One normalised price per model: basis, unit, prices, and where the prices came from.

Providers name their billing units freely (FAL: `image`, `megapixels`, `processed
megapixels`, `video_second`, GPU seconds, ...; Comet: per 1M input/output tokens, per
request, per second).  `normalise_unit` maps the spellings we know onto one name per
unit and keeps any other string verbatim, flagged `known=False`: never dropped, never
guessed.  A price the registry lacks stays None; a model without one is still listed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, computed_field, model_validator

from ..catalog import sync_catalog
from ..config import Settings
from ..errors import ConfigError
from ..models import MpcModel
from ..providers import PROVIDERS
from ..registry import RegistryStore, load_registry
from ..upstreams import SourceKind, Upstreams, recorded_kind

__all__ = [
    "INPUT_TOKENS",
    "OUTPUT_TOKENS",
    "TOKENS_PER_PRICE_UNIT",
    "Basis",
    "Price",
    "PriceBook",
    "PriceSource",
    "Unit",
    "effective_category",
    "load_price_book",
    "normalise_unit",
    "price_of",
    "price_sources",
    "source_notes",
    "sources_banner",
]

Basis = Literal["per_unit", "per_token"]

# Token prices are per million tokens, the way Comet (and most LLM catalogs) quote them.
TOKENS_PER_PRICE_UNIT = 1_000_000

# Canonical unit -> (basis, spellings).  Spellings are compared after `_fold`.
_UNITS: dict[str, tuple[Basis, tuple[str, ...]]] = {
    "image": ("per_unit", ("image", "images", "img", "output image", "generated image")),
    "megapixel": ("per_unit", ("megapixel", "megapixels", "mp", "mpx", "output megapixel")),
    "processed megapixel": (
        "per_unit",
        ("processed megapixel", "processed megapixels", "input megapixel"),
    ),
    "second": ("per_unit", ("second", "seconds", "sec", "secs", "s")),
    "video second": (
        "per_unit",
        ("video second", "video seconds", "video sec", "second of video", "seconds of video"),
    ),
    "audio second": ("per_unit", ("audio second", "audio seconds")),
    "compute second": (
        "per_unit",
        ("gpu second", "gpu seconds", "compute second", "compute seconds", "machine second"),
    ),
    "minute": ("per_unit", ("minute", "minutes", "min", "mins")),
    "audio minute": ("per_unit", ("audio minute", "audio minutes")),
    "video": ("per_unit", ("video", "videos", "output video", "generated video")),
    "request": ("per_unit", ("request", "requests", "call", "calls", "api call", "run", "runs")),
    "generation": ("per_unit", ("generation", "generations")),
    "step": ("per_unit", ("step", "steps", "training step", "training steps")),
    "1K characters": (
        "per_unit",
        ("1k characters", "1000 characters", "thousand characters", "1k chars", "1k character"),
    ),
    "1M tokens": ("per_token", ("1m tokens", "million tokens", "m tokens", "1m token")),
}
# Spellings priced in a smaller amount of the canonical unit: price x factor.
_SCALED: dict[str, tuple[str, float]] = {
    "character": ("1K characters", 1_000.0),
    "characters": ("1K characters", 1_000.0),
    "char": ("1K characters", 1_000.0),
    "chars": ("1K characters", 1_000.0),
    "token": ("1M tokens", 1_000_000.0),
    "tokens": ("1M tokens", 1_000_000.0),
    "1k tokens": ("1M tokens", 1_000.0),
    "1000 tokens": ("1M tokens", 1_000.0),
    "thousand tokens": ("1M tokens", 1_000.0),
}
_LOOKUP: dict[str, tuple[str, float]] = {
    spelling: (name, 1.0) for name, (_, spellings) in _UNITS.items() for spelling in spellings
} | _SCALED
_FOLD = re.compile(r"[\s_\-/]+")

# Comet quotes tokens as input and output prices; these are its two unit names.
INPUT_TOKENS = "1M input tokens"
OUTPUT_TOKENS = "1M output tokens"


@dataclass(frozen=True)
class Unit:
    """A provider's unit string, normalised: `name` is canonical, or `raw` kept verbatim."""

    raw: str
    name: str
    basis: Basis
    known: bool
    # Multiply a price per `raw` by this to get the price per `name` (1 for most units).
    factor: float = 1.0


def _fold(text: str) -> str:
    folded = _FOLD.sub(" ", text.strip().lower()).strip()
    for prefix in ("per ", "price per ", "usd per ", "$ per "):
        folded = folded.removeprefix(prefix)
    return folded


def normalise_unit(raw: str) -> Unit:
    """The canonical unit for a provider's unit string; unknown strings stay verbatim, flagged."""
    folded = _fold(raw)
    hit = _LOOKUP.get(folded) or (_LOOKUP.get(folded[:-1]) if folded.endswith("s") else None)
    if hit is None:
        return Unit(raw=raw, name=raw, basis="per_unit", known=False)
    name, factor = hit
    return Unit(raw=raw, name=name, basis=_UNITS[name][0], known=True, factor=factor)


def _scaled(price: float | None, factor: float) -> float | None:
    """A price converted by `factor`, rounded to 12 significant digits (no 0.030000000000000002)."""
    if price is None or factor == 1.0:
        return price
    return float(f"{price * factor:.12g}")


class PriceSource(MpcModel):
    """Where one provider's prices in a registry came from, read from `sources.<provider>`.

    Its JSON adds the plain flags reports need (`kind`, `sandbox`, `synthetic`, `label`).
    """

    model_config = ConfigDict(frozen=True)

    provider: str = Field(exclude=True)
    source: str  # "live", "sandbox", "gateway" or "unknown": how the sync reached it
    prices: str  # "live API", "generated", "snapshot <path>", "synthetic prices over ..."
    fetched_at: str | None
    status: str = "ok"
    data: str | None = Field(default=None, exclude=True)  # the sandbox's data, or "gateway <url>"
    # live, sandbox or unknown: what stood behind the source (through a gateway, what it
    # reached); not given, it follows `source` as an older registry's entry does
    kind: SourceKind = "unknown"

    @model_validator(mode="before")
    @classmethod
    def _kind_from_source(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("kind") is None:
            return {**data, "kind": recorded_kind(data)}
        return data

    @computed_field
    @property
    def sandbox(self) -> bool:
        """True when the prices were served by our emulator (directly or through the gateway)."""
        return self.kind == "sandbox"

    @computed_field
    @property
    def synthetic(self) -> bool:
        """True when the prices were made up (by the generator or over a price-less snapshot)."""
        return self.prices == "generated" or self.prices.startswith("synthetic")

    @computed_field
    @property
    def label(self) -> str:
        """One phrase: `live API`, `sandbox: SYNTHETIC prices (generated), not the provider's`,
        `sandbox via gateway <url>: ...`, or for an unknown kind, a warning, never `live`."""
        via = f" via {self.data}" if self.source == "gateway" and self.data else ""
        if self.kind == "live":
            text = f"live API{via}"
        elif self.kind == "unknown":
            text = f"UNKNOWN source{via}: not known to be the provider's prices"
        elif self.synthetic:
            text = f"sandbox{via}: SYNTHETIC prices ({self.prices}), not the provider's"
        else:
            text = f"sandbox{via}: {self.prices}"
        if self.status == "stale":
            text += "; STALE: kept from an earlier sync"
        return text


class Price(MpcModel):
    """One model's normalised price; `unit` is None (and both prices None) for an unpriced model.

    `unit_price` is per `unit`; for Comet token models it is per 1M input tokens and
    `output_unit_price` per 1M output tokens.  A single FAL token rate (`1M tokens`)
    applies to every token.  `raw_unit` / `raw_unit_price` are what the provider sent.
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    model_id: str
    display_name: str
    category: str
    basis: Basis | None
    unit: str | None
    unit_price: float | None
    output_unit_price: float | None
    currency: str | None
    known_unit: bool = True
    raw_unit: str | None = None
    raw_unit_price: float | None = None
    source: str
    fetched_at: str | None
    stale: bool = False
    factor: float = Field(default=1.0, exclude=True)

    @computed_field
    @property
    def key(self) -> str:
        """`provider:model_id`, as in the registry diff."""
        return f"{self.provider}:{self.model_id}"

    @property
    def priced(self) -> bool:
        """Whether any price is known (an output-only token price counts)."""
        return self.unit_price is not None or self.output_unit_price is not None

    @computed_field
    @property
    def output_unit(self) -> str | None:
        """The unit of `output_unit_price` (Comet's 1M output tokens), else None."""
        return OUTPUT_TOKENS if self.unit == INPUT_TOKENS else None


def effective_category(record: Mapping[str, Any]) -> str:
    """The registry category, else Comet's model type (`image`, `video`, ...), else `(none)`."""
    category = record.get("category")
    if category:
        return str(category)
    model_type = (record.get("meta") or {}).get("model_type")
    return str(model_type) if model_type else "(none)"


def price_of(record: Mapping[str, Any], source: PriceSource | None) -> Price:
    """Normalise one registry record's pricing (missing prices stay None)."""
    provider = str(record["provider"])
    pricing = record.get("pricing") or None
    common: dict[str, Any] = {
        "provider": provider,
        "model_id": str(record["model_id"]),
        "display_name": str(record.get("display_name") or record["model_id"]),
        "category": effective_category(record),
        "source": source.label if source else "unknown",
        "fetched_at": source.fetched_at if source else None,
        "stale": bool(record.get("stale", False)),
    }
    if not isinstance(pricing, Mapping) or pricing.get("unit") is None:
        return Price(
            basis=None, unit=None, unit_price=None, output_unit_price=None, currency=None, **common
        )
    raw_unit = str(pricing["unit"])
    unit = normalise_unit(raw_unit)
    unit_price = _number(pricing.get("unit_price"))
    output_price = _number(pricing.get("output_unit_price"))
    name = unit.name
    if unit.basis == "per_token" and (provider == "comet" or output_price is not None):
        # Comet quotes input and output per 1M tokens; either may be missing.
        name = INPUT_TOKENS
    return Price(
        basis=unit.basis,
        unit=name,
        unit_price=_scaled(unit_price, unit.factor),
        output_unit_price=_scaled(output_price, unit.factor),
        currency=str(pricing.get("currency") or "USD"),
        raw_unit=raw_unit,
        raw_unit_price=unit_price,
        known_unit=unit.known,
        factor=unit.factor,
        **common,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def price_sources(registry: Mapping[str, Any]) -> dict[str, PriceSource]:
    """Per provider, where its prices came from (`sources.<provider>` of the registry)."""
    found: dict[str, PriceSource] = {}
    for provider, entry in (registry.get("sources") or {}).items():
        if not isinstance(entry, Mapping):
            continue
        found[str(provider)] = PriceSource(
            provider=str(provider),
            kind=recorded_kind(entry),
            source=str(entry.get("source") or "unknown"),
            prices=str(entry.get("prices") or "unknown"),
            fetched_at=entry.get("fetched_at"),
            status=str(entry.get("status") or "ok"),
            data=entry.get("data"),
        )
    return found


def source_notes(
    sources: Mapping[str, PriceSource], providers: Iterable[str] | None = None
) -> list[str]:
    """One line per provider: where its prices came from and when."""
    notes = []
    for name in list(providers) if providers is not None else list(sources):
        source = sources.get(name)
        if source is None:
            notes.append(f"{name}: no prices in this registry")
        else:
            notes.append(
                f"{name}: {source.label}, fetched {source.fetched_at or 'at an unknown time'}"
            )
    return notes


def sources_banner(
    sources: Mapping[str, PriceSource], providers: Iterable[str] | None = None
) -> str:
    """`prices: fal: sandbox: SYNTHETIC prices (generated), ... | comet: live API, ...`."""
    notes = source_notes(sources, providers)
    return "prices: " + (" | ".join(notes) if notes else "no sources recorded")


class PriceBook:
    """Every model of a registry with its normalised price, and where the prices came from."""

    def __init__(self, registry: Mapping[str, Any], path: Path | None = None) -> None:
        self.path = path
        self.generated_at: str | None = registry.get("generated_at")
        self.sources = price_sources(registry)
        self.prices: dict[str, Price] = {}
        for record in registry.get("models", []):
            price = price_of(record, self.sources.get(str(record.get("provider"))))
            self.prices[price.key] = price
        self._by_id: dict[str, list[str]] = {}
        for key, price in self.prices.items():
            self._by_id.setdefault(price.model_id, []).append(key)

    @classmethod
    def from_file(cls, path: Path) -> PriceBook:
        """A price book over a registry file (models.json or a snapshot)."""
        return cls(load_registry(path), Path(path))

    def __len__(self) -> int:
        return len(self.prices)

    def __iter__(self) -> Iterator[Price]:
        return iter(self.prices.values())

    @property
    def priced(self) -> list[Price]:
        """Models with a price."""
        return [price for price in self.prices.values() if price.priced]

    @property
    def unpriced(self) -> list[Price]:
        """Models the registry has no price for (reported, never priced at 0)."""
        return [price for price in self.prices.values() if not price.priced]

    @property
    def unknown_units(self) -> list[Price]:
        """Priced models whose unit string we do not recognise (kept verbatim)."""
        return [price for price in self.priced if not price.known_unit]

    def find(self, model: str) -> Price | None:
        """A model by `provider:model_id` or by a model id only one provider has."""
        if model in self.prices:
            return self.prices[model]
        keys = self._by_id.get(model, [])
        return self.prices[keys[0]] if len(keys) == 1 else None

    def resolve(self, model: str, *, where: str = "") -> Price:
        """Like `find`, but an unknown or ambiguous id raises ConfigError with close matches."""
        found = self.find(model)
        if found is not None:
            return found
        prefix = f"{where}: " if where else ""
        keys = self._by_id.get(model, [])
        if len(keys) > 1:
            raise ConfigError(
                f"{prefix}model {model!r} is listed by {len(keys)} providers; "
                f"write one of {', '.join(sorted(keys))}"
            )
        hint = self.suggest(model)
        raise ConfigError(
            f"{prefix}unknown model {model!r}"
            + (f"; did you mean {', '.join(hint)}?" if hint else "; no similar model id")
        )

    def suggest(self, model: str, n: int = 3) -> list[str]:
        """Close matches among model ids and keys (difflib)."""
        provider, qualified, rest = model.partition(":")
        needle = rest if qualified and provider in PROVIDERS else model
        return difflib.get_close_matches(needle, list(self._by_id), n=n, cutoff=0.6)

    def source_notes(self, providers: Iterable[str] | None = None) -> list[str]:
        """One line per provider: where its prices came from and when."""
        return source_notes(self.sources, providers)

    def banner(self, providers: Iterable[str] | None = None) -> str:
        """`prices: fal: sandbox: SYNTHETIC prices (generated), ... | comet: live API, ...`."""
        return sources_banner(self.sources, providers)

    def sources_json(self) -> dict[str, Any]:
        """The sources as JSON, for every report's `prices` field."""
        return {name: source.model_dump(mode="json") for name, source in self.sources.items()}


def load_price_book(settings: Settings, *, sync_with: Upstreams | None = None) -> PriceBook:
    """The price book of `<outputs>/registry/models.json`.

    Given `sync_with`, a workbook that has never synced runs `sync_catalog` over those
    upstreams first, so a fresh clone can price a job mix.
    """
    store = RegistryStore(settings.outputs_dir)
    if sync_with is not None and not store.path.exists():
        sync_catalog(settings, sync_with)
    registry = store.require()
    return PriceBook(registry, store.path)
