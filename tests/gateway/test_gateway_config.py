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
from mpc_lib.gateway.litellm_fal import ANOTHER_ENDPOINT, NO_INPUT_MAPPING
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
            "fal-ai/flux/dev",
            "text-to-image",
            {"unit_price": 0.03, "unit": "image", "currency": "USD"},
        ),
        _record(
            "fal",
            "fal-ai/flux/schnell",
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
            "fal-ai/flux-pro/v1.1",
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
        model_urls={"run": "https://fal.run", "queue": "https://queue.fal.run"},
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
    assert found["fal-ai/flux/dev"]["litellm_params"]["model"] == "fal_ai/fal-ai/flux/dev"
    # LiteLLM appends the family's endpoint, fal-ai/flux/dev itself, to FAL's run host
    assert found["fal-ai/flux/dev"]["litellm_params"]["api_base"] == "https://fal.run"
    assert found["fal-ai/flux/dev"]["model_info"]["output_cost_per_image"] == 0.03
    # LiteLLM's megapixel is 2**20 pixels (FAL_PIXELS_PER_MEGAPIXEL), not 10**6
    per_pixel = found["fal-ai/flux/schnell"]["model_info"]["output_cost_per_pixel"]
    assert per_pixel == pytest.approx(0.012 / 1_048_576, rel=1e-12)
    assert FAL_PIXELS_PER_MEGAPIXEL == 1_048_576
    assert found["fal-ai/vid"]["model_info"]["output_cost_per_second"] == 0.01  # 0.6 a minute
    assert found["fal-ai/vid"]["model_info"]["mode"] == "video_generation"
    odd = found["fal-ai/flux-pro/v1.1"]["model_info"]
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
    assert set(default) == {
        "gpt-4o", "fal-ai/flux/dev", "fal-ai/flux/schnell", "fal-ai/flux-pro/v1.1"
    }  # fmt: skip
    capped = _deployments(GatewaySelection(max_models=1, required=("fal:fal-ai/vid",)))
    # first by id, + required
    assert set(capped) == {"gpt-4o", "fal-ai/flux-pro/v1.1", "fal-ai/vid"}
    picked = _deployments(
        GatewaySelection(providers=("fal",), include=("fal-ai/flux/*",), exclude=("*schnell",))
    )
    assert set(picked) == {"fal-ai/flux/dev"}
    unservable = _deployments(GatewaySelection(required=("fal:fal-ai/music",)))
    assert "fal-ai/music" not in unservable


def test_every_model_left_out_is_listed_under_its_reason() -> None:
    config = build_gateway_config(
        REGISTRY, UPSTREAMS,
        GatewaySelection(max_models=1, exclude=("*schnell",), required=("fal:fal-ai/music",)),
    )  # fmt: skip
    assert config["mpc"]["left_out"] == {
        "unsupported category": ["fal:fal-ai/music"],  # required, and still not servable
        "not in --categories": ["comet:embed-1", "fal:fal-ai/vid"],
        "excluded by --exclude": ["fal:fal-ai/flux/schnell"],
        "no price": ["comet:free-text"],
        "over --max-models": ["fal:fal-ai/flux/dev"],
    }
    served = {entry["model_name"] for entry in config["model_list"]}
    listed = {key for keys in config["mpc"]["left_out"].values() for key in keys}
    assert {f"{m['provider']}:{m['model_id']}" for m in REGISTRY["models"]} == listed | {
        f"{entry['model_info']['mpc_provider']}:{name}"
        for entry in config["model_list"] for name in [entry["model_name"]]
    }  # fmt: skip
    assert served == {"gpt-4o", "fal-ai/flux-pro/v1.1"}


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
        _priced("fal", "fal-ai/imagen4/preview", "text-to-image", "GPU seconds", 0.0011),
        _priced("fal", "fal-ai/ideogram/v3", "text-to-image", "second", 0.0011),
        _priced("fal", "fal-ai/flux-pro/kontext/edit", "image-to-image", "processed megapixels",
                0.003),
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
        # its FAL image cost reads no per-second key
        "fal-ai/imagen4/preview": [], "fal-ai/ideogram/v3": [],
        "fal-ai/flux-pro/kontext/edit": [], "fal-ai/clip-a": [], "emb-out": [], "eur-a": [],
        "out-only": ["output_cost_per_token"],  # the output price is right; input unknown
    }  # fmt: skip
    assert config["mpc"]["unpriced"] == {
        "LiteLLM's fal_ai answer for this model family has no image size":
            ["fal:fal-ai/recraft/v3/text-to-image"],
        "LiteLLM's fal_ai image_generation cost reads no price per compute second":
            ["fal:fal-ai/imagen4/preview"],
        "LiteLLM's fal_ai image_generation cost reads no price per second":
            ["fal:fal-ai/ideogram/v3"],
        "LiteLLM's fal_ai image_edit cost reads no price per processed megapixel":
            ["fal:fal-ai/flux-pro/kontext/edit"],
        "LiteLLM's fal_ai video_generation cost reads no price per video": ["fal:fal-ai/clip-a"],
        "no input token price in the registry (output only)": ["comet:emb-out", "comet:out-only"],
        "priced in EUR; LiteLLM counts USD": ["comet:eur-a"],
    }  # fmt: skip


