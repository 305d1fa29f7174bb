"""SandboxData: deterministic generation, snapshot loading (raw and registry format), errors."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mpc_lib.errors import ConfigError
from mpc_lib.sandbox import KNOWN_MODELS, SandboxData

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
ENDPOINT_ID = re.compile(r"^[a-z0-9-]+/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
IMAGE_UNITS = {"image", "megapixels", "processed megapixels"}
VIDEO_UNITS = {"video_second", "second", "video"}


@pytest.fixture(scope="module")
def generated() -> SandboxData:
    return SandboxData.generate()


def test_generate_is_deterministic(generated: SandboxData) -> None:
    again = SandboxData.generate(2025)
    assert again == generated
    assert json.dumps(again.fal_models) == json.dumps(generated.fal_models)  # order too
    other = SandboxData.generate(7)
    assert other != generated
    assert {m["endpoint_id"] for m in other.fal_models} != {
        m["endpoint_id"] for m in generated.fal_models
    }


def test_copy_is_deep_and_restore_is_in_place(generated: SandboxData) -> None:
    clone = generated.copy()
    assert clone == generated
    first_id = clone.fal_models[0]["endpoint_id"]
    clone.fal_models[0]["metadata"]["tags"].append("mutated")
    clone.comet_catalog.clear()
    assert "mutated" not in generated.fal_models[0]["metadata"]["tags"]
    assert generated.comet_catalog
    models = clone.fal_models
    clone.restore(generated)
    assert clone == generated and clone.fal_models[0]["endpoint_id"] == first_id
    assert clone.fal_models is not models and clone.fal_models is not generated.fal_models


def test_fal_catalog_shape(generated: SandboxData) -> None:
    models = generated.fal_models
    assert 840 <= len(models) <= 900
    ids = [m["endpoint_id"] for m in models]
    assert len(set(ids)) == len(ids)
    assert all(ENDPOINT_ID.match(i) for i in ids)
    owners = Counter(i.split("/")[0] for i in ids)
    assert owners.most_common(1)[0][0] == "fal-ai" and len(owners) >= 5
    categories = Counter(m["metadata"]["category"] for m in models)
    assert len(categories) >= 18
    assert categories.most_common(3) == [
        ("image-to-image", categories["image-to-image"]),
        ("image-to-video", categories["image-to-video"]),
        ("text-to-image", categories["text-to-image"]),
    ]
    assert 270 <= categories["image-to-image"] <= 295 and categories["llm"] >= 5
    deprecated = sum(m["metadata"]["status"] == "deprecated" for m in models)
    assert 0.01 <= deprecated / len(models) <= 0.06
    for model in models:
        meta = model["metadata"]
        assert ISO_Z.match(meta["updated_at"]) and ISO_Z.match(meta["date"])
        assert meta["date"] <= meta["updated_at"]
        assert meta["is_favorited"] is None and meta["pinned"] is False
        assert meta["highlighted"] is (model["endpoint_id"] in KNOWN_MODELS["fal"])
        assert meta["model_url"] == f"https://fal.run/{model['endpoint_id']}"
        assert meta["status"] in ("active", "deprecated") and isinstance(meta["tags"], list)
        assert meta.get("license_type", "commercial") in ("commercial", "research", "private")
        if "group" in meta:
            assert set(meta["group"]) == {"key", "label"}


def test_fal_prices_fit_categories(generated: SandboxData) -> None:
    prices = generated.fal_prices
    category = {m["endpoint_id"]: m["metadata"]["category"] for m in generated.fal_models}
    assert set(prices) <= set(category)
    unpriced = len(category) - len(prices)
    assert 0.005 <= unpriced / len(category) <= 0.04
    for endpoint_id, price in prices.items():
        assert price["endpoint_id"] == endpoint_id and price["currency"] == "USD"
        assert price["unit_price"] > 0
        cat = category[endpoint_id]
        if cat in ("text-to-image", "image-to-image"):
            assert price["unit"] in IMAGE_UNITS
        elif cat in ("image-to-video", "text-to-video", "video-to-video"):
            assert price["unit"] in VIDEO_UNITS
        elif cat == "training":
            assert price["unit"] == "step"
        elif cat == "llm":
            assert price["unit"] == "1M tokens"
        elif cat == "text-to-speech":
            assert price["unit"] == "1k characters"
        elif cat.endswith("3d"):
            assert price["unit"] == "generation"
    assert len({p["unit"] for p in prices.values()}) >= 8


def test_comet_catalog_shape(generated: SandboxData) -> None:
    models = generated.comet_models
    assert 550 <= len(models) <= 590
    ids = [m["id"] for m in models]
    assert len(set(ids)) == len(ids)
    for prefix in ("gpt-4o-mini", "claude-", "deepseek-", "gemini-", "qwen-"):
        assert any(i.startswith(prefix) for i in ids), prefix
    owners = Counter(m["owned_by"] for m in models)
    assert owners.most_common(1)[0][0] == "custom"
    assert {"openai", "vertex-ai", "anthropic", "deepseek"} <= set(owners)
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in models)
    catalog = generated.comet_catalog
    assert {e["model_type"] for e in catalog} == {"text", "image", "video", "audio", "embedding"}
    for entry in catalog:
        pricing = entry["pricing"]
        assert pricing["currency"] == "USD / M Tokens"
        if entry["model_type"] == "text":
            assert pricing["input"] > 0 and pricing["output"] >= pricing["input"]
            assert entry["context_length"] and entry["max_completion_tokens"]
        elif entry["model_type"] == "image":
            assert pricing["per_request"] > 0 and pricing["input"] is None
        elif entry["model_type"] == "video":
            assert pricing["per_second"] > 0 and pricing["per_request"] is None


def test_seed_snapshot_loads_as_is(seed_registry: Path) -> None:
    data = SandboxData.from_snapshot(seed_registry)
    records = json.loads(seed_registry.read_text(encoding="utf-8"))
    assert (len(data.fal_models), len(data.comet_models)) == (866, 568)
    assert data.fal_models == [r["raw"] for r in records if r["source"] == "fal"]
    assert data.comet_models == [r["raw"] for r in records if r["source"] == "comet"]
    assert 0.9 * 866 <= len(data.fal_prices) < 866
    assert 0.9 * 568 <= len(data.comet_catalog) < 568
    assert SandboxData.from_snapshot(str(seed_registry)) == data  # prices are stable
    by_category = {r["id"]: r["category"] for r in records if r["source"] == "fal"}
    for endpoint_id, price in data.fal_prices.items():
        if by_category[endpoint_id] == "training":
            assert price["unit"] == "step"


def test_well_known_models_are_served_under_their_real_ids(generated: SandboxData) -> None:
    fal = {m["endpoint_id"]: m["metadata"] for m in generated.fal_models}
    assert len(KNOWN_MODELS["fal"]) >= 40 and len(KNOWN_MODELS["comet"]) >= 100
    for must in ("fal-ai/flux/dev", "fal-ai/flux-pro/v1.1-ultra", "fal-ai/veo3", "fal-ai/whisper"):
        assert must in KNOWN_MODELS["fal"]
    # the listing starts with them, as FAL's starts with its highlighted models
    first = [m["endpoint_id"] for m in generated.fal_models[: len(KNOWN_MODELS["fal"])]]
    assert set(first) == set(KNOWN_MODELS["fal"])
    for endpoint_id, category in KNOWN_MODELS["fal"].items():
        assert fal[endpoint_id]["category"] == category, endpoint_id
        assert fal[endpoint_id]["status"] == "active" and endpoint_id in generated.fal_prices
    assert {"image-to-3d", "text-to-audio", "text-to-speech", "llm"} <= set(
        KNOWN_MODELS["fal"].values()
    )
    catalog = {e["id"]: e for e in generated.comet_catalog}
    served = {m["id"] for m in generated.comet_models}
    for must in ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "text-embedding-3-small"):
        assert KNOWN_MODELS["comet"][must] in ("text", "embedding")
    for model_id, model_type in KNOWN_MODELS["comet"].items():
        assert model_id in served and catalog[model_id]["model_type"] == model_type, model_id
    # the real ids take invented ones' places: the catalog keeps the real one's size
    assert 840 <= len(fal) <= 900 and 550 <= len(served) <= 590


def test_well_known_models_are_real(seed_registry: Path) -> None:
    """Each well-known id is in the real 2025 catalog, a FAL one with the same category."""
    records = json.loads(seed_registry.read_text(encoding="utf-8"))
    real = {(r["source"], r["id"]): r["category"] for r in records}
    for endpoint_id, category in KNOWN_MODELS["fal"].items():
        assert real.get(("fal", endpoint_id)) == category, endpoint_id
    for model_id in KNOWN_MODELS["comet"]:
        assert ("comet", model_id) in real, model_id


def test_a_model_costs_the_same_generated_and_over_a_snapshot(
    generated: SandboxData, seed_registry: Path
) -> None:
    """Made-up prices hang on the id alone: the shipped job mix estimates alike on both."""
    snapshot = SandboxData.from_snapshot(seed_registry)
    for endpoint_id in KNOWN_MODELS["fal"]:
        assert snapshot.fal_prices[endpoint_id] == generated.fal_prices[endpoint_id]
    catalog = {e["id"]: e for e in snapshot.comet_catalog}
    for entry in generated.comet_catalog:
        if entry["id"] in KNOWN_MODELS["comet"] and entry["model_type"] == "text":
            assert catalog[entry["id"]]["pricing"] == entry["pricing"], entry["id"]


def _registry(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"generated_at": "2025-11-20T00:00:00Z", "sources": {}, "counts": {}, "models": models}


def _record(provider: str, model_id: str, **extra: Any) -> dict[str, Any]:
    base = {
        "provider": provider,
        "model_id": model_id,
        "display_name": model_id.upper(),
        "category": None,
        "description": "",
        "status": "active",
        "owned_by": None,
        "updated_at": "2025-05-01T10:00:00Z",
        "pricing": None,
        "meta": {},
    }
    return {**base, **extra}


def test_registry_format_rebuilds_raw_items(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    models = [
        _record(
            "fal",
            "fal-ai/flux/dev",
            category="text-to-image",
            description="Fast images",
            pricing={"unit_price": 0.025, "unit": "image", "currency": "USD"},
            meta={
                "tags": ["fast"],
                "license_type": "commercial",
                "group": {"key": "flux", "label": "Dev"},
            },
        ),
        _record(
            "fal",
            "bria/eraser",
            category="image-to-image",
            status="deprecated",
            meta={"group": "bria"},
        ),
        _record(
            "comet",
            "gpt-4o-mini",
            category="text",
            owned_by="openai",
            pricing={
                "unit_price": 0.15,
                "unit": "1M tokens",
                "currency": "USD",
                "output_unit_price": 0.6,
            },
            meta={"supported_endpoint_types": ["openai"], "created": 1700000000},
        ),
        _record(
            "comet",
            "veo3",
            category="video",
            owned_by="vertex-ai",
            status="upcoming",
            pricing={"unit_price": 0.4, "unit": "second", "currency": "USD"},
        ),
        _record("comet", "mystery", owned_by=None),
    ]
    path.write_text(json.dumps(_registry(models)), encoding="utf-8")
    data = SandboxData.from_snapshot(path)
    flux, eraser = data.fal_models
    assert flux["endpoint_id"] == "fal-ai/flux/dev"
    meta = flux["metadata"]
    assert (meta["display_name"], meta["category"], meta["description"]) == (
        "FAL-AI/FLUX/DEV",
        "text-to-image",
        "Fast images",
    )
    assert meta["tags"] == ["fast"] and meta["group"] == {"key": "flux", "label": "Dev"}
    assert meta["updated_at"] == "2025-05-01T10:00:00Z" and meta["is_favorited"] is None
    assert eraser["metadata"]["status"] == "deprecated"
    assert eraser["metadata"]["group"] == {"key": "bria", "label": "bria"}
    assert data.fal_prices == {
        "fal-ai/flux/dev": {
            "endpoint_id": "fal-ai/flux/dev",
            "unit_price": 0.025,
            "unit": "image",
            "currency": "USD",
        }
    }
    assert [m["id"] for m in data.comet_models] == ["gpt-4o-mini", "veo3", "mystery"]
    gpt = data.comet_models[0]
    assert (gpt["owned_by"], gpt["created"], gpt["supported_endpoint_types"]) == (
        "openai",
        1700000000,
        ["openai"],
    )
    assert data.comet_models[1]["created"] == 1746093600  # from updated_at
    assert "upcoming" not in data.comet_catalog[0] and data.comet_catalog[1]["upcoming"] is True
    assert data.comet_models[2]["owned_by"] == "custom"
    catalog = {e["id"]: e for e in data.comet_catalog}
    assert set(catalog) == {"gpt-4o-mini", "veo3"}  # "mystery" has no price
    assert catalog["gpt-4o-mini"]["pricing"] == {
        "currency": "USD / M Tokens",
        "input": 0.15,
        "output": 0.6,
        "per_request": None,
        "per_second": None,
    }
    assert (
        catalog["veo3"]["model_type"] == "video" and catalog["veo3"]["pricing"]["per_second"] == 0.4
    )


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON (line 1"),
        ('{"models": "nope"}', "expected a JSON list"),
        ('[{"source": "openrouter", "raw": {}}]', "record 0: source must be 'fal' or 'comet'"),
        ('[{"source": "fal", "raw": {"metadata": {}}}]', "record 0: raw.endpoint_id"),
        (
            '[{"source": "comet", "raw": {"id": "a"}}, {"source": "comet", "raw": {"id": "a"}}]',
            "record 1: duplicate comet id 'a'",
        ),
        (
            '{"models": [{"provider": "fal", "model_id": "x",'
            ' "pricing": {"unit_price": -1, "unit": "image"}}]}',
            "record 0: pricing.unit_price",
        ),
        (
            '{"models": [{"provider": "comet", "model_id": "x", "pricing": {"unit_price": 1}}]}',
            "record 0: pricing.unit",
        ),
        ('{"models": [{"provider": "comet", "model_id": ""}]}', "record 0: model_id"),
    ],
)
def test_malformed_snapshot_names_file_and_problem(
    tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        SandboxData.from_snapshot(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_missing_snapshot_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read sandbox snapshot"):
        SandboxData.from_snapshot(tmp_path / "absent.json")


def test_price_origin_says_where_prices_came_from(generated: SandboxData, tmp_path: Path) -> None:
    assert generated.price_origin == {"fal": "generated", "comet": "generated"}
    raw_path = tmp_path / "raw.json"
    raw_path.write_text('[{"source": "fal", "raw": {"endpoint_id": "a/b"}}]', encoding="utf-8")
    raw = SandboxData.from_snapshot(raw_path)  # raw items carry no price: made up here
    assert raw.price_origin == {"fal": "synthetic", "comet": "synthetic"}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(_registry([_record("fal", "a/b")])), encoding="utf-8")
    assert SandboxData.from_snapshot(path).price_origin == {"fal": "snapshot", "comet": "snapshot"}
    assert set(generated.counts()) == {"fal_models", "fal_prices", "comet_models", "comet_catalog"}


def test_registry_format_keeps_output_only_prices_and_new_meta(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    models = [
        _record(
            "comet",
            "out-only",
            category="llm",
            pricing={"unit_price": None, "unit": "1M tokens", "output_unit_price": 2.0},
            meta={"model_type": "text", "created": 1626777600},
        ),
        _record(
            "fal",
            "fal-ai/lora",
            meta={"group": "lora", "group_label": "LoRA", "highlighted": True, "pinned": False},
        ),
    ]
    path.write_text(json.dumps(_registry(models)), encoding="utf-8")
    data = SandboxData.from_snapshot(path)
    (entry,) = data.comet_catalog
    assert entry["model_type"] == "text"
    assert (entry["pricing"]["input"], entry["pricing"]["output"]) == (None, 2.0)
    meta = data.fal_models[0]["metadata"]
    assert meta["group"] == {"key": "lora", "label": "LoRA"}
    assert (meta["highlighted"], meta["pinned"]) == (True, False)
    both_missing = _record("comet", "x", pricing={"unit": "1M tokens", "unit_price": None})
    path.write_text(json.dumps(_registry([both_missing])), encoding="utf-8")
    with pytest.raises(ConfigError, match="record 0: pricing needs a unit_price"):
        SandboxData.from_snapshot(path)
