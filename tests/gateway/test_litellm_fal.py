"""`gateway/litellm_fal.py` against LiteLLM's own fal_ai code: for every FAL model of the
real 2025 catalog, in the mode the gateway would serve it, the URL LiteLLM builds from the
api_base we give is the model's own endpoint, or we leave the model out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mpc_lib.gateway.litellm_fal import (
    ANOTHER_ENDPOINT,
    NO_INPUT_MAPPING,
    fal_api_base,
    fal_left_out,
    litellm_image_endpoint,
)
from mpc_lib.gateway.selection import FAL_CATEGORY_MODES, serving
from mpc_lib.registry import RegistryStore
from mpc_lib.sandbox import Sandbox

HOSTS = {"run": "http://run.test", "queue": "http://queue.test"}


# Run in a process of its own: importing litellm here would leave it in this test process
# (and take its seconds), where other tests check that nothing imports it.
_LITELLM_URLS = """
import json, sys
from litellm.llms.fal_ai.image_edit import get_fal_ai_image_edit_config
from litellm.llms.fal_ai.image_generation import get_fal_ai_image_generation_config
from litellm.llms.fal_ai.videos.transformation import FalAIVideoConfig
from litellm.types.router import GenericLiteLLMParams

found = []
for model_id, mode, api_base in json.load(sys.stdin):
    if mode == "image_generation":
        config = get_fal_ai_image_generation_config(model_id)
        url = config.get_complete_url(api_base, "key", model_id, {}, {})
    elif mode == "image_edit":
        config = get_fal_ai_image_edit_config(model_id)
        url = config.get_complete_url(model_id, api_base, {})
    else:
        config = FalAIVideoConfig()
        base = config.get_complete_url(model_id, api_base, {})
        _, _, url = config.transform_video_create_request(
            model_id, "a cat", base, {}, GenericLiteLLMParams(), {})
    found.append([url, type(config).__name__])
json.dump(found, sys.stdout)
"""


def _litellm_urls(calls: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """(the URL LiteLLM 1.108.7 posts to, its config class) per (model id, mode, api_base)."""
    done = subprocess.run(
        [sys.executable, "-c", _LITELLM_URLS], input=json.dumps(calls), capture_output=True,
        text=True, timeout=120, check=False,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return [(url, config) for url, config in json.loads(done.stdout)]


def test_every_fal_model_of_the_real_catalog_reaches_its_own_endpoint_or_is_left_out(
    real_catalog: Path,
) -> None:
    registry = RegistryStore(real_catalog).load()
    assert registry is not None
    checked: dict[str, int] = {}
    cases = []
    for record in registry["models"]:
        if record["provider"] != "fal":
            continue
        model_id, mode = record["model_id"], FAL_CATEGORY_MODES.get(record["category"])
        if mode is not None:
            cases.append((record, model_id, mode, fal_api_base(mode, HOSTS)))
    urls = _litellm_urls([(model_id, mode, base) for _, model_id, mode, base in cases])
    for (record, model_id, mode, base), (url, config) in zip(cases, urls, strict=True):
        reason = fal_left_out(model_id, mode)
        assert serving(record).left_out == reason  # the gateway's selection says the same
        own = f"{base}/{model_id}"
        if reason is None:
            assert url == own, (model_id, mode, url)
            assert config != "FalAIImageGenerationConfig", model_id
            outcome = "served"
        elif reason == NO_INPUT_MAPPING:
            assert config == "FalAIImageGenerationConfig", (model_id, config)
            outcome = "generic"
        else:
            assert reason == ANOTHER_ENDPOINT
            assert url != own, (model_id, mode, url)
            outcome = "elsewhere"
        checked[f"{mode} {outcome}"] = checked.get(f"{mode} {outcome}", 0) + 1
    # the real catalog has every case: served and left out, in every mode LiteLLM serves
    assert checked["image_generation served"] > 0
    assert checked["image_generation generic"] > 50  # the bare-host case the issue counts
    assert checked["image_generation elsewhere"] > 0
    assert checked["image_edit elsewhere"] > 100  # `/edit` appended
    assert checked["video_generation served"] > 100


@pytest.mark.parametrize(
    ("model_id", "endpoint"),
    [
        ("fal-ai/flux/dev", "fal-ai/flux/dev"),
        ("fal-ai/flux-pro/v2.1/standard", "fal-ai/flux-pro/v1.1"),  # the example
        ("fal-ai/flux-pro/v1.1-ultra", "fal-ai/flux-pro/v1.1-ultra"),
        ("fal-ai/nano-banana", "fal-ai/nano-banana"),
        ("fal-ai/stable-diffusion-v35-large", "fal-ai/stable-diffusion-v35-large"),
        ("fal-ai/hidream-i1-full", None),
    ],
)
def test_image_endpoint_follows_litellms_dispatch(model_id: str, endpoint: str | None) -> None:
    assert litellm_image_endpoint(model_id) == endpoint


def test_every_fal_deployment_of_the_session_gateway_reaches_its_own_endpoint(
    gateway: Any, sandbox: Sandbox
) -> None:
    """Each FAL deployment of the default selection (plus the alias targets and one per unit
    kind), called through the real LiteLLM, lands on its own endpoint of the emulator, which
    answers only exact endpoint ids."""
    deployments = [entry for entry in gateway.config["model_list"]
                   if entry["model_info"]["mpc_provider"] == "fal"]  # fmt: skip
    modes = {entry["model_info"]["mode"] for entry in deployments}
    assert {"image_generation", "video_generation"} <= modes
    key = gateway.settings.gateway_key.reveal()
    png = ("in.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "image/png")
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"},
                      timeout=60) as http:  # fmt: skip
        for entry in deployments:
            name, mode = entry["model_name"], entry["model_info"]["mode"]
            since = len(sandbox.requests("fal"))  # no reset: a background run shares the sandbox
            if mode == "image_generation":
                body = {"model": name, "prompt": "a lighthouse", "size": "1024x1024"}
                answer = http.post("/v1/images/generations", json=body)
                host = "run"
            elif mode == "image_edit":
                answer = http.post("/v1/images/edits", data={"model": name, "prompt": "at dusk"},
                                   files={"image": png})  # fmt: skip
                host = "run"
            else:
                body = {"model": name, "prompt": "waves", "seconds": "4"}
                answer = http.post("/v1/videos", json=body)
                host = "queue"
            assert answer.status_code == 200, (name, answer.text)
            calls = [(r.method, r.path, r.status) for r in sandbox.requests("fal")[since:]
                     if r.path.startswith(("/run/", "/queue/")) and r.method == "POST"]  # fmt: skip
            # the model's own endpoint, and no call LiteLLM made elsewhere (a 404 here)
            assert ("POST", f"/{host}/{name}", 200) in calls, (name, calls)
            assert not [c for c in calls if c[2] == 404], (name, calls)