def test_fal_deployments_reach_their_own_endpoint_on_the_run_and_queue_hosts_or_stay_out() -> None:
    image = {"unit_price": 0.03, "unit": "image"}
    registry = {"models": [
        _record("fal", "fal-ai/flux/dev", "text-to-image", image),
        _record("fal", "fal-ai/flux-pro/v2.1/standard", "text-to-image", image),
        _record("fal", "fal-ai/hidream-i1-full", "text-to-image", image),
        _record("fal", "fal-ai/kontext/edit", "image-to-image", image),
        _record("fal", "fal-ai/kontext", "image-to-image", image),
        _record("fal", "fal-ai/vid", "text-to-video", {"unit_price": 0.1, "unit": "second"}),
    ]}  # fmt: skip
    hosts = {"run": "http://127.0.0.1:9/run", "queue": "http://127.0.0.1:9/queue"}
    sandbox = {"fal": Upstream("fal", "sandbox", "http://127.0.0.1:9/v1", Secret("k"),
                               chat_url="http://127.0.0.1:9/v1", model_urls=hosts)}  # fmt: skip
    config = build_gateway_config(registry, sandbox, GatewaySelection(categories=()))
    bases = {e["model_name"]: e["litellm_params"]["api_base"] for e in config["model_list"]}
    assert bases == {
        "fal-ai/flux/dev": "http://127.0.0.1:9/run",  # LiteLLM appends fal-ai/flux/dev itself
        "fal-ai/kontext/edit": "http://127.0.0.1:9/run",  # LiteLLM appends the id, /edit ended
        "fal-ai/vid": "http://127.0.0.1:9/queue",  # LiteLLM appends the id on the queue
    }
    assert config["mpc"]["left_out"] == {
        ANOTHER_ENDPOINT: ["fal:fal-ai/flux-pro/v2.1/standard", "fal:fal-ai/kontext"],
        NO_INPUT_MAPPING: ["fal:fal-ai/hidream-i1-full"],
    }
    routes = {r["path"]: r["target"] for r in config["general_settings"]["pass_through_endpoints"]}
    assert routes == {"/fal": "http://127.0.0.1:9/v1", "/fal-run": hosts["run"],
                      "/fal-queue": hosts["queue"]}  # fmt: skip


def test_two_models_with_one_name_are_refused() -> None:
    tokens = {"unit_price": 1.0, "output_unit_price": 2.0, "unit": "1M tokens", "currency": "USD"}
    clash = {"models": [*REGISTRY["models"], _record("comet", "fal-ai/flux/dev", "llm", tokens)]}
    with pytest.raises(
        ConfigError, match="'fal-ai/flux/dev' is both comet:fal-ai/flux/dev and fal:fal-ai/flux/dev"
    ):
        build_gateway_config(clash, UPSTREAMS)


def test_pass_through_routes_and_free_health_checks_and_no_secret_on_disk(tmp_path: Path) -> None:
    config = build_gateway_config(REGISTRY, UPSTREAMS)
    general = config["general_settings"]
    assert general["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert general["background_health_checks"] is False
    routes = {route["path"]: route for route in general["pass_through_endpoints"]}
    assert routes["/fal"]["target"] == "https://api.fal.ai/v1"
    assert routes["/fal"]["headers"] == {"Authorization": "Key os.environ/FAL_KEY"}
    assert routes["/fal-run"]["target"] == "https://fal.run"
    assert routes["/fal-queue"]["target"] == "https://queue.fal.run"
    assert routes["/fal-queue"]["headers"] == routes["/fal"]["headers"]
    assert routes["/comet"]["headers"] == {"Authorization": "Bearer os.environ/COMETAPI_KEY"}
    assert all(route["auth"] and route["include_subpath"] for route in routes.values())
    path = write_gateway_config(tmp_path / "litellm.yaml", config)
    text = path.read_text()
    assert "fal-secret-1" not in text and "comet-secret-2" not in text
    assert yaml.safe_load(text)["model_list"] == config["model_list"]




def test_a_fal_upstream_without_model_hosts_leaves_litellm_its_own_fal_hosts() -> None:
    bare = {**UPSTREAMS, "fal": Upstream("fal", "live", "https://api.fal.ai/v1", Secret("k"))}
    config = build_gateway_config(REGISTRY, bare, GatewaySelection(categories=()))
    fal = [e for e in config["model_list"] if e["model_info"]["mpc_provider"] == "fal"]
    assert fal and not [e for e in fal if "api_base" in e["litellm_params"]]
    paths = [r["path"] for r in config["general_settings"]["pass_through_endpoints"]]
    assert paths == ["/fal", "/comet"]
