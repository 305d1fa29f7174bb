"""A registry price as the LiteLLM cost keys that charge it, and why LiteLLM cannot when it cannot.

LiteLLM prices a call with the calculator for the deployment's provider and mode, and
each calculator reads its own keys (litellm 1.108.7):

| LiteLLM provider, mode   | reads                                     | in litellm/             |
|--------------------------|-------------------------------------------|-------------------------|
| openai, chat             | input/output_cost_per_token               | cost_calculator.py      |
| openai, embedding        | input_cost_per_token                      | cost_calculator.py      |
| openai, image_generation | output_cost_per_image (x images)          | cost_calculator.py      |
| fal_ai, image_generation | output_cost_per_image, _per_pixel         | llms/fal_ai/cost_calc.. |
| fal_ai, image_edit       | output_cost_per_image, _per_pixel         | llms/fal_ai/cost_calc.. |
| fal_ai, video_generation | output_cost_per_second (x seconds asked)  | llms/openai/cost_calc.. |

Registry unit -> key: tokens -> per token (a price per 1M / 1,000,000); image -> per
image; megapixel -> per pixel (a price per megapixel / 1,048,576, LiteLLM's and FAL's
megapixel; LiteLLM rounds each image up to whole megapixels, and its imagen4, recraft,
bria, ideogram and stable-diffusion parsers keep no image size, so none there); second
and video second -> per second; in a mode, also: minute -> per second (/ 60) for video,
request -> per image for images (one image per request, the default).  A unit the mode's
calculator does not read (a GPU second on an image model, processed megapixels, a whole
video, ...) gets no key there, and a reason: a wrong key would log a wrong spend; with
none, LiteLLM logs its own bundled price, or $0, and `mpc gateway config` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..providers import PROVIDERS
from .prices import INPUT_TOKENS, TOKENS_PER_PRICE_UNIT, Price

__all__ = ["FAL_PIXELS_PER_MEGAPIXEL", "CostKeys", "litellm_cost_keys", "litellm_provider"]

# A megapixel as FAL bills it and LiteLLM counts it (litellm/llms/fal_ai/cost_calculator.py:
# FAL_PIXELS_PER_MEGAPIXEL): 2**20 pixels, not 10**6.
FAL_PIXELS_PER_MEGAPIXEL = 1_048_576

_TOKEN_KEYS = ("input_cost_per_token", "output_cost_per_token")
# Canonical unit -> (the key a price per that unit becomes, how many key units one holds).
_UNIT_KEYS: dict[str, tuple[str, float]] = {
    "image": ("output_cost_per_image", 1.0),
    "megapixel": ("output_cost_per_pixel", float(FAL_PIXELS_PER_MEGAPIXEL)),
    "second": ("output_cost_per_second", 1.0),
    "video second": ("output_cost_per_second", 1.0),
}
_IMAGE_MODES = ("image_generation", "image_edit")
# FAL image families whose LiteLLM response parser keeps no image size, so a per-pixel price
# cannot apply (llms/fal_ai/image_generation/__init__.py picks the parser by these words, in
# this order; imagen4, recraft, bria, ideogram, stable_diffusion_transformation.py drop it).
_SIZED_FIRST = ("gpt-image-2", "nano-banana", "gemini-25-flash-image")
_SIZELESS = ("imagen4", "imagen-4", "recraft", "bria", "ideogram", "stable-diffusion")
# (LiteLLM provider, mode) -> the keys its cost calculator reads (see the module docstring).
_READS: dict[tuple[str, str], frozenset[str]] = {
    ("openai", "chat"): frozenset(_TOKEN_KEYS),
    ("openai", "embedding"): frozenset({"input_cost_per_token"}),
    ("openai", "image_generation"): frozenset({"output_cost_per_image"}),
    ("fal_ai", "image_generation"): frozenset({"output_cost_per_image", "output_cost_per_pixel"}),
    ("fal_ai", "image_edit"): frozenset({"output_cost_per_image", "output_cost_per_pixel"}),
    ("fal_ai", "video_generation"): frozenset({"output_cost_per_second"}),
}


@dataclass(frozen=True)
class CostKeys:
    """LiteLLM `model_info` cost keys for one price; `unpriced` says what LiteLLM cannot charge."""

    keys: dict[str, float] = field(default_factory=dict)
    unpriced: str | None = None


def litellm_provider(provider: str) -> str:
    """The LiteLLM provider a registry provider's deployments use (`fal_ai`, `openai`)."""
    return PROVIDERS[provider].gateway_model.split("/", 1)[0]


def litellm_cost_keys(price: Price, mode: str | None = None) -> CostKeys:
    """The cost keys that charge `price`; given the deployment's `mode`, only keys it reads.

    Without a mode, each unit's own key (what `mpc pricing drift` compares with the
    cost map).  A missing price is never a 0: it stays out, with a reason.
    """
    if not price.priced:
        return CostKeys(unpriced="no price in the registry")
    if price.currency != "USD":
        return CostKeys(unpriced=f"priced in {price.currency}; LiteLLM counts USD")
    if not price.known_unit:
        return CostKeys(unpriced=f"priced per {price.raw_unit!r}, a unit we do not know")
    keys = _keys(price, mode)
    if mode is None:
        return CostKeys(keys) if keys else CostKeys(unpriced=f"no LiteLLM key per {price.unit}")
    provider = litellm_provider(price.provider)
    reads = _READS.get((provider, mode), frozenset())
    if (provider, mode) == ("fal_ai", "image_generation") and _sizeless(price.model_id):
        reads = reads - {"output_cost_per_pixel"}
    read = {name: value for name, value in keys.items() if name in reads}
    if price.unit == INPUT_TOKENS and price.unit_price is None and "input_cost_per_token" in reads:
        return CostKeys(read, unpriced="no input token price in the registry (output only)")
    if not read:
        reason = f"LiteLLM's {provider} {mode} cost reads no price per {price.unit}"
        if "output_cost_per_pixel" in keys and _sizeless(price.model_id):
            reason = f"LiteLLM's {provider} answer for this model family has no image size"
        return CostKeys(unpriced=reason)
    return CostKeys(read)


def _sizeless(model_id: str) -> bool:
    """Whether LiteLLM parses this FAL text-to-image model's answer without image sizes."""
    lowered = model_id.lower()
    return not any(w in lowered for w in _SIZED_FIRST) and any(w in lowered for w in _SIZELESS)


def _keys(price: Price, mode: str | None) -> dict[str, float]:
    """Every key the price maps onto, whatever the mode reads."""
    unit, value = price.unit, price.unit_price
    if unit == INPUT_TOKENS:
        pairs = zip(_TOKEN_KEYS, (value, price.output_unit_price), strict=True)
        return {name: _per(v, TOKENS_PER_PRICE_UNIT) for name, v in pairs if v is not None}
    if value is None:
        return {}
    if unit == "1M tokens":  # one rate for every token
        return dict.fromkeys(_TOKEN_KEYS, _per(value, TOKENS_PER_PRICE_UNIT))
    if unit == "request" and mode in _IMAGE_MODES:
        return {"output_cost_per_image": value}
    if unit == "minute" and mode == "video_generation":
        return {"output_cost_per_second": _per(value, 60.0)}
    if unit in _UNIT_KEYS:
        name, count = _UNIT_KEYS[unit]
        return {name: _per(value, count)}
    return {}


def _per(price: float, count: float) -> float:
    """`price / count` without binary noise (2.11 / 1e6 is 2.11e-06, not 2.1099999999999997e-06)."""
    return float(f"{price / count:.12g}")
