"""Spend as the provider charges: one call per unit kind of the registry through the session's
real LiteLLM against the sandbox, its reported cost (`x-litellm-response-cost`) against the
registry's price times the units the call used; where LiteLLM cannot charge a unit, the
generated config says so, and LiteLLM reports no cost of ours."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from unit_kinds import UnitKind, unit_kinds

from mpc_lib.pricing import FAL_PIXELS_PER_MEGAPIXEL, Price, load_cost_map
from mpc_lib.pricing.prices import price_of
from mpc_lib.registry import RegistryStore

SECONDS = 4  # the video length every video call asks for
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture(scope="module")
def registry(gateway: Any) -> dict[str, Any]:
    found = RegistryStore(gateway.settings.outputs_dir).load()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def kinds(registry: dict[str, Any]) -> dict[UnitKind, str]:
    return unit_kinds(registry["models"])


@pytest.fixture(scope="module")
def http(gateway: Any) -> Any:
    key = gateway.settings.gateway_key.reveal()
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"},
                      timeout=60) as client:  # fmt: skip
        yield client


def _call(http: httpx.Client, mode: str, model: str) -> httpx.Response:
    """One call of `model` in its mode, the smallest that makes it work."""
    if mode == "chat":
        body = {"model": model, "messages": [{"role": "user", "content": "price this call"}]}
        return http.post("/v1/chat/completions", json=body)
    if mode == "embedding":
        return http.post("/v1/embeddings", json={"model": model, "input": "price this call"})
    if mode == "image_generation":
        return http.post("/v1/images/generations", json={"model": model, "prompt": "a lighthouse"})
    if mode == "image_edit":
        files = {"image": ("in.png", PNG, "image/png")}
        return http.post("/v1/images/edits", data={"model": model, "prompt": "at dusk"},
                         files=files)  # fmt: skip
    if mode == "video_generation":
        body = {"model": model, "prompt": "waves", "seconds": str(SECONDS)}
        return http.post("/v1/videos", json=body)
    raise AssertionError(f"no call for mode {mode}")


def _units_cost(price: Price, answer: dict[str, Any]) -> float:
    """The registry's price times what the call used, counted as the provider bills it."""
    unit, rate = price.unit, price.unit_price
    usage = answer.get("usage") or {}
    if unit == "1M input tokens":
        prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        return (prompt * (rate or 0.0) + completion * (price.output_unit_price or 0.0)) / 1e6
    assert rate is not None
    if unit == "1M tokens":
        return usage["total_tokens"] * rate / 1e6
    if unit in ("image", "request"):
        return rate * len(answer["data"])
    if unit == "megapixel":  # FAL bills each image by whole megapixels of 2**20 pixels
        sizes = [image["provider_specific_fields"] for image in answer["data"]]
        pixels = [size["width"] * size["height"] for size in sizes]
        return rate * sum(math.ceil(n / FAL_PIXELS_PER_MEGAPIXEL) for n in pixels)
    if unit in ("second", "video second"):
        return rate * SECONDS
    if unit == "minute":
        return rate / 60 * SECONDS
    raise AssertionError(f"a unit the test cannot count: {unit}")


MODES = ("chat", "embedding", "image_generation", "image_edit", "video_generation")


@pytest.mark.parametrize("mode", MODES)
def test_litellm_charges_each_unit_kind_as_the_registry_prices_it(
    mode: str, gateway: Any, registry: dict[str, Any], kinds: dict[UnitKind, str], http: Any
) -> None:
    mine = {kind: key for kind, key in kinds.items() if kind[1] == mode}
    if not mine:
        pytest.skip(f"the registry prices no model served in mode {mode}")
    records = {f"{m['provider']}:{m['model_id']}": m for m in registry["models"]}
    infos = {e["model_name"]: e["model_info"] for e in gateway.config["model_list"]}
    unpriced = {key for keys in gateway.config["mpc"]["unpriced"].values() for key in keys}
    bundled = load_cost_map()
    checked = []
    for (_, _, unit), key in sorted(mine.items()):
        model = records[key]["model_id"]
        price, info = price_of(records[key], None), infos[model]
        answer = _call(http, mode, model)
        assert answer.status_code == 200, (key, answer.text)
        reported = answer.headers.get("x-litellm-response-cost")
        if "mpc_unpriced" in info:
            # LiteLLM cannot charge this unit in this mode: the config says so and carries no
            # key LiteLLM would misread; LiteLLM logs its own bundled price, or nothing
            assert key in unpriced and not [name for name in info if "cost" in name], key
            if bundled.lookup(price)[1] is None:
                assert reported is None or float(reported) == 0.0, (key, reported)
        else:
            assert key not in unpriced
            expected = _units_cost(price, answer.json())
            assert expected > 0, key
            assert reported is not None, (key, unit, info)
            assert float(reported) == pytest.approx(expected, rel=1e-9), (key, unit, info)
        checked.append(unit)
    assert checked


def test_every_unit_kind_the_registry_prices_is_served_and_checked(
    gateway: Any, kinds: dict[UnitKind, str]
) -> None:
    served = {f"{e['model_info']['mpc_provider']}:{e['model_name']}"
              for e in gateway.config["model_list"]}  # fmt: skip
    assert set(kinds.values()) <= served
    assert {mode for _, mode, _ in kinds} <= set(MODES)
    # what the sandbox prices today: each is called above
    assert {("fal", "image_generation", "megapixel"), ("fal", "image_generation", "image"),
            ("comet", "chat", "1M input tokens")} <= set(kinds)  # fmt: skip


def test_a_per_megapixel_price_is_written_per_pixel_of_a_2_to_the_20_megapixel(
    gateway: Any, registry: dict[str, Any], kinds: dict[UnitKind, str]
) -> None:
    written = yaml.safe_load(
        (Path(gateway.settings.outputs_dir) / "gateway" / "litellm.yaml").read_text()
    )
    infos = {e["model_name"]: e["model_info"] for e in written["model_list"]}
    key = kinds[("fal", "image_generation", "megapixel")]
    record = next(m for m in registry["models"] if f"fal:{m['model_id']}" == key)
    per_pixel = infos[record["model_id"]]["output_cost_per_pixel"]
    assert per_pixel == pytest.approx(record["pricing"]["unit_price"] / 1_048_576, rel=1e-11)
