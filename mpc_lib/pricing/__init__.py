"""Pricing analysis over the registry: job-mix estimates, cheapest models, history, drift.

`prices` normalises every registry price (basis, unit, source); `mix` reads job mixes;
`estimate` prices them and asks FAL's estimate endpoint to agree; `cheapest` ranks
like units within a category; `history` reads the registry's snapshots lazily;
`drift` compares prices with LiteLLM's bundled cost map and writes overrides;
`cost_keys` turns a price into the LiteLLM cost keys that charge it; `usage` charges each
model call at the registry price, logs it, and sums the spend.
"""

from .cheapest import DEFAULT_TOP, CategoryRanking, CheapestReport, UnitGroup, cheapest_models
from .cost_keys import FAL_PIXELS_PER_MEGAPIXEL, CostKeys, litellm_cost_keys
from .drift import (
    DEFAULT_TOLERANCE,
    CostMap,
    DriftReport,
    DriftRow,
    gateway_drift,
    litellm_costs,
    load_cost_map,
    write_cost_overrides,
)
from .estimate import (
    Estimate,
    EstimateLine,
    check_with_fal,
    estimate_job_mix,
    estimate_lines,
)
from .fal_check import AGREEMENT_TOLERANCE, ApiCheck, EndpointCheck, fal_estimator
from .history import (
    PriceChange,
    PriceChanges,
    PriceHistory,
    PricePoint,
    price_changes,
    price_history,
)
from .mix import JobMix, MixLine, example_job_mix, load_job_mix
from .prices import (
    TOKENS_PER_PRICE_UNIT,
    Basis,
    Price,
    PriceBook,
    PriceSource,
    Unit,
    load_price_book,
    normalise_unit,
)
from .snapshots import Snapshot, registry_snapshots
from .usage import (
    Charge,
    ModelSpend,
    Spend,
    UsageLine,
    fal_charge,
    parse_since,
    read_usage,
    record_usage,
    spend_by_model,
)

__all__ = [
    "AGREEMENT_TOLERANCE",
    "DEFAULT_TOLERANCE",
    "DEFAULT_TOP",
    "FAL_PIXELS_PER_MEGAPIXEL",
    "TOKENS_PER_PRICE_UNIT",
    "ApiCheck",
    "Basis",
    "CategoryRanking",
    "Charge",
    "CheapestReport",
    "CostKeys",
    "CostMap",
    "DriftReport",
    "DriftRow",
    "EndpointCheck",
    "Estimate",
    "EstimateLine",
    "JobMix",
    "MixLine",
    "ModelSpend",
    "Price",
    "PriceBook",
    "PriceChange",
    "PriceChanges",
    "PriceHistory",
    "PricePoint",
    "PriceSource",
    "Snapshot",
    "Spend",
    "Unit",
    "UnitGroup",
    "UsageLine",
    "cheapest_models",
    "check_with_fal",
    "estimate_job_mix",
    "estimate_lines",
    "example_job_mix",
    "fal_charge",
    "fal_estimator",
    "gateway_drift",
    "litellm_cost_keys",
    "litellm_costs",
    "load_cost_map",
    "load_job_mix",
    "load_price_book",
    "normalise_unit",
    "parse_since",
    "price_changes",
    "price_history",
    "read_usage",
    "record_usage",
    "registry_snapshots",
    "spend_by_model",
    "write_cost_overrides",
]
