"""Comet API client: the OpenAI-compatible model list and the public pricing catalog.

`GET {base}/v1/models` (Bearer key) says which models the key can call;
`GET {base}/api/models` (public) carries names, types and prices.  A registry
record joins the two on the model id (or the catalog's `code`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import ResponseFormatError
from ..http import ProviderClient
from .models import (
    CometCatalog,
    CometCatalogEntry,
    CometModel,
    CometModelList,
    ModelRecord,
    Pricing,
    parse_payload,
)

__all__ = ["CometClient", "join_catalog", "normalise_comet"]


class CometClient(ProviderClient):
    """Reads Comet's model list and public catalog through the shared HTTP core."""

    provider = "comet"
    scheme = "Bearer"

    def list_models(self) -> list[CometModel]:
        """`GET /v1/models`: the models this key may call."""
        body = self.http.get_json("/v1/models")
        return parse_payload(CometModelList, body, provider="comet", path="/v1/models").data

    def list_catalog(self) -> list[CometCatalogEntry]:
        """`GET /api/models`: the public catalog with prices (no auth)."""
        body = self.http.get_json("/api/models", auth=False)
        catalog = parse_payload(CometCatalog, body, provider="comet", path="/api/models")
        if not catalog.success:
            raise ResponseFormatError(
                "comet", "/api/models", f"success=false: {catalog.message or 'no message'}"
            )
        return catalog.data


def _pricing(entry: CometCatalogEntry | None) -> Pricing | None:
    if entry is None or entry.pricing is None:
        return None
    price = entry.pricing
    currency = (price.currency or "USD").split("/")[0].strip() or "USD"
    if price.input is not None or price.output is not None:
        return Pricing(
            unit_price=price.input if price.input is not None else 0.0,
            unit="1M tokens",
            currency=currency,
            output_unit_price=price.output,
        )
    if price.per_request is not None:
        return Pricing(unit_price=price.per_request, unit="request", currency=currency)
    if price.per_second is not None:
        return Pricing(unit_price=price.per_second, unit="second", currency=currency)
    return None


def _iso(created: int | None) -> str | None:
    if created is None:
        return None
    return datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_comet(model: CometModel, entry: CometCatalogEntry | None) -> ModelRecord:
    """One Comet model (and its catalog entry, if any) as a registry record."""
    meta: dict[str, Any] = {}
    if model.supported_endpoint_types:
        meta["supported_endpoint_types"] = model.supported_endpoint_types
    if entry is not None:
        for name in ("provider", "features", "context_length", "max_completion_tokens", "code"):
            value = getattr(entry, name)
            if value:
                meta[name] = value
    return ModelRecord(
        provider="comet",
        model_id=model.id,
        display_name=(entry.name if entry and entry.name else model.id),
        category=entry.model_type if entry else None,
        description=entry.description if entry else None,
        status="upcoming" if entry is not None and entry.upcoming else "active",
        owned_by=model.owned_by,
        updated_at=_iso(model.created),
        pricing=_pricing(entry),
        meta=meta,
    )


def join_catalog(models: list[CometModel], catalog: list[CometCatalogEntry]) -> list[ModelRecord]:
    """Records for every listed model, priced from the catalog entry with the same id or code."""
    by_id: dict[str, CometCatalogEntry] = {}
    for entry in catalog:
        by_id.setdefault(entry.id, entry)
        if entry.code:
            by_id.setdefault(entry.code, entry)
    return [normalise_comet(model, by_id.get(model.id)) for model in models]
