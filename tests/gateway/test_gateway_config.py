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
    summary_lines,
    write_gateway_config,
)
from mpc_lib.pricing import FAL_PIXELS_PER_MEGAPIXEL
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
    found = _deployments(GatewaySelection(categories=(), required=("comet:free-text",)))
    assert found["fal-ai/img-a"]["litellm_params"]["model"] == "fal_ai/fal-ai/img-a"
    assert "api_base" not in found["fal-ai/img-a"]["litellm_params"]  # LiteLLM's own FAL host
    assert found["fal-ai/img-a"]["model_info"]["output_cost_per_image"] == 0.03
    # LiteLLM's megapixel is 2**20 pixels (FAL_PIXELS_PER_MEGAPIXEL), not 10**6
    per_pixel = found["fal-ai/img-b"]["model_info"]["output_cost_per_pixel"]
    assert per_pixel == pytest.approx(0.012 / 1_048_576, rel=1e-12)
    assert FAL_PIXELS_PER_MEGAPIXEL == 1_048_576
    assert found["fal-ai/vid"]["model_info"]["output_cost_per_second"] == 0.01  # 0.6 a minute
    assert found["fal-ai/vid"]["model_info"]["mode"] == "video_generation"
    odd = found["fal-ai/odd"]["model_info"]
    assert not [key for key in odd if "cost" in key]  # a unit LiteLLM has no key for
    assert odd["mpc_unpriced"] == (
        "LiteLLM's fal_ai image_generation cost reads no price per generation"
    )
    assert odd["mpc_price"]["unit"] == "generation" and odd["mpc_price"]["unit_price"] == 0.5
    free = found["free-text"]["model_info"]  # unpriced, kept only because it is required
    assert not [key for key in free if "cost" in key] and "mpc_price" not in free  # never 0
    assert free["mpc_unpriced"] == "no price in the registry"
    assert found["embed-1"]["model_info"]["mode"] == "embedding"
    assert found["embed-1"]["model_info"]["input_cost_per_token"] == 2e-08
    assert "output_cost_per_token" not in found["embed-1"]["model_info"]
    assert "fal-ai/music" not in found  # LiteLLM's FAL provider serves no audio


def test_selection_filters_caps_and_always_keeps_required_models() -> None:
    default = _deployments()
    assert set(default) == {"gpt-4o", "fal-ai/img-a", "fal-ai/img-b", "fal-ai/odd"}
    capped = _deployments(GatewaySelection(max_models=1, required=("fal:fal-ai/vid",)))
    assert set(capped) == {"gpt-4o", "fal-ai/img-a", "fal-ai/vid"}  # first by id, + required
    picked = _deployments(
        GatewaySelection(providers=("fal",), include=("fal-ai/img-*",), exclude=("*-b",))
    )
    assert set(picked) == {"fal-ai/img-a"}
    unservable = _deployments(GatewaySelection(required=("fal:fal-ai/music",)))
    assert "fal-ai/music" not in unservable


def test_every_model_left_out_is_listed_under_its_reason() -> None:
    config = build_gateway_config(
        REGISTRY, UPSTREAMS,
        GatewaySelection(max_models=1, exclude=("*-b",), required=("fal:fal-ai/music",)),
    )  # fmt: skip
    assert config["mpc"]["left_out"] == {
        "unsupported category": ["fal:fal-ai/music"],  # required, and still not servable
        "not in --categories": ["comet:embed-1", "fal:fal-ai/vid"],
        "excluded by --exclude": ["fal:fal-ai/img-b"],
        "no price": ["comet:free-text"],
        "over --max-models": ["fal:fal-ai/odd"],
    }
    served = {entry["model_name"] for entry in config["model_list"]}
    listed = {key for keys in config["mpc"]["left_out"].values() for key in keys}
    assert {f"{m['provider']}:{m['model_id']}" for m in REGISTRY["models"]} == listed | {
        f"{entry['model_info']['mpc_provider']}:{name}"
        for entry in config["model_list"] for name in [entry["model_name"]]
    }  # fmt: skip
    assert served == {"gpt-4o", "fal-ai/img-a"}


