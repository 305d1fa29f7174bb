"""Normalising raw FAL and Comet payloads (our own fixtures) into registry records."""

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mpc_lib.catalog import Pricing, join_catalog, normalise_fal
from mpc_lib.catalog.comet import COMET_CATEGORIES
from mpc_lib.catalog.models import (
    CometCatalog,
    CometCatalogEntry,
    CometModel,
    CometModelList,
    FalModel,
    FalModelList,
    FalPrice,
    FalPriceList,
    ModelRecord,
    parse_items,
    parse_payload,
)
from mpc_lib.errors import ResponseFormatError

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


def _load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def _fal_parsed(
    models: str = "fal/models_page.json", pricing: str = "fal/pricing.json"
) -> tuple[dict[str, ModelRecord], list[str]]:
    """Records from a FAL page and pricing answer, read as the client reads them, and warnings."""
    page = parse_payload(FalModelList, _load(models), provider="fal", path="/models")
    answer = parse_payload(FalPriceList, _load(pricing), provider="fal", path="/models/pricing")
    listed, model_warnings = parse_items(FalModel, page.models, path="/models", key="endpoint_id")
    prices, price_warnings = parse_items(
        FalPrice, answer.prices, path="/models/pricing", key="endpoint_id"
    )
    by_id = {price.endpoint_id: price for price in prices}
    records = {m.endpoint_id: normalise_fal(m, by_id.get(m.endpoint_id)) for m in listed}
    return records, model_warnings + price_warnings


def _fal_records() -> dict[str, ModelRecord]:
    records, warnings = _fal_parsed()
    assert warnings == []
    return records


def test_fal_record_fields() -> None:
    record = _fal_records()["fal-ai/example-diffusion/dev"]
    assert record.model_dump() == {
        "provider": "fal",
        "model_id": "fal-ai/example-diffusion/dev",
        "display_name": "Example Diffusion [dev]",
        "category": "text-to-image",
        "description": "A made-up text-to-image model for tests",
        "status": "active",
        "owned_by": "fal-ai",
        "updated_at": "2026-03-01T10:00:00Z",
        "pricing": {
            "unit_price": 0.025,
            "unit": "image",
            "currency": "USD",
            "output_unit_price": None,
        },
        "stale": False,
        "meta": {
            "tags": ["fast"],
            "model_url": "https://fal.run/fal-ai/example-diffusion/dev",
            "thumbnail_url": "https://example.invalid/t.jpg",
            "license_type": "commercial",
            "kind": "inference",
            "date": "2025-08-01T00:00:00Z",
            "highlighted": False,
            "pinned": False,
            "group": "example-diffusion",
            "group_label": "Dev",
        },
    }
    assert record.key == "fal:fal-ai/example-diffusion/dev"


def test_fal_record_keeps_every_optional_field_fal_sent() -> None:
    record = _fal_records()["example-org/clip-trainer"]
    assert record.pricing is None
    assert record.meta == {
        "model_url": "https://fal.run/example-org/clip-trainer",
        "thumbnail_url": "https://example.invalid/c.jpg",
        "thumbnail_animated_url": "https://example.invalid/c.gif",
        "stream_url": "https://example.invalid/c/stream",
        "github_url": "https://github.com/example-org/clip",
        "license_type": "research",
        "kind": "training",
        "date": "2026-01-01T00:00:00Z",
        "inference_endpoint_ids": ["example-org/clip", "example-org/clip/fast"],
        "duration_estimate": 12.5,
        "highlighted": True,
        "pinned": True,
        "group": "clip",
        "group_label": "Clip Trainer",
    }


def test_fal_deprecated_unpriced_and_metadata_less_models() -> None:
    records = _fal_records()
    old = records["acme/old-video"]
    assert (old.status, old.owned_by, old.pricing and old.pricing.unit) == (
        "deprecated",
        "acme",
        "video_second",
    )
    bare = records["fal-ai/no-metadata"]
    assert (bare.display_name, bare.category, bare.pricing, bare.status) == (
        "fal-ai/no-metadata",
        None,
        None,
        "active",
    )


