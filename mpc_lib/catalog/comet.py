"""Comet API client: the OpenAI-compatible model list and the public pricing catalog.

`GET {base}/v1/models` (Bearer key) says which models the key can call;
`GET {base}/api/models` (public) carries names, types and prices.  A registry
record joins the two on the model id (or the catalog's `code`).

Nothing published guarantees each entry's types, so both lists are read entry by
entry, by the rule FAL's lists follow too (`models.parse_items`): a field that fails
validation is dropped, an entry without an id is skipped, and each problem lands in
`CometClient.warnings`; the rest of the catalog is used.
"""

from __future__ import annotations

import logging
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
    parse_items,
    parse_payload,
)

__all__ = ["COMET_CATEGORIES", "CometClient", "join_catalog", "normalise_comet"]

log = logging.getLogger("mpc_lib.catalog")

# Comet `model_type` -> FAL category, for the types whose FAL category is unambiguous.
# `category` keeps FAL's vocabulary only; every other type (image, video, audio,
# embedding, ...) leaves it None, and the type itself is always in `meta.model_type`.
#   text -> llm   (Comet's chat/completion models are what FAL files under "llm")
COMET_CATEGORIES: dict[str, str] = {"text": "llm"}
# Pages of a paging /api/models are followed at most this far past what `total` implies.
_EXTRA_PAGES = 2


class CometClient(ProviderClient):
    """Reads Comet's model list and public catalog through the shared HTTP core."""

    provider = "comet"
    scheme = "Bearer"

    def list_models(self) -> list[CometModel]:
        """`GET /v1/models`: the models this key may call (items without an id are skipped)."""
        body = self.http.get_json("/v1/models")
        listing = parse_payload(CometModelList, body, provider="comet", path="/v1/models")
        models, problems = parse_items(CometModel, listing.data, path="/v1/models")
        for problem in problems:
            self._warn(problem)
        return models

    def list_catalog(self) -> list[CometCatalogEntry]:
        """`GET /api/models`: the public catalog with prices (no auth), every page of it.

        The catalog usually comes whole (`page_size` 0); when the API pages instead
        (`page_size` > 0 and `total` above what arrived), the following pages are
        fetched.  A `total` that still disagrees with the entries received is a warning.
        """
        first = self._catalog_page(None, None)
        raw = list(first.data)
        total, size = first.total, first.page_size or 0
        if size > 0 and total is not None and total > len(raw):
            number = (first.page or 1) + 1
            last = number + -(-(total - len(raw)) // size) + _EXTRA_PAGES
            while len(raw) < total and number < last:
                page = self._catalog_page(number, size)
                if not page.data:
                    break
                raw.extend(page.data)
                number += 1
        if total is not None and total != len(raw):
            self._warn(f"GET /api/models: total says {total} entries, {len(raw)} arrived")
        entries, problems = parse_items(CometCatalogEntry, raw, path="/api/models")
        for problem in problems:
            self._warn(problem)
        return entries

    def _catalog_page(self, page: int | None, page_size: int | None) -> CometCatalog:
        params: dict[str, Any] = {"page": page, "page_size": page_size}
        body = self.http.get_json("/api/models", params, auth=False)
        catalog = parse_payload(CometCatalog, body, provider="comet", path="/api/models")
        if not catalog.success:
            raise ResponseFormatError(
                "comet", "/api/models", f"success=false: {catalog.message or 'no message'}"
            )
        return catalog


def _pricing(entry: CometCatalogEntry | None) -> Pricing | None:
    """Token prices (either may be missing, never 0 for missing), else per request or second."""
    if entry is None or entry.pricing is None:
        return None
    price = entry.pricing
    currency = (price.currency or "USD").split("/")[0].strip() or "USD"
    if price.input is not None or price.output is not None:
        return Pricing(
            unit_price=price.input,
            unit="1M tokens",
            currency=currency,
            output_unit_price=price.output,
        )
    if price.per_request is not None:
        return Pricing(unit_price=price.per_request, unit="request", currency=currency)
    if price.per_second is not None:
        return Pricing(unit_price=price.per_second, unit="second", currency=currency)
    return None


def normalise_comet(model: CometModel, entry: CometCatalogEntry | None) -> ModelRecord:
    """One Comet model (and its catalog entry, if any) as a registry record.

    `created` is a placeholder constant in real data, so it is kept in `meta.created`
    and never shown as `updated_at`; Comet's type is `meta.model_type`, and `category`
    comes only from `COMET_CATEGORIES`.
    """
    meta: dict[str, Any] = {}
    if model.supported_endpoint_types:
        meta["supported_endpoint_types"] = model.supported_endpoint_types
    if model.created is not None:
        meta["created"] = model.created
    if entry is not None:
        for name in (
            "provider",
            "model_type",
            "features",
            "context_length",
            "max_completion_tokens",
            "code",
        ):
            value = getattr(entry, name)
            if value:
                meta[name] = value
    model_type = entry.model_type if entry else None
    return ModelRecord(
        provider="comet",
        model_id=model.id,
        display_name=(entry.name if entry and entry.name else model.id),
        category=COMET_CATEGORIES.get(model_type) if model_type else None,
        description=entry.description if entry else None,
        status="upcoming" if entry is not None and entry.upcoming else "active",
        owned_by=model.owned_by,
        updated_at=None,
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
