"""The model catalog: provider clients, the registry record, and the sync that joins them."""

from .comet import CometClient, join_catalog, normalise_comet
from .endpoints import EndpointSource, ProviderEndpoint, provider_endpoints
from .fal import FAL_PAGE_LIMIT, FAL_PRICING_BATCH, FalClient, normalise_fal
from .models import ModelRecord, Pricing
from .sync import ProgressCallback, SyncReport, sync_catalog

__all__ = [
    "FAL_PAGE_LIMIT",
    "FAL_PRICING_BATCH",
    "CometClient",
    "EndpointSource",
    "FalClient",
    "ModelRecord",
    "Pricing",
    "ProgressCallback",
    "ProviderEndpoint",
    "SyncReport",
    "join_catalog",
    "normalise_comet",
    "normalise_fal",
    "provider_endpoints",
    "sync_catalog",
]