def test_odd_fal_entries_keep_what_parses_and_say_what_was_dropped() -> None:
    records, warnings = _fal_parsed("fal/models_page_odd.json", "fal/pricing_odd.json")
    assert sorted(records) == sorted(
        [
            "odd/tags-null", "odd/tags-string", "odd/metadata-string", "odd/two-fields",
            "odd/price-string", "odd/price-null", "odd/price-negative", "odd/no-currency",
        ]
    )  # fmt: skip
    tags_null = records["odd/tags-null"]
    assert (tags_null.display_name, tags_null.category, "tags" in tags_null.meta) == (
        "Tags Null",
        "text-to-image",
        False,
    )
    assert tags_null.pricing == Pricing(unit_price=0.02, unit="image")
    # a number sent as a numeric string is that number; anything else is no price, never 0
    assert records["odd/tags-string"].pricing == Pricing(unit_price=0.04, unit="image")
    assert "tags" not in records["odd/tags-string"].meta
    bare = records["odd/metadata-string"]
    assert (bare.display_name, bare.category, bare.meta) == ("odd/metadata-string", None, {})
    two = records["odd/two-fields"]
    assert (two.category, two.pricing) == ("training", Pricing(unit_price=0.001, unit="step"))
    assert "tags" not in two.meta and "duration_estimate" not in two.meta
    for unpriced in ("odd/price-string", "odd/price-null", "odd/price-negative", "odd/no-currency"):
        assert records[unpriced].pricing is None, unpriced
    assert warnings == [
        "/models entry 'odd/tags-null': dropped metadata.tags: null (Input should be a valid list)",
        "/models entry 'odd/tags-string': dropped metadata.tags: \"fast, pro\" "
        "(Input should be a valid list)",
        "/models entry 'odd/metadata-string': dropped metadata: \"text-to-image\" "
        "(Input should be a valid dictionary or instance of FalMetadata)",
        "/models entry 'odd/two-fields': dropped metadata.tags: [\"a\", 7] "
        "(Input should be a valid string)",
        "/models entry 'odd/two-fields': dropped metadata.duration_estimate: \"12 min\" "
        "(Input should be a valid number, unable to parse string as a number)",
        '/models entry #4 (metadata.display_name "No Endpoint Id"): '
        "skipped: no usable endpoint_id (missing)",
        '/models entry #5 (metadata.display_name "Numeric Id"): '
        "skipped: no usable endpoint_id (42)",
        "/models/pricing entry 'odd/price-string': skipped: unit_price: \"$0.05\" "
        "(Input should be a valid number, unable to parse string as a number)",
        "/models/pricing entry 'odd/price-null': skipped: unit_price: null "
        "(Input should be a valid number)",
        "/models/pricing entry 'odd/price-negative': skipped: unit_price: -1 "
        "(Input should be greater than or equal to 0)",
        "/models/pricing entry 'odd/no-currency': skipped: currency: Field required",
        "/models/pricing entry #7: skipped: no usable endpoint_id (missing)",
    ]


def _comet_records(v1: str, api: str) -> tuple[dict[str, ModelRecord], list[str]]:
    listing = parse_payload(CometModelList, _load(v1), provider="comet", path="/v1/models")
    catalog = parse_payload(CometCatalog, _load(api), provider="comet", path="/api/models")
    models, model_warnings = parse_items(CometModel, listing.data, path="/v1/models")
    entries, entry_warnings = parse_items(CometCatalogEntry, catalog.data, path="/api/models")
    records = {r.model_id: r for r in join_catalog(models, entries)}
    return records, model_warnings + entry_warnings


