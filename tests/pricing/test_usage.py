"""`pricing.usage.fal_charge`: a FAL call's units and cost as FAL bills them, never guessed."""

from __future__ import annotations

from typing import Any

import pytest

from mpc_lib.pricing import FAL_PIXELS_PER_MEGAPIXEL, fal_charge
from mpc_lib.pricing.prices import price_of


def _price(unit: str | None, rate: float | None, currency: str = "USD") -> Any:
    pricing = {"unit": unit, "unit_price": rate, "currency": currency} if unit else None
    return price_of({"provider": "fal", "model_id": "fal-ai/x", "pricing": pricing}, None)


def _images(*sizes: tuple[int, int]) -> dict[str, Any]:
    return {"images": [{"url": f"u{i}", "width": w, "height": h} for i, (w, h) in enumerate(sizes)]}


@pytest.mark.parametrize(
    ("unit", "given", "result", "units"),
    [
        ("image", {}, _images((1024, 768), (1024, 768)), 2),
        ("images", {}, {"image": {"url": "u", "width": 1, "height": 1}}, 1),  # Bria's one image
        ("megapixels", {}, _images((1024, 1024)), 1),  # exactly 2**20 pixels
        ("megapixels", {}, _images((1025, 1024), (512, 512)), 3),  # whole megapixels per image
        ("second", {"duration": "5"}, {"video": {"url": "v"}}, 5),
        ("seconds", {"duration": 10}, {"video": {"url": "v"}}, 10),
        # the result's own duration first
        ("second", {"duration": "6s"}, {"video": {"url": "v", "duration": 8.5}}, 8.5),
    ],
)
def test_units_are_counted_as_fal_bills_them(
    unit: str, given: dict[str, Any], result: dict[str, Any], units: float
) -> None:
    charge = fal_charge(_price(unit, 0.04), given, result)
    assert charge.units == units and charge.unpriced is None
    assert charge.cost_usd == pytest.approx(0.04 * units)
    assert float(charge.header or "nan") == pytest.approx(0.04 * units)
    assert FAL_PIXELS_PER_MEGAPIXEL == 2**20


@pytest.mark.parametrize(
    ("price", "given", "result", "why"),
    [
        (_price(None, None), {}, _images((8, 8)), "no price in the registry"),
        (_price("image", 0.1, "EUR"), {}, _images((8, 8)), "priced in EUR, not USD"),
        (_price("megapixels", 0.1), {}, {"images": [{"url": "u"}]}, "width and height"),
        (_price("image", 0.1), {}, {"images": []}, "holds no image"),
        (_price("second", 0.1), {"duration": "auto"}, {"video": {"url": "v"}}, "seconds unknown"),
        (_price("second", 0.1), {"duration": float("nan")}, {"video": {}}, "seconds unknown"),
        (_price("GPU seconds", 0.1), {}, _images((8, 8)), "'compute second'"),
    ],
)
def test_a_cost_that_cannot_be_known_is_none_with_the_reason(
    price: Any, given: dict[str, Any], result: dict[str, Any], why: str
) -> None:
    charge = fal_charge(price, given, result)
    assert charge.cost_usd is None and charge.header is None
    assert charge.unpriced is not None and why in charge.unpriced
