"""Unit normalisation and the normalised price of a registry record (pure, no network)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pricing_helpers import record, registry

from mpc_lib.errors import ConfigError
from mpc_lib.pricing import PriceBook, normalise_unit
from mpc_lib.pricing.prices import price_of, price_sources
from mpc_lib.pricing.views import prices_banner
from mpc_lib.sandbox import SandboxData


@pytest.mark.parametrize(
    ("raw", "name", "basis", "factor"),
    [
        ("image", "image", "per_unit", 1.0),
        ("Images", "image", "per_unit", 1.0),
        ("megapixels", "megapixel", "per_unit", 1.0),
        ("MP", "megapixel", "per_unit", 1.0),
        ("processed megapixels", "processed megapixel", "per_unit", 1.0),
        ("video_second", "video second", "per_unit", 1.0),
        ("video-seconds", "video second", "per_unit", 1.0),
        ("second", "second", "per_unit", 1.0),
        ("per second", "second", "per_unit", 1.0),
        ("GPU-second", "compute second", "per_unit", 1.0),
        ("compute seconds", "compute second", "per_unit", 1.0),
        ("minute", "minute", "per_unit", 1.0),
        ("video", "video", "per_unit", 1.0),
        ("request", "request", "per_unit", 1.0),
        ("generation", "generation", "per_unit", 1.0),
        ("step", "step", "per_unit", 1.0),
        ("1k characters", "1K characters", "per_unit", 1.0),
        ("1000 characters", "1K characters", "per_unit", 1.0),
        ("character", "1K characters", "per_unit", 1000.0),
        ("1M tokens", "1M tokens", "per_token", 1.0),
        ("1K tokens", "1M tokens", "per_token", 1000.0),
        ("token", "1M tokens", "per_token", 1_000_000.0),
    ],
)
def test_known_units_normalise(raw: str, name: str, basis: str, factor: float) -> None:
    unit = normalise_unit(raw)
    assert (unit.name, unit.basis, unit.factor, unit.known, unit.raw) == (
        name,
        basis,
        factor,
        True,
        raw,
    )


@pytest.mark.parametrize("raw", ["GPU-H100 hour", "3D asset", "frames", "  Weird_Unit  ", ""])
def test_unknown_units_stay_verbatim_and_flagged(raw: str) -> None:
    unit = normalise_unit(raw)
    assert unit.known is False
    assert unit.name == raw  # exactly as sent, not trimmed or lower-cased
    assert unit.basis == "per_unit" and unit.factor == 1.0


def test_every_unit_in_the_sandbox_data_is_known() -> None:
    data = SandboxData.generate()
    fal_units = {price["unit"] for price in data.fal_prices.values()}
    assert {"image", "megapixels", "processed megapixels", "video_second"} <= fal_units
    unknown = sorted(unit for unit in fal_units if not normalise_unit(unit).known)
    assert unknown == []


def test_every_unit_in_fals_spec_examples_is_known(shared_dir: Path) -> None:
    spec = shared_dir / "seed-data" / "fal_platform_openapi.json"
    if not spec.is_file():
        pytest.skip(f"{spec} is not available")
    text = spec.read_text(encoding="utf-8")
    examples = set(re.findall(r'"unit"\s*:\s*"([^"]+)"', text))
    # ...and the units its descriptions name: 'image', 'video', GPU-second.
    described = {"image", "video", "GPU-second", "second"}
    assert {"image", "second"} <= examples
    for unit in examples | described:
        assert normalise_unit(unit).known, unit


def test_fal_record_prices_per_unit_with_its_source() -> None:
    reg = registry([record("fal", "a/b", "megapixels", 0.025, category="text-to-image")])
    book = PriceBook(reg)
    price = book.prices["fal:a/b"]
    assert (price.basis, price.unit, price.unit_price, price.currency) == (
        "per_unit",
        "megapixel",
        0.025,
        "USD",
    )
    assert price.raw_unit == "megapixels" and price.known_unit
    assert price.source == "live API"
    assert price.fetched_at == reg["sources"]["fal"]["fetched_at"]


def test_comet_token_prices_are_input_and_output_per_million() -> None:
    comet = record("comet", "gpt-4o", "1M tokens", 2.5, output=10.0, meta={"model_type": "text"})
    only_input = record("comet", "emb", "1M tokens", 0.02, meta={"model_type": "embedding"})
    only_output = record("comet", "odd", "1M tokens", None, output=4.0)
    book = PriceBook(registry([comet, only_input, only_output]))
    gpt = book.prices["comet:gpt-4o"]
    assert (gpt.basis, gpt.unit, gpt.unit_price, gpt.output_unit, gpt.output_unit_price) == (
        "per_token",
        "1M input tokens",
        2.5,
        "1M output tokens",
        10.0,
    )
    assert gpt.category == "text"  # Comet's model type when the registry has no category
    emb = book.prices["comet:emb"]
    assert emb.output_unit_price is None and emb.priced  # missing stays missing, never 0
    odd = book.prices["comet:odd"]
    assert odd.unit_price is None and odd.output_unit_price == 4.0 and odd.priced


def test_a_fal_token_rate_is_one_rate_for_every_token() -> None:
    price = PriceBook(registry([record("fal", "x/llm", "1M tokens", 0.8)])).prices["fal:x/llm"]
    assert (price.basis, price.unit, price.output_unit) == ("per_token", "1M tokens", None)


def test_scaled_units_convert_the_price_and_keep_the_raw_one() -> None:
    price = price_of(record("fal", "x/tts", "character", 0.00003), None)
    assert price.unit == "1K characters" and price.unit_price == 0.03  # not 0.030000000000000002
    assert price.raw_unit_price == 0.00003 and price.factor == 1000.0


def test_unpriced_and_unknown_units_are_listed_not_dropped() -> None:
    book = PriceBook(
        registry([
            record("fal", "a/none"),
            record("fal", "a/odd", "GPU-H100 hour", 1.2),
            record("fal", "a/img", "image", 0.01),
        ])
    )  # fmt: skip
    assert [p.key for p in book.unpriced] == ["fal:a/none"]
    assert book.prices["fal:a/none"].unit_price is None
    assert [(p.key, p.unit, p.unit_price) for p in book.unknown_units] == [
        ("fal:a/odd", "GPU-H100 hour", 1.2)
    ]
    assert len(book) == 3


def test_sources_say_plainly_when_prices_are_sandbox_or_synthetic() -> None:
    generated = price_sources(registry([], source="sandbox", prices="generated", data="generated"))
    assert generated["fal"].synthetic and generated["fal"].sandbox
    assert "SYNTHETIC" in generated["fal"].label
    snap = "snapshot /x/models.json"
    real = price_sources(registry([], source="sandbox", prices=snap, data=snap))
    assert real["fal"].sandbox and not real["fal"].synthetic
    assert real["fal"].label == f"sandbox: {snap}"
    over = price_sources(
        registry([], source="sandbox", prices=f"synthetic prices over {snap}", data=snap)
    )
    assert over["comet"].synthetic
    live = price_sources(registry([]))
    assert live["fal"].label == "live API" and not live["fal"].sandbox
    book = PriceBook(registry([], source="sandbox", prices="generated", data="generated"))
    assert book.banner().startswith("prices: fal: sandbox: SYNTHETIC prices (generated)")
    assert json.loads(json.dumps(book.sources_json()))["comet"]["synthetic"] is True


@pytest.mark.parametrize(
    ("kind", "prices", "label", "banner_source"),
    [
        ("sandbox", "generated",
         "sandbox via gateway http://gw:4000: SYNTHETIC prices (generated), not the provider's",
         "sandbox via gateway"),
        ("live", "live API", "live API via gateway http://gw:4000", "live via gateway"),
        (None, "provider API via gateway http://gw:4000",  # a registry from before kinds
         "UNKNOWN source via gateway http://gw:4000: not known to be the provider's prices",
         "unknown via gateway"),
    ],
)  # fmt: skip
def test_prices_through_the_gateway_say_what_the_gateway_reached(
    kind: str | None, prices: str, label: str, banner_source: str
) -> None:
    """Never `sandbox: provider API via gateway` (sandbox data) nor live when not known."""
    book_registry = registry([], source="gateway", prices=prices, data="gateway http://gw:4000")
    for entry in book_registry["sources"].values():
        if kind is not None:
            entry["kind"] = kind
    book = PriceBook(book_registry)
    assert book.sources["fal"].label == label
    assert book.sources["fal"].sandbox is (kind == "sandbox")
    assert book.banner().startswith(f"prices: fal: {label}, fetched ")
    assert prices_banner(book).sources == {"fal": banner_source, "comet": banner_source}


def test_resolve_suggests_close_matches_and_refuses_ambiguity() -> None:
    book = PriceBook(
        registry([
            record("fal", "fal-ai/flux/dev", "image", 0.025),
            record("comet", "gpt-4o", "1M tokens", 2.5, output=10.0),
            record("comet", "shared", "request", 0.1),
            record("fal", "shared", "image", 0.1),
        ])
    )  # fmt: skip
    assert book.resolve("gpt-4o").key == "comet:gpt-4o"
    assert book.resolve("fal:shared").key == "fal:shared"
    with pytest.raises(
        ConfigError, match=r"unknown model 'fal-ai/flux/deb'; did you mean fal-ai/flux/dev"
    ):
        book.resolve("fal-ai/flux/deb")
    with pytest.raises(ConfigError, match=r"did you mean gpt-4o"):
        book.resolve("comet:gpt-4")
    with pytest.raises(
        ConfigError, match=r"listed by 2 providers; write one of comet:shared, fal:shared"
    ):
        book.resolve("shared")
    with pytest.raises(ConfigError, match="no similar model id"):
        book.resolve("zzzzzzzz")
