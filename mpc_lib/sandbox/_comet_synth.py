"""Synthetic CometAPI catalogs: /v1/models items and /api/models records with fitting prices."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

from ._synth import EPOCH, SPAN_S, log_uniform, nice, stable_rng, title, words

__all__ = [
    "COMET_MODEL_TYPES",
    "KNOWN_COMET_MODELS",
    "comet_catalog_entry",
    "comet_model_type",
    "comet_provider_label",
    "generate_comet",
    "synthetic_comet_entry",
]

# (model_type, provider label, usual owned_by, base ids): the base ids are real Comet model ids
# (public facts), each served; the generator derives the rest of the catalog from them.
_COMET_FAMILIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("text", "OpenAI", "openai", words(
        "gpt-4o gpt-4o-mini gpt-4.1 gpt-4.1-mini gpt-4.1-nano gpt-5 gpt-5-mini gpt-5-nano"
        " gpt-5-chat-latest o1 o1-mini o3 o3-mini o3-pro o4-mini gpt-3.5-turbo gpt-4-turbo gpt-4"
        " chatgpt-4o-latest gpt-oss-120b")),
    ("text", "Anthropic", "anthropic", words(
        "claude-3-haiku-20240307 claude-3-5-haiku-20241022 claude-3-5-sonnet-20241022"
        " claude-3-7-sonnet-20250219 claude-sonnet-4-20250514 claude-opus-4-20250514"
        " claude-opus-4-1-20250805 claude-sonnet-4-5 claude-sonnet-4-5-20250929"
        " claude-haiku-4-5-20251001")),
    ("text", "Google", "vertex-ai", words(
        "gemini-2.0-flash gemini-2.0-flash-lite-preview-02-05 gemini-2.5-flash gemini-2.5-pro"
        " gemini-2.5-flash-lite")),
    ("text", "DeepSeek", "deepseek", words(
        "deepseek-chat deepseek-reasoner deepseek-v3 deepseek-r1 deepseek-v3.1 deepseek-v3.2-exp")),
    ("text", "Alibaba", "ali", words(
        "qwen-max qwen-plus qwen-turbo qwen-long qwen3-235b-a22b qwen3-32b qwen3-14b"
        " qwen3-coder-plus qwen2.5-72b-instruct qwen-vl-max qwq-32b")),
    ("text", "xAI", "xai", words(
        "grok-2 grok-3 grok-3-mini grok-4 grok-4-fast-reasoning grok-code-fast-1")),
    ("text", "Zhipu", "zhipu_4v", words(
        "glm-4 glm-4-plus glm-4-flash glm-4.5 glm-4.5-air glm-4.6 glm-4v")),
    ("text", "Moonshot", "moonshot", words(
        "moonshot-v1-8k moonshot-v1-32k moonshot-v1-128k kimi-k2-0905-preview")),
    ("text", "MiniMax", "minimax", words("abab6.5s-chat minimax-m2")),
    ("text", "Tencent", "tencent", words(
        "hunyuan-standard hunyuan-large hunyuan-t1-latest hunyuan-vision")),
    ("text", "ByteDance", "volcengine", words(
        "doubao-1.5-pro-32k doubao-1.5-pro-256k doubao-seed-1-6-250615")),
    ("text", "iFlytek", "xunfei", words("SparkDesk-v2.1 SparkDesk-v3.1")),
    ("text", "Meta", "custom", words("llama-4-scout llama-4-maverick")),
    ("image", "OpenAI", "openai", words("dall-e-2 dall-e-3 gpt-image-1 gpt-image-1-mini")),
    ("image", "Midjourney", "custom", words(
        "mj_fast_imagine mj_turbo_imagine mj_fast_upscale mj_fast_variation mj_fast_edits"
        " mj_fast_blend mj_fast_describe")),
    ("image", "Black Forest Labs", "custom", words(
        "flux-1.1-pro flux-pro-1.1-ultra flux-kontext-pro flux-kontext-max flux-dev"
        " black-forest-labs/flux-schnell")),
    ("image", "Ideogram", "custom", words(
        "ideogram-ai/ideogram-v3-quality ideogram-ai/ideogram-v3-turbo recraftv3"
        " recraft-ai/recraft-v3-svg")),
    ("image", "ByteDance", "volcengine", words(
        "doubao-seedream-3-0-t2i-250415 doubao-seedream-4-0-250828"
        " doubao-seededit-3-0-i2i-250628")),
    ("image", "Google", "vertex-ai", words("gemini-2.5-flash-image")),
    ("video", "OpenAI", "openai", words("sora-2 sora-2-pro")),
    ("video", "Google", "vertex-ai", words("veo3 veo3-fast veo3-pro veo3.1")),
    ("video", "Kuaishou", "custom", words("kling_video kling_extend kling_effects kling_lip_sync")),
    ("video", "Runway", "custom", words(
        "runway_video runwayml_video_to_video luma_video luma_extend")),
    ("video", "MiniMax", "minimax", words("minimax-hailuo-02 minimax_video-01")),
    ("video", "ByteDance", "volcengine", words(
        "doubao-seedance-1-0-pro-250528 doubao-seedance-1-0-lite-t2v-250428")),
    ("audio", "OpenAI", "openai", words(
        "whisper-1 tts-1 tts-1-hd gpt-4o-transcribe gpt-4o-mini-tts")),
    ("audio", "Suno", "custom", words("suno_music suno_lyrics suno_act_mp4 suno_concat")),
    ("embedding", "OpenAI", "openai", words(
        "text-embedding-3-small text-embedding-3-large text-embedding-ada-002")),
    ("embedding", "Tencent", "tencent", words("hunyuan-embedding")),
)  # fmt: skip
KNOWN_COMET_MODELS = {base: kind for kind, _, _, bases in _COMET_FAMILIES for base in bases}
_UNCATALOGUED_SHARE = 0.03  # of the other /v1/models ids: no /api/models entry (so no price)
COMET_MODEL_TYPES = ("text", "image", "video", "audio", "embedding")
_DATED = re.compile(r"\d{6}$")  # a base that already ends in a date takes no second one
_SUFFIXES = {
    "text": words(
        "-latest -preview -thinking -search-preview -all -nothinking -high -low -medium -exp"
        " -instruct -0528 -fast -free -online"
    ),
    "image": words("-hd -edit -fast -turbo -relax -variation -upscale"),
    "video": words("-fast -pro -i2v -t2v -hd -10s -relax -extend"),
    "audio": words("-hd -preview -realtime"),
    "embedding": words("-v2 -zh -lite"),
}
_TYPE_WEIGHTS = {"text": 74, "image": 11, "video": 8, "audio": 4, "embedding": 3}
_ENDPOINT_TYPES = {
    "text": ["openai"],
    "image": ["image-generation"],
    "video": ["openai-video"],
    "audio": ["openai"],
    "embedding": ["embeddings"],
}
_FIRST_FEATURE = {
    "text": "text-to-text",
    "image": "text-to-image",
    "video": "text-to-video",
    "audio": "text-to-audio",
    "embedding": "embedding",
}
_FEATURES = {
    "text": words("function-calling vision reasoning web-search"),
    "image": words("image-to-image inpainting"),
    "video": words("image-to-video"),
    "audio": words("speech-to-text text-to-speech"),
}
_TYPE_KEYWORDS = (
    ("embedding", words("embedding embed bge- rerank")),
    ("video", words("video sora veo kling runway luma hailuo seedance wan2 pika vidu")),
    ("image", words(
        "dall-e image mj_ midjourney flux ideogram recraft seedream seededit imagen"
        " stable-diffusion sdxl")),
    ("audio", words("whisper tts suno audio transcribe speech music")),
)  # fmt: skip
_LABEL_PREFIXES = (
    ("OpenAI", words("gpt o1 o3 o4 dall-e whisper tts sora chatgpt text-embedding")),
    ("Anthropic", words("claude")),
    ("Google", words("gemini gemma imagen veo")),
    ("DeepSeek", words("deepseek")),
    ("Alibaba", words("qwen qwq wan")),
    ("xAI", words("grok")),
    ("Zhipu", words("glm")),
    ("Moonshot", words("kimi moonshot")),
    ("ByteDance", words("doubao seed")),
    ("Midjourney", words("mj_")),
    ("Suno", words("suno")),
    ("Meta", words("llama")),
    ("Mistral", words("mistral")),
    ("Black Forest Labs", words("flux")),
)


def comet_model_type(model_id: str) -> str:
    """Guess text/image/video/audio/embedding from a Comet model id."""
    lowered = model_id.lower()
    for model_type, keywords in _TYPE_KEYWORDS:
        if any(word in lowered for word in keywords):
            return model_type
    return "text"


def comet_provider_label(model_id: str, owned_by: str) -> str:
    """A display provider such as "OpenAI" for a Comet model id."""
    lowered = model_id.lower()
    for label, prefixes in _LABEL_PREFIXES:
        if lowered.startswith(prefixes):
            return label
    return "Custom" if owned_by in ("", "custom") else owned_by.replace("_", " ").title()


def comet_catalog_entry(
    model_id: str, model_type: str, provider: str, rng: random.Random
) -> dict[str, Any]:
    """A raw /api/models record with prices that fit the model type."""
    pricing: dict[str, Any] = {
        "currency": "USD / M Tokens",
        "input": None,
        "output": None,
        "per_request": None,
        "per_second": None,
    }
    if model_type == "text":
        pricing["input"] = log_uniform(rng, 0.05, 15.0)
        pricing["output"] = nice(pricing["input"] * rng.choice((2, 3, 4, 5, 8)))
    elif model_type == "embedding":
        pricing["input"] = log_uniform(rng, 0.01, 0.2)
    elif model_type == "video":
        pricing["per_second"] = log_uniform(rng, 0.02, 0.6)
    else:
        pricing["per_request"] = log_uniform(rng, 0.002, 0.2)
    features = [_FIRST_FEATURE.get(model_type, "text-to-text")]
    features += [f for f in _FEATURES.get(model_type, ()) if rng.random() < 0.4]
    is_text = model_type == "text"
    return {
        "id": model_id,
        "code": model_id.replace(".", "-") if rng.random() < 0.3 else model_id,
        "name": title(model_id),
        "provider": provider,
        "model_type": model_type,
        "features": features,
        "description": f"{title(model_id)} by {provider} ({model_type}).",
        "context_length": rng.choice((8192, 32768, 128000, 200000, 1048576)) if is_text else None,
        "max_completion_tokens": rng.choice((4096, 8192, 16384, 65536)) if is_text else None,
        "pricing": pricing,
    }


def synthetic_comet_entry(model_id: str, model_type: str, provider: str) -> dict[str, Any] | None:
    """A made-up /api/models record for one id, or None (~3%, never a well-known one).

    Seeded by the id alone, so a model costs the same in the generated catalog and in a
    snapshot the sandbox serves.
    """
    rng = stable_rng("comet", model_id)
    if rng.random() < _UNCATALOGUED_SHARE and model_id not in KNOWN_COMET_MODELS:
        return None
    return comet_catalog_entry(model_id, model_type, provider, rng)


def _comet_created(rng: random.Random) -> int:
    if rng.random() < 0.7:
        return 1626777600
    return int((EPOCH + timedelta(seconds=rng.randrange(SPAN_S))).timestamp())


def generate_comet(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """About 570 raw /v1/models items (~3% without a catalog entry) and the /api/models catalog.

    Every well-known base id is served; variants of them (suffixes, dates) fill the rest.
    """
    chosen: dict[str, tuple[str, str, str]] = {}
    for model_type, label, owner, bases in _COMET_FAMILIES:
        for base in bases:
            chosen[base] = (model_type, label, owner)
    by_type: dict[str, list[tuple[str, str, str]]] = {}  # every base counts alike
    for model_type, label, owner, bases in _COMET_FAMILIES:
        by_type.setdefault(model_type, []).extend((label, owner, base) for base in bases)
    target = rng.randint(560, 580)
    types, weights = list(_TYPE_WEIGHTS), list(_TYPE_WEIGHTS.values())
    while len(chosen) < target:
        model_type = rng.choices(types, weights)[0]
        label, owner, base = rng.choice(by_type[model_type])
        suffix = rng.choice(_SUFFIXES[model_type])
        if rng.random() < 0.25 and not _DATED.search(base):
            suffix = f"-{rng.randint(2024, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        chosen.setdefault(base + suffix, (model_type, label, owner))
    models: list[dict[str, Any]] = []
    catalog: list[dict[str, Any]] = []
    for model_id in sorted(chosen):
        model_type, label, owner = chosen[model_id]
        keep_owner = owner == "custom" or rng.random() < (0.9 if owner == "openai" else 0.35)
        models.append(
            {
                "id": model_id,
                "object": "model",
                "created": _comet_created(rng),
                "owned_by": owner if keep_owner else "custom",
                "supported_endpoint_types": list(_ENDPOINT_TYPES[model_type])
                if rng.random() < 0.7
                else [],
            }
        )
        entry = synthetic_comet_entry(model_id, model_type, label)
        if entry is not None:
            catalog.append(entry)
    for n in range(rng.randint(3, 6)):
        model_type, label, _owner, bases = rng.choice(_COMET_FAMILIES)
        model_id = f"{rng.choice(bases)}-upcoming-{n + 1}"
        rng_id = stable_rng("comet", model_id)
        catalog.append(comet_catalog_entry(model_id, model_type, label, rng_id))
    return models, catalog
