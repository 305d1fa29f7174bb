"""Normalising raw FAL and Comet payloads (our own fixtures) into registry records."""

import json
from pathlib import Path
from typing import Any

import pytest

from mpc_lib.catalog import join_catalog, normalise_fal
from mpc_lib.catalog.models import (
    CometCatalog,
    CometModelList,
    FalModelPage,
    FalPricePage,
    parse_payload,
)
from mpc_lib.errors import ResponseFormatError

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


def _load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def _fal_records() -> dict[str, Any]:
    page = parse_payload(
        FalModelPage, _load("fal/models_page.json"), provider="fal", path="/models"
    )
    prices = parse_payload(
        FalPricePage, _load("fal/pricing.json"), provider="fal", path="/models/pricing"
    )
    by_id = {price.endpoint_id: price for price in prices.prices}
    return {m.endpoint_id: normalise_fal(m, by_id.get(m.endpoint_id)) for m in page.models}


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
            "group": "example-diffusion",
        },
    }
    assert record.key == "fal:fal-ai/example-diffusion/dev"


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


def test_comet_join_prices_by_id_or_code() -> None:
    models = parse_payload(
        CometModelList, _load("comet/v1_models.json"), provider="comet", path="/v1/models"
    )
    catalog = parse_payload(
        CometCatalog, _load("comet/api_models.json"), provider="comet", path="/api/models"
    )
    records = {r.model_id: r for r in join_catalog(models.data, catalog.data)}
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
        "text",
        "openai",
    )
    assert chat.updated_at == "2026-01-01T00:00:00Z"
    assert chat.meta == {
        "supported_endpoint_types": ["openai"],
        "provider": "OpenAI",
        "features": ["text-to-text"],
        "context_length": 128000,
        "code": "example-chat-mini",
    }
    image = records["example-image-1"]  # matched through the catalog's `code`
    assert image.pricing is not None and (image.pricing.unit, image.pricing.unit_price) == (
        "request",
        0.04,
    )
    video = records["example-video-1"]
    assert video.status == "upcoming"
    assert video.pricing is not None and video.pricing.unit == "second"
    assert records["unpriced-model"].pricing is None
    assert records["unpriced-model"].display_name == "unpriced-model"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"models": "nope", "has_more": False}, "models: Input should be a valid list"),
        ({"models": [{"metadata": {}}], "has_more": False}, "models.0.endpoint_id: Field required"),
        ({"models": []}, "has_more: Field required"),
        ([], "body|Input should be"),
    ],
)
def test_malformed_payload_names_the_field(body: Any, message: str) -> None:
    with pytest.raises(ResponseFormatError, match=message) as info:
        parse_payload(FalModelPage, body, provider="fal", path="/models")
    assert str(info.value).startswith("fal: malformed answer from /models:")
