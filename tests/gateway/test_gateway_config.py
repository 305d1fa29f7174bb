"""The generated LiteLLM config: deployments, prices, selection, pass-through, no secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mpc_lib.config import Secret
from mpc_lib.errors import ConfigError
from mpc_lib.gateway.config import (
    GatewaySelection,
    build_gateway_config,
    write_gateway_config,
)
from mpc_lib.upstreams import Upstream


def _record(provider: str, model_id: str, category: str | None, pricing: Any, **meta: Any) -> dict:
    return {
        "provider": provider,
        "model_id": model_id,
        "display_name": model_id,
        "category": category,
        "pricing": pricing,
        "meta": meta,
    }


REGISTRY = {
    "generated_at": "2026-01-01T00:00:00Z",
    "models": [
        _record(
            "comet",
            "gpt-4o",
            "llm",
            {"unit_price": 2.11, "output_unit_price": 6.33, "unit": "1M tokens", "currency": "USD"},
        ),
        _record(
            "comet",
            "embed-1",
            None,
            {"unit_price": 0.02, "output_unit_price": None, "unit": "1M tokens", "currency": "USD"},
            model_type="embedding",
        ),
        _record("comet", "free-text", "llm", None),
        _record(
            "fal",
            "fal-ai/img-a",
            "text-to-image",
            {"unit_price": 0.03, "unit": "image", "currency": "USD"},
        ),
        _record(
            "fal",
            "fal-ai/img-b",
            "text-to-image",
            {"unit_price": 0.012, "unit": "megapixels", "currency": "USD"},
        ),
        _record(
            "fal",
            "fal-ai/vid",
            "image-to-video",
            {"unit_price": 0.6, "unit": "minute", "currency": "USD"},
        ),
        _record(
            "fal",
            "fal-ai/odd",
            "text-to-image",
            {"unit_price": 0.5, "unit": "generation", "currency": "USD"},
        ),
        _record(
            "fal",
            "fal-ai/music",
            "text-to-audio",
            {"unit_price": 0.01, "unit": "second", "currency": "USD"},
        ),
    ],
}
UPSTREAMS = {
    "fal": Upstream(
        "fal", "live", "https://api.fal.ai/v1", Secret("fal-secret-1"),
        chat_url="https://api.fal.ai/v1",
    ),
    "comet": Upstream(
        "comet", "live", "https://comet.test", Secret("comet-secret-2"),
        chat_url="https://comet.test",
    ),
}  # fmt: skip


def _deployments(selection: GatewaySelection | None = None) -> dict[str, dict[str, Any]]:
    config = build_gateway_config(REGISTRY, UPSTREAMS, selection)
    return {entry["model_name"]: entry for entry in config["model_list"]}


def test_comet_models_are_openai_compatible_deployments_priced_per_token() -> None:
    gpt = _deployments()["gpt-4o"]
    assert gpt["litellm_params"] == {
        "model": "openai/gpt-4o",
        "api_key": "os.environ/COMETAPI_KEY",
        "api_base": "https://comet.test/v1",
    }
    info = gpt["model_info"]
    assert info["mode"] == "chat"
    assert info["input_cost_per_token"] == 2.11e-06 and info["output_cost_per_token"] == 6.33e-06
    assert (info["mpc_provider"], info["mpc_model_id"]) == ("comet", "gpt-4o")


def test_fal_units_map_onto_litellm_cost_keys_and_nothing_is_invented() -> None:
    found = _deployments(GatewaySelection(categories=()))
    assert found["fal-ai/img-a"]["litellm_params"]["model"] == "fal_ai/fal-ai/img-a"
    assert "api_base" not in found["fal-ai/img-a"]["litellm_params"]  # LiteLLM's own FAL host
    assert found["fal-ai/img-a"]["model_info"]["output_cost_per_image"] == 0.03
    assert found["fal-ai/img-b"]["model_info"]["output_cost_per_pixel"] == 1.2e-08
    assert found["fal-ai/vid"]["model_info"]["output_cost_per_second"] == 0.01
    assert found["fal-ai/vid"]["model_info"]["mode"] == "video_generation"
    odd = found["fal-ai/odd"]["model_info"]
    assert not [key for key in odd if "cost" in key]  # a unit LiteLLM has no key for
    assert odd["mpc_price"]["unit"] == "generation" and odd["mpc_price"]["unit_price"] == 0.5
    free = found["free-text"]["model_info"]
    assert not [key for key in free if "cost" in key] and "mpc_price" not in free  # never 0
    assert found["embed-1"]["model_info"]["mode"] == "embedding"
    assert "fal-ai/music" not in found  # LiteLLM's FAL provider serves no audio


def test_selection_filters_caps_and_always_keeps_required_models() -> None:
    default = _deployments()
    assert set(default) == {"gpt-4o", "free-text", "fal-ai/img-a", "fal-ai/img-b", "fal-ai/odd"}
    capped = _deployments(GatewaySelection(max_models=1, required=("fal:fal-ai/vid",)))
    assert set(capped) == {"free-text", "fal-ai/img-a", "fal-ai/vid"}  # first by id, + required
    picked = _deployments(
        GatewaySelection(providers=("fal",), include=("fal-ai/img-*",), exclude=("*-b",))
    )
    assert set(picked) == {"fal-ai/img-a"}
    unservable = _deployments(GatewaySelection(required=("fal:fal-ai/music",)))
    assert "fal-ai/music" not in unservable


def test_two_models_with_one_name_are_refused() -> None:
    clash = {"models": [*REGISTRY["models"], _record("fal", "gpt-4o", "text-to-image", None)]}
    with pytest.raises(ConfigError, match="'gpt-4o' is both comet:gpt-4o and fal:gpt-4o"):
        build_gateway_config(clash, UPSTREAMS)


def test_pass_through_routes_and_free_health_checks_and_no_secret_on_disk(tmp_path: Path) -> None:
    config = build_gateway_config(REGISTRY, UPSTREAMS)
    general = config["general_settings"]
    assert general["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert general["background_health_checks"] is False
    routes = {route["path"]: route for route in general["pass_through_endpoints"]}
    assert routes["/fal"]["target"] == "https://api.fal.ai/v1"
    assert routes["/fal"]["headers"] == {"Authorization": "Key os.environ/FAL_KEY"}
    assert routes["/comet"]["headers"] == {"Authorization": "Bearer os.environ/COMETAPI_KEY"}
    assert all(route["auth"] and route["include_subpath"] for route in routes.values())
    path = write_gateway_config(tmp_path / "litellm.yaml", config)
    text = path.read_text()
    assert "fal-secret-1" not in text and "comet-secret-2" not in text
    assert yaml.safe_load(text)["model_list"] == config["model_list"]


