"""Where LiteLLM 1.108.7's `fal_ai` provider sends a FAL model, and so which FAL models the
gateway can serve as deployments, with which `api_base`.

LiteLLM does not call `<api_base>/<endpoint_id>` for every FAL model (read from its
source, `litellm/llms/fal_ai/`; research/contracts.md §8):
- **image generation** picks a config by substrings of the id.  A dozen hard-wired families
  append a fixed endpoint of their own to the api_base (every `flux-pro` id but the
  ultra ones goes to `fal-ai/flux-pro/v1.1`), a few build the path from the id
  (`nano-banana` prefixes `fal-ai/`, `gpt-image-2` prefixes `openai/`, `stable-diffusion`
  keeps an id with a slash), and every other id gets the generic config, which posts to
  the api_base itself and sends OpenAI's `size` and `n` as they are, where FAL reads
  `image_size` and `num_images`;
- **image edit** posts to `<api_base>/<id>/edit` unless the id already ends in `/edit`
  (any `flux-lora-depth` id goes to `fal-ai/flux-lora-depth`);
- **video generation** submits to `<api_base>/<id>` on the queue host, mapping `seconds`.

`fal_left_out(model_id, mode)` says why LiteLLM cannot reach a model's own endpoint with
input FAL reads, and `fal_api_base(mode, hosts)` gives the api_base of one it can.  The
others stay out of the gateway's `model_list` (`gateway.selection` lists them under the
reason; they are still callable through MPC-API, which posts to the endpoint itself).
No deployment routes to another model.  The rules mirror LiteLLM's dispatch;
tests/gateway/test_litellm_fal.py checks them against LiteLLM's own code for every FAL
id of the real catalog, and walks each deployment through the real proxy.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ANOTHER_ENDPOINT",
    "NO_INPUT_MAPPING",
    "UNSUPPORTED_MODE",
    "fal_api_base",
    "fal_left_out",
    "litellm_image_endpoint",
]

# Reasons a FAL model has no deployment (`mpc.left_out` keys).
ANOTHER_ENDPOINT = "LiteLLM's fal_ai provider would call another FAL endpoint for it"
NO_INPUT_MAPPING = (
    "LiteLLM's generic fal_ai config sends OpenAI's size and n untranslated "
    "(call it through MPC-API's /v1/images/generations)"
)
UNSUPPORTED_MODE = "LiteLLM's fal_ai provider does not serve this mode"

_EDIT_SUFFIX = "/edit"
_LORA_DEPTH = "fal-ai/flux-lora-depth"

# LiteLLM's image-generation dispatch, in its order: (substrings of the lower-cased id,
# what the config appends to the api_base).  A str is a fixed endpoint; a callable builds
# it from the id.
_FIXED: tuple[tuple[tuple[str, ...], str], ...] = (
    (("imagen4", "imagen-4"), "fal-ai/imagen4/preview"),
    (("recraft",), "fal-ai/recraft/v3/text-to-image"),
    (("bria",), "bria/text-to-image/3.2"),
)
_AFTER_FLUX_PRO: tuple[tuple[tuple[str, ...], str], ...] = (
    (("flux/dev", "flux-dev"), "fal-ai/flux/dev"),
    (("flux/schnell", "flux-schnell", "schnell"), "fal-ai/flux/schnell"),
    (("bytedance/seedream",), "fal-ai/bytedance/seedream/v3/text-to-image"),
    (("bytedance/dreamina",), "fal-ai/bytedance/dreamina/v3.1/text-to-image"),
    (("ideogram",), "fal-ai/ideogram/v3"),
)


def _prefixed(model_id: str, prefix: str) -> str:
    return model_id if model_id.startswith(prefix) else f"{prefix}{model_id}"


def litellm_image_endpoint(model_id: str) -> str | None:
    """The path LiteLLM's image generation appends to the api_base for `model_id`;
    None for the generic config, which posts to the api_base itself."""
    lower = model_id.lower()
    if "gpt-image-2" in lower:
        return _prefixed(model_id, "openai/")
    if "nano-banana" in lower or "gemini-25-flash-image" in lower:
        return _prefixed(model_id, "fal-ai/")
    for needles, endpoint in _FIXED:
        if any(needle in lower for needle in needles):
            return endpoint
    if "flux-pro" in lower:
        return "fal-ai/flux-pro/v1.1-ultra" if "ultra" in lower else "fal-ai/flux-pro/v1.1"
    for needles, endpoint in _AFTER_FLUX_PRO:
        if any(needle in lower for needle in needles):
            return endpoint
    if "stable-diffusion" in lower:
        return model_id if "/" in model_id else f"fal-ai/{model_id}"
    return None


def fal_left_out(model_id: str, mode: str) -> str | None:
    """Why LiteLLM cannot serve `model_id` in `mode` as itself, or None when it can."""
    if mode == "image_generation":
        endpoint = litellm_image_endpoint(model_id)
        if endpoint is None:
            return NO_INPUT_MAPPING
        return None if endpoint == model_id else ANOTHER_ENDPOINT
    if mode == "image_edit":
        if "flux-lora-depth" in model_id.lower():
            endpoint = _LORA_DEPTH
        else:
            endpoint = model_id if model_id.endswith(_EDIT_SUFFIX) else model_id + _EDIT_SUFFIX
        return None if endpoint == model_id else ANOTHER_ENDPOINT
    if mode == "video_generation":
        return None
    return UNSUPPORTED_MODE


def fal_api_base(mode: str, hosts: Mapping[str, str]) -> str | None:
    """The api_base of a FAL deployment LiteLLM serves as itself (`fal_left_out` is None):
    FAL's queue host for a video, its run host for the rest; LiteLLM appends the id.  None
    when `hosts` does not name it: LiteLLM's own default, FAL's real host, where the same
    rules hold."""
    return hosts.get("queue" if mode == "video_generation" else "run")