COMET_TYPES = {
    "generated_at": "2026-01-01T00:00:00Z",
    "models": [
        _record("comet", "chat-a", "llm", {"unit_price": 1.0, "output_unit_price": 2.0,
                "unit": "1M tokens", "currency": "USD"}, model_type="text"),
        _record("comet", "pic-a", None, {"unit_price": 0.04, "unit": "request",
                "currency": "USD"}, model_type="image"),
        _record("comet", "clip-a", None, {"unit_price": 0.1, "unit": "second",
                "currency": "USD"}, model_type="video"),
        _record("comet", "new-a", None, {"unit_price": 3.0, "output_unit_price": 9.0,
                "unit": "1M tokens", "currency": "USD"}, model_type="multimodal"),
        _record("comet", "new-b", None, {"unit_price": 0.02, "unit": "request",
                "currency": "USD"}, model_type="multimodal"),
    ],
}  # fmt: skip


def test_a_known_comet_type_has_its_mode_and_an_unknown_one_is_served_as_chat_with_a_warning(
    tmp_path: Path,
) -> None:
    config = build_gateway_config(COMET_TYPES, UPSTREAMS, GatewaySelection(categories=()))
    found = {entry["model_name"]: entry["model_info"] for entry in config["model_list"]}
    assert found["chat-a"]["mode"] == "chat" and "mpc_guess" not in found["chat-a"]
    assert found["pic-a"] == found["pic-a"] | {"mode": "image_generation",
                                               "output_cost_per_image": 0.04}  # fmt: skip
    assert found["new-a"] == found["new-a"] | {
        "mode": "chat", "input_cost_per_token": 3e-06, "output_cost_per_token": 9e-06,
        "mpc_guess": "chat: Comet type 'multimodal' is not in the type table",
    }  # fmt: skip
    # a guess never prices a unit the guessed mode does not read
    assert not [key for key in found["new-b"] if "cost" in key]
    assert found["new-b"]["mpc_unpriced"] == "LiteLLM's openai chat cost reads no price per request"
    assert "clip-a" not in found
    assert config["mpc"]["left_out"] == {"unsupported type": ["comet:clip-a"]}
    assert config["mpc"]["unknown_types"] == {"multimodal": ["comet:new-a", "comet:new-b"]}
    assert config["mpc"]["unpriced"] == {
        "LiteLLM's openai chat cost reads no price per request": ["comet:new-b"]
    }
    lines = summary_lines(config, tmp_path / "litellm.yaml")
    assert "left out 1 registry model(s):" in lines
    assert "  unsupported type (1): comet:clip-a" in lines
    assert lines[-1] == (
        "warning: 2 Comet model(s) with type 'multimodal', not in the gateway's type table, "
        "taken for chat models (a guess; 2 deployed): comet:new-a, comet:new-b"
    )
    # the default categories take a model served as chat for an llm
    default = build_gateway_config(COMET_TYPES, UPSTREAMS)
    assert {e["model_name"] for e in default["model_list"]} == {"chat-a", "new-a", "new-b"}


def _priced(provider: str, model_id: str, category: str | None, unit: str, price: float | None,
            output: float | None = None, **meta: Any) -> dict[str, Any]:  # fmt: skip
    pricing = {"unit_price": price, "output_unit_price": output, "unit": unit, "currency": "USD"}
    return _record(provider, model_id, category, pricing, **meta)


