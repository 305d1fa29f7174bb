"""The model catalog: provider clients, the registry record, and the sync that joins them."""

from .comet import CometClient, join_catalog, normalise_comet
from .fal import FAL_PAGE_LIMIT, FAL_PRICING_BATCH, FalClient, normalise_fal
from .models import ModelRecord, Pricing
from .sync import ProgressCallback, SyncReport, sync_catalog

__all__ = [
    "FAL_PAGE_LIMIT",
    "FAL_PRICING_BATCH",
    "CometClient",
    "FalClient",
    "ModelRecord",
    "Pricing",
    "ProgressCallback",
    "SyncReport",
    "join_catalog",
    "normalise_comet",
    "normalise_fal",
    "sync_catalog",
]