def test_comet_join_prices_by_id_or_code() -> None:
    records, warnings = _comet_records("comet/v1_models.json", "comet/api_models.json")
    assert warnings == []
    assert set(records) == {
        "example-chat-mini",
        "example-image-1",
        "example-video-1",
        "unpriced-model",
    }
    chat = records["example-chat-mini"]
    assert chat.pricing is not None
    assert (
        chat.pricing.unit_price,
        chat.pricing.output_unit_price,
        chat.pricing.unit,
        chat.pricing.currency,
    ) == (0.12, 0.48, "1M tokens", "USD")
    assert (chat.display_name, chat.category, chat.owned_by) == (
        "Example Chat Mini",
        "llm",
        "openai",
    )
    assert chat.updated_at is None  # `created` is a placeholder in real data, not a date
    assert chat.meta == {
        "supported_endpoint_types": ["openai"],
        "created": 1767225600,
        "provider": "OpenAI",
        "model_type": "text",
        "features": ["text-to-text"],
        "context_length": 128000,
        "code": "example-chat-mini",
    }
    image = records["example-image-1"]  # matched through the catalog's `code`
    assert image.pricing is not None and (image.pricing.unit, image.pricing.unit_price) == (
        "request",
        0.04,
    )
    assert (image.category, image.meta["model_type"]) == (None, "image")  # no FAL equivalent
    video = records["example-video-1"]
    assert video.status == "upcoming"
    assert video.pricing is not None and video.pricing.unit == "second"
    assert records["unpriced-model"].pricing is None
    assert records["unpriced-model"].display_name == "unpriced-model"


def test_comet_categories_map_only_unambiguous_types() -> None:
    assert COMET_CATEGORIES == {"text": "llm"}


def test_odd_comet_entries_keep_what_parses_and_say_what_was_dropped() -> None:
    records, warnings = _comet_records("comet/v1_models_odd.json", "comet/api_models_odd.json")
    assert set(records) == {"odd-features", "odd-context", "odd-free", "output-only", "no-prices"}
    assert records["odd-features"].pricing == Pricing(
        unit_price=0.5, unit="1M tokens", output_unit_price=1.5
    )
    assert "features" not in records["odd-features"].meta
    assert "context_length" not in records["odd-context"].meta
    assert records["odd-context"].pricing is not None
    # "free" is not read as 0: the input price is missing, the output price is kept
    assert records["odd-free"].pricing == Pricing(
        unit_price=None, unit="1M tokens", output_unit_price=0.9
    )
    assert records["output-only"].pricing == Pricing(
        unit_price=None, unit="1M tokens", output_unit_price=2.5
    )
    assert "created" not in records["output-only"].meta
    assert records["no-prices"].pricing is None
    assert sorted(warnings) == sorted(
        [
            "/v1/models entry 'output-only': dropped created: \"yesterday\" "
            "(Input should be a valid integer, unable to parse string as an integer)",
            "/v1/models entry #4: skipped: no usable id (missing)",
            "/api/models entry 'odd-features': dropped features: null "
            "(Input should be a valid list)",
            "/api/models entry 'odd-context': dropped context_length: \"128k\" "
            "(Input should be a valid integer, unable to parse string as an integer)",
            "/api/models entry 'odd-free': dropped pricing.input: \"free\" "
            "(Input should be a valid number, unable to parse string as a number)",
            '/api/models entry #4 (code "nameless"): skipped: no usable id (missing)',
            '/api/models entry #5: skipped: not an object ("not-an-object")',
        ]
    )


def test_a_pricing_needs_at_least_one_price() -> None:
    with pytest.raises(ValidationError, match="unit_price or output_unit_price"):
        Pricing(unit="1M tokens")
    assert Pricing(unit="1M tokens", output_unit_price=1.0).unit_price is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"models": "nope", "has_more": False}, "models: Input should be a valid list"),
        ({"has_more": False}, "models: Field required"),
        ({"models": []}, "has_more: Field required"),
        ({"models": [], "has_more": False, "next_cursor": 2}, "next_cursor: Input should be"),
        ([], "body|Input should be"),
    ],
)
def test_a_malformed_envelope_names_the_field(body: Any, message: str) -> None:
    """Only the envelope is checked whole; its entries are read one by one (`parse_items`)."""
    with pytest.raises(ResponseFormatError, match=message) as info:
        parse_payload(FalModelList, body, provider="fal", path="/models")
    assert str(info.value).startswith("fal: malformed answer from /models:")
    with pytest.raises(ResponseFormatError, match="prices: Field required"):
        parse_payload(FalPriceList, {"next_cursor": None}, provider="fal", path="/models/pricing")