def test_a_unit_the_modes_calculator_does_not_read_gets_no_key_and_a_reason() -> None:
    registry = {"models": [
        _priced("fal", "fal-ai/flux/dev", "text-to-image", "megapixels", 0.025),
        _priced("fal", "fal-ai/recraft/v3/text-to-image", "text-to-image", "megapixels", 0.04),
        _priced("fal", "fal-ai/gpu-a", "text-to-image", "GPU seconds", 0.0011),
        _priced("fal", "fal-ai/gpu-b", "text-to-image", "second", 0.0011),
        _priced("fal", "fal-ai/edit-a", "image-to-image", "processed megapixels", 0.003),
        _priced("fal", "fal-ai/clip-a", "text-to-video", "video", 0.4),
        _priced("comet", "out-only", None, "1M tokens", None, 6.0, model_type="text"),
        _priced("comet", "emb-out", None, "1M tokens", None, 1.0, model_type="embedding"),
        _priced("comet", "eur-a", None, "1M tokens", 1.0, 2.0, model_type="text") | {
            "pricing": {"unit_price": 1.0, "unit": "1M tokens", "currency": "EUR"}},
    ]}  # fmt: skip
    config = build_gateway_config(registry, UPSTREAMS, GatewaySelection(categories=()))
    found = {entry["model_name"]: entry["model_info"] for entry in config["model_list"]}
    assert found["fal-ai/flux/dev"]["output_cost_per_pixel"] == pytest.approx(0.025 / 2**20)
    keys = {name: sorted(k for k in info if "cost" in k) for name, info in found.items()}
    assert keys == {
        "fal-ai/flux/dev": ["output_cost_per_pixel"],
        "fal-ai/recraft/v3/text-to-image": [],  # LiteLLM keeps no image size for recraft
        "fal-ai/gpu-a": [], "fal-ai/gpu-b": [],  # its FAL image cost reads no per-second key
        "fal-ai/edit-a": [], "fal-ai/clip-a": [], "emb-out": [], "eur-a": [],
        "out-only": ["output_cost_per_token"],  # the output price is right; input unknown
    }  # fmt: skip
    assert config["mpc"]["unpriced"] == {
        "LiteLLM's fal_ai answer for this model family has no image size":
            ["fal:fal-ai/recraft/v3/text-to-image"],
        "LiteLLM's fal_ai image_generation cost reads no price per compute second":
            ["fal:fal-ai/gpu-a"],
        "LiteLLM's fal_ai image_generation cost reads no price per second": ["fal:fal-ai/gpu-b"],
        "LiteLLM's fal_ai image_edit cost reads no price per processed megapixel":
            ["fal:fal-ai/edit-a"],
        "LiteLLM's fal_ai video_generation cost reads no price per video": ["fal:fal-ai/clip-a"],
        "no input token price in the registry (output only)": ["comet:emb-out", "comet:out-only"],
        "priced in EUR; LiteLLM counts USD": ["comet:eur-a"],
    }  # fmt: skip


def test_on_the_sandbox_fal_deployments_call_its_stand_ins_for_fal_run_and_its_queue() -> None:
    registry = {"models": [
        _record("fal", "fal-ai/img-a", "text-to-image", {"unit_price": 0.03, "unit": "image"}),
        _record("fal", "fal-ai/edit-a", "image-to-image", {"unit_price": 0.03, "unit": "image"}),
        _record("fal", "fal-ai/vid", "text-to-video", {"unit_price": 0.1, "unit": "second"}),
    ]}  # fmt: skip
    sandbox = {"fal": Upstream("fal", "sandbox", "http://127.0.0.1:9/v1", Secret("k"),
                               chat_url="http://127.0.0.1:9/v1")}  # fmt: skip
    config = build_gateway_config(registry, sandbox, GatewaySelection(categories=()))
    bases = {e["model_name"]: e["litellm_params"]["api_base"] for e in config["model_list"]}
    assert bases == {
        "fal-ai/img-a": "http://127.0.0.1:9/run/fal-ai/img-a",  # LiteLLM posts here as it is
        "fal-ai/edit-a": "http://127.0.0.1:9/run",  # LiteLLM appends <model>/edit
        "fal-ai/vid": "http://127.0.0.1:9/queue",  # LiteLLM appends <model>
    }


def test_two_models_with_one_name_are_refused() -> None:
    image = {"unit_price": 0.03, "unit": "image", "currency": "USD"}
    clash = {"models": [*REGISTRY["models"], _record("fal", "gpt-4o", "text-to-image", image)]}
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


