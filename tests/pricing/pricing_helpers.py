"""Hand-written registry records and registries for the pricing tests (imported by them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def record(
    provider: str,
    model_id: str,
    unit: str | None = None,
    price: float | None = None,
    *,
    output: float | None = None,
    currency: str = "USD",
    category: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A registry record; `unit=None` makes it unpriced."""
    pricing = None
    if unit is not None:
        pricing = {
            "unit_price": price,
            "unit": unit,
            "currency": currency,
            "output_unit_price": output,
        }
    return {
        "provider": provider,
        "model_id": model_id,
        "display_name": model_id,
        "category": category,
        "description": None,
        "status": "active",
        "owned_by": None,
        "updated_at": None,
        "pricing": pricing,
        "stale": extra.pop("stale", False),
        "meta": extra.pop("meta", {}),
    }


def sources(
    source: str = "live", prices: str = "live API", data: str = "live", at: datetime = T0
) -> dict[str, Any]:
    """`sources` for both providers, as sync_catalog writes them."""
    entry = {
        "source": source,
        "data": data,
        "prices": prices,
        "status": "ok",
        "fetched_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    return {"fal": dict(entry), "comet": dict(entry)}


def registry(models: Sequence[dict[str, Any]], **source_kw: Any) -> dict[str, Any]:
    """A registry dict around `models`."""
    at = source_kw.get("at", T0)
    counts: dict[str, int] = {}
    for model in models:
        counts[model["provider"]] = counts.get(model["provider"], 0) + 1
    return {
        "generated_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "sources": sources(**source_kw),
        "counts": counts,
        "models": sorted(models, key=lambda m: (m["provider"], m["model_id"])),
    }
