"""What the emulators serve: raw FAL and Comet catalog items, generated or from a snapshot."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from . import _comet_synth, _synth

__all__ = ["DEFAULT_SEED", "KNOWN_MODELS", "PriceOrigin", "SandboxData", "clone_json"]

PriceOrigin = Literal["generated", "snapshot", "synthetic"]

DEFAULT_SEED = 2025
# provider -> {real model id: its FAL category or Comet model type}: well-known models the
# generated catalog always serves, priced, under their real ids (public facts).
KNOWN_MODELS: dict[str, dict[str, str]] = {
    "fal": {i: category for category, ids in _synth.KNOWN_FAL_MODELS.items() for i in ids},
    "comet": dict(_comet_synth.KNOWN_COMET_MODELS),
}
_FAL_META_EXTRAS = (
    "license_type",
    "kind",
    "group",
    "github_url",
    "thumbnail_animated_url",
    "duration_estimate",
    "stream_url",
    "training_endpoint_ids",
    "inference_endpoint_ids",
    "highlighted",
    "pinned",
)
_FALLBACK_TIME = "2025-01-01T00:00:00.000Z"
_FALLBACK_CREATED = 1626777600


def clone_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data, several times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone_json(v) for v in value]
    return value


_COLLECTIONS = ("fal_models", "fal_prices", "comet_models", "comet_catalog")


@dataclass
class SandboxData:
    """Raw provider items: FAL /models + prices, Comet /v1/models + the /api/models catalog.

    `price_origin` says per provider where the prices came from: "generated" (our
    generator), "snapshot" (a registry snapshot that carried them) or "synthetic"
    (made up by the loader over a snapshot that carried none).
    """

    fal_models: list[dict[str, Any]] = field(default_factory=list)
    fal_prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    comet_models: list[dict[str, Any]] = field(default_factory=list)
    comet_catalog: list[dict[str, Any]] = field(default_factory=list)
    price_origin: dict[str, PriceOrigin] = field(default_factory=dict)

    def copy(self) -> SandboxData:
        """A deep copy, so the emulators can be mutated and restored."""
        return SandboxData(**{f.name: clone_json(getattr(self, f.name)) for f in fields(self)})

    def restore(self, other: SandboxData) -> None:
        """Replace this object's contents in place with a deep copy of `other`'s."""
        for f in fields(self):
            setattr(self, f.name, clone_json(getattr(other, f.name)))

    @classmethod
    def generate(cls, seed: int = DEFAULT_SEED) -> SandboxData:
        """Synthetic catalogs shaped like the real ones; the same seed gives the same data."""
        rng = random.Random(seed)
        fal_models, fal_prices = _synth.generate_fal(rng)
        comet_models, comet_catalog = _comet_synth.generate_comet(rng)
        origin: dict[str, PriceOrigin] = {"fal": "generated", "comet": "generated"}
        return cls(fal_models, fal_prices, comet_models, comet_catalog, origin)

    @classmethod
    def from_snapshot(cls, path: Path | str) -> SandboxData:
        """Load a raw registry snapshot (JSON list) or our registry file ({"models": [...]})."""
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot read sandbox snapshot ({exc.strerror or exc})"
            ) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: sandbox snapshot is not UTF-8 text ({exc.reason})") from exc
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise ConfigError(
                f"{path}: sandbox snapshot is not valid JSON ({where}: {exc.msg})"
            ) from exc
        if isinstance(document, list):
            return _Loader(path).raw_snapshot(document)
        if isinstance(document, dict) and isinstance(document.get("models"), list):
            return _Loader(path).registry(document["models"])
        raise ConfigError(
            f"{path}: expected a JSON list of raw registry records"
            " or an object with a 'models' list"
        )

    def counts(self) -> dict[str, int]:
        """How many items each collection holds."""
        return {name: len(getattr(self, name)) for name in _COLLECTIONS}


class _Loader:
    """Turns snapshot records into SandboxData, raising ConfigError that names file and record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = SandboxData()
        self.seen: set[tuple[str, str]] = set()

    def fail(self, index: int, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: record {index}: {what}")

    def claim(self, index: int, source: str, model_id: Any, field_name: str) -> str:
        if not isinstance(model_id, str) or not model_id.strip():
            raise self.fail(index, f"{field_name} must be a non-empty string, got {model_id!r}")
        if (source, model_id) in self.seen:
            raise self.fail(index, f"duplicate {source} id {model_id!r}")
        self.seen.add((source, model_id))
        return model_id

    def raw_snapshot(self, records: list[Any]) -> SandboxData:
        # Raw /models items carry no price: every price served is made up here.
        self.data.price_origin = {"fal": "synthetic", "comet": "synthetic"}
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise self.fail(index, f"expected an object, got {type(record).__name__}")
            source, raw = record.get("source"), record.get("raw")
            if source not in ("fal", "comet"):
                raise self.fail(index, f"source must be 'fal' or 'comet', got {source!r}")
            if not isinstance(raw, dict):
                raise self.fail(index, "'raw' must be an object (the provider's /models item)")
            if source == "fal":
                self._raw_fal(index, record, raw)
            else:
                self._raw_comet(index, raw)
        return self.data

    def _raw_fal(self, index: int, record: dict[str, Any], raw: dict[str, Any]) -> None:
        endpoint_id = self.claim(index, "fal", raw.get("endpoint_id"), "raw.endpoint_id")
        metadata = raw.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise self.fail(index, "raw.metadata must be an object when present")
        self.data.fal_models.append(raw)
        category = record.get("category") or (metadata or {}).get("category")
        price = _synth.synthetic_fal_price(endpoint_id, category)
        if price is not None:
            self.data.fal_prices[endpoint_id] = price

    def _raw_comet(self, index: int, raw: dict[str, Any]) -> None:
        model_id = self.claim(index, "comet", raw.get("id"), "raw.id")
        self.data.comet_models.append(raw)
        label = _comet_synth.comet_provider_label(model_id, str(raw.get("owned_by") or ""))
        entry = _comet_synth.synthetic_comet_entry(
            model_id, _comet_synth.comet_model_type(model_id), label
        )
        if entry is not None:
            self.data.comet_catalog.append(entry)

    def registry(self, records: list[Any]) -> SandboxData:
        self.data.price_origin = {"fal": "snapshot", "comet": "snapshot"}
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise self.fail(index, f"expected an object, got {type(record).__name__}")
            provider = record.get("provider")
            if provider not in ("fal", "comet"):
                raise self.fail(index, f"provider must be 'fal' or 'comet', got {provider!r}")
            meta = record.get("meta") or {}
            if not isinstance(meta, dict):
                raise self.fail(index, "meta must be an object")
            pricing = self._pricing(index, record.get("pricing"))
            if provider == "fal":
                self._registry_fal(index, record, meta, pricing)
            else:
                self._registry_comet(index, record, meta, pricing)
        return self.data

    def _pricing(self, index: int, pricing: Any) -> dict[str, Any] | None:
        if pricing is None:
            return None
        if not isinstance(pricing, dict):
            raise self.fail(index, "pricing must be an object or null")
        for key in ("unit_price", "output_unit_price"):
            value = pricing.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise self.fail(index, f"pricing.{key} must be a number >= 0, got {value!r}")
        if pricing.get("unit_price") is None and pricing.get("output_unit_price") is None:
            raise self.fail(index, "pricing needs a unit_price or an output_unit_price")
        if not isinstance(pricing.get("unit"), str) or not pricing["unit"]:
            raise self.fail(
                index, f"pricing.unit must be a non-empty string, got {pricing.get('unit')!r}"
            )
        return pricing

    def _registry_fal(
        self,
        index: int,
        record: dict[str, Any],
        meta: dict[str, Any],
        pricing: dict[str, Any] | None,
    ) -> None:
        endpoint_id = self.claim(index, "fal", record.get("model_id"), "model_id")
        updated_at = record.get("updated_at") or meta.get("updated_at") or _FALLBACK_TIME
        metadata: dict[str, Any] = {
            "display_name": record.get("display_name") or endpoint_id,
            "category": record.get("category") or "",
            "description": record.get("description") or "",
            "status": record.get("status")
            if record.get("status") in ("active", "deprecated")
            else "active",
            "tags": list(meta.get("tags") or []),
            "updated_at": updated_at,
            "is_favorited": None,
            "thumbnail_url": meta.get("thumbnail_url") or "",
            "model_url": meta.get("model_url") or f"https://fal.run/{endpoint_id}",
            "date": meta.get("date") or updated_at,
            "highlighted": False,
            "pinned": False,
        }
        metadata.update({k: meta[k] for k in _FAL_META_EXTRAS if meta.get(k) is not None})
        if isinstance(metadata.get("group"), str):  # our registry keeps the key and the label
            key = metadata["group"]
            metadata["group"] = {"key": key, "label": meta.get("group_label") or key}
        self.data.fal_models.append({"endpoint_id": endpoint_id, "metadata": metadata})
        if pricing is not None and pricing.get("unit_price") is not None:
            currency = str(pricing.get("currency") or "USD")
            self.data.fal_prices[endpoint_id] = _synth.fal_price_item(
                endpoint_id, float(pricing["unit_price"]), pricing["unit"], currency
            )

    def _registry_comet(
        self,
        index: int,
        record: dict[str, Any],
        meta: dict[str, Any],
        pricing: dict[str, Any] | None,
    ) -> None:
        model_id = self.claim(index, "comet", record.get("model_id"), "model_id")
        owned_by = str(record.get("owned_by") or meta.get("owned_by") or "custom")
        created = meta.get("created")
        if not isinstance(created, int) or isinstance(created, bool):
            created = _epoch(record.get("updated_at"))
        self.data.comet_models.append(
            {
                "id": model_id,
                "object": "model",
                "created": created,
                "owned_by": owned_by,
                "supported_endpoint_types": list(meta.get("supported_endpoint_types") or []),
            }
        )
        if pricing is None:
            return
        # Comet's type is meta.model_type (older registries put it in category).
        stated = meta.get("model_type") or record.get("category")
        model_type = (
            stated
            if stated in _comet_synth.COMET_MODEL_TYPES
            else _comet_synth.comet_model_type(model_id)
        )
        provider = str(
            meta.get("provider") or _comet_synth.comet_provider_label(model_id, owned_by)
        )
        entry = _comet_synth.comet_catalog_entry(
            model_id, model_type, provider, _synth.stable_rng("comet", model_id)
        )
        entry.update(
            {
                k: meta[k]
                for k in ("code", "name", "features", "context_length", "max_completion_tokens")
                if k in meta
            }
        )
        if record.get("display_name"):
            entry["name"] = record["display_name"]
        if record.get("description"):
            entry["description"] = record["description"]
        entry["pricing"] = _comet_pricing(pricing)
        if record.get("status") == "upcoming":
            entry["upcoming"] = True
        self.data.comet_catalog.append(entry)


def _comet_pricing(pricing: dict[str, Any]) -> dict[str, Any]:
    """Registry pricing back to Comet's shape: tokens -> input/output, seconds, else per request."""
    unit = str(pricing["unit"]).lower()
    price = None if pricing.get("unit_price") is None else float(pricing["unit_price"])
    out: dict[str, Any] = {
        "currency": "USD / M Tokens",
        "input": None,
        "output": None,
        "per_request": None,
        "per_second": None,
    }
    if "token" in unit:
        out["input"] = price
        output = pricing.get("output_unit_price")
        out["output"] = float(output) if output is not None else None
    elif "second" in unit:
        out["per_second"] = price
    else:
        out["per_request"] = price
    return out


def _epoch(stamp: Any) -> int:
    if isinstance(stamp, str) and stamp:
        try:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return _FALLBACK_CREATED
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())
    return _FALLBACK_CREATED
