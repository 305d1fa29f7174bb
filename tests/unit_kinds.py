"""The registry's unit kinds as the gateway meets them: one servable, priced model per
(provider, LiteLLM mode, unit), which the session gateway serves and the cost test calls."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mpc_lib.gateway.selection import serving
from mpc_lib.pricing.prices import price_of

UnitKind = tuple[str, str, str]  # (provider, LiteLLM mode, normalised unit)


def unit_kinds(models: Iterable[Mapping[str, Any]]) -> dict[UnitKind, str]:
    """The first model (in id order) of each unit kind that the gateway can deploy (a FAL
    model only where LiteLLM reaches its own endpoint), as `provider:model_id`."""
    found: dict[UnitKind, str] = {}
    for record in sorted(models, key=lambda m: (m["provider"], m["model_id"])):
        mode, price = serving(record).mode, price_of(record, None)
        if mode is not None and price.priced and price.unit is not None:
            key = f"{record['provider']}:{record['model_id']}"
            found.setdefault((str(record["provider"]), mode, price.unit), key)
    return found
