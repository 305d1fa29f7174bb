"""Synthetic FAL catalogs (our own vocabulary and price rules) and helpers the Comet one shares."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "EPOCH",
    "FAL_CATEGORY_COUNTS",
    "KNOWN_FAL_MODELS",
    "SPAN_S",
    "fal_price",
    "fal_price_item",
    "generate_fal",
    "iso_z",
    "log_uniform",
    "nice",
    "stable_rng",
    "synthetic_fal_price",
    "title",
    "words",
]

# Roughly the real FAL catalog's category mix (late 2025).
FAL_CATEGORY_COUNTS: tuple[tuple[str, int], ...] = (
    ("image-to-image", 281), ("image-to-video", 127), ("text-to-image", 116),
    ("text-to-video", 92), ("video-to-video", 88), ("text-to-audio", 33), ("vision", 30),
    ("image-to-3d", 20), ("text-to-speech", 19), ("training", 17), ("audio-to-audio", 10),
    ("speech-to-text", 8), ("llm", 6), ("audio-to-video", 5), ("3d-to-3d", 3),
    ("video-to-audio", 3), ("json", 3), ("speech-to-speech", 2), ("text-to-json", 1),
    ("text-to-3d", 1), ("image-to-json", 1),
)  # fmt: skip

# The real endpoint ids of well-known FAL models, by their real category (public facts): the
# generated catalog holds them in place of invented ones, so examples run on both worlds.
# Names, descriptions and prices stay our own; every one of them is priced.
KNOWN_FAL_MODELS: dict[str, tuple[str, ...]] = {
    "text-to-image": (
        "fal-ai/flux/dev", "fal-ai/flux/schnell", "fal-ai/flux-pro/v1.1",
        "fal-ai/flux-pro/v1.1-ultra", "fal-ai/flux-lora", "fal-ai/flux/krea",
        "fal-ai/flux-pro/kontext/text-to-image", "fal-ai/recraft/v3/text-to-image",
        "fal-ai/ideogram/v3", "fal-ai/imagen4/preview", "fal-ai/nano-banana",
        "fal-ai/bytedance/seedream/v4/text-to-image", "fal-ai/hidream-i1-full",
        "fal-ai/qwen-image", "fal-ai/stable-diffusion-v35-large",
    ),
    "image-to-image": (
        "fal-ai/flux-pro/kontext", "fal-ai/flux/dev/image-to-image", "fal-ai/nano-banana/edit",
        "fal-ai/bytedance/seedream/v4/edit", "fal-ai/ideogram/v3/edit", "fal-ai/birefnet",
        "fal-ai/clarity-upscaler", "fal-ai/esrgan",
    ),
    "image-to-video": (
        "fal-ai/kling-video/v2.1/master/image-to-video",
        "fal-ai/kling-video/v2.1/standard/image-to-video",
        "fal-ai/kling-video/v2.1/pro/image-to-video",
        "fal-ai/kling-video/v2.5-turbo/pro/image-to-video", "fal-ai/veo3/image-to-video",
        "fal-ai/veo3/fast/image-to-video", "fal-ai/minimax/hailuo-02/standard/image-to-video",
        "fal-ai/luma-dream-machine/ray-2/image-to-video", "fal-ai/ltxv-2/image-to-video",
        "fal-ai/wan/v2.2-a14b/image-to-video", "fal-ai/sora-2/image-to-video",
    ),
    "text-to-video": (
        "fal-ai/kling-video/v2.1/master/text-to-video",
        "fal-ai/kling-video/v2.5-turbo/pro/text-to-video", "fal-ai/veo3", "fal-ai/veo3/fast",
        "fal-ai/veo3.1", "fal-ai/minimax/hailuo-02/standard/text-to-video",
        "fal-ai/wan/v2.2-a14b/text-to-video", "fal-ai/sora-2/text-to-video",
        "fal-ai/luma-dream-machine/ray-2",
    ),
    "video-to-video": (
        "fal-ai/sora-2/video-to-video/remix", "fal-ai/luma-dream-machine/ray-2/modify",
    ),
    "text-to-audio": (
        "fal-ai/stable-audio-25/text-to-audio", "fal-ai/elevenlabs/sound-effects/v2",
        "fal-ai/minimax-music/v1.5",
    ),
    "text-to-speech": ("fal-ai/elevenlabs/tts/turbo-v2.5", "fal-ai/minimax/speech-2.6-hd"),
    "speech-to-text": ("fal-ai/whisper", "fal-ai/wizper"),
    "audio-to-audio": ("fal-ai/elevenlabs/audio-isolation",),
    "video-to-audio": ("fal-ai/kling-video/video-to-audio",),
    "speech-to-speech": ("fal-ai/chatterbox/speech-to-speech",),
    "image-to-3d": ("fal-ai/hunyuan3d/v2", "fal-ai/hunyuan3d-v21", "fal-ai/trellis"),
    "text-to-3d": ("fal-ai/meshy/v6-preview/text-to-3d",),
    "vision": ("fal-ai/florence-2-large/caption", "fal-ai/moondream2"),
    "training": ("fal-ai/flux-lora-fast-training", "fal-ai/flux-lora-portrait-trainer"),
    "llm": ("openrouter/router",),
}  # fmt: skip
_KNOWN_FAL_IDS = frozenset(i for ids in KNOWN_FAL_MODELS.values() for i in ids)
_UNPRICED_SHARE = 0.02  # of the other FAL models: the real catalog prices nearly all


def words(text: str) -> tuple[str, ...]:
    """A tuple of words: keeps the vocabulary below compact; "~" stands for the empty word."""
    return tuple("" if word == "~" else word for word in text.split())


_VIDEO_UNITS = (("video_second", 0.04, 0.5), ("second", 0.02, 0.3), ("video", 0.2, 2.5))
_3D_UNITS = (("generation", 0.1, 0.8),)
_JSON_UNITS = (("request", 0.001, 0.02),)
# category -> (unit, low, high) choices; prices are log-uniform between low and high
_FAL_UNITS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "text-to-image": (("image", 0.003, 0.08), ("megapixels", 0.01, 0.06)),
    "image-to-image": (
        ("image", 0.003, 0.06),
        ("megapixels", 0.01, 0.05),
        ("processed megapixels", 0.001, 0.01),
    ),
    "image-to-video": _VIDEO_UNITS,
    "text-to-video": _VIDEO_UNITS,
    "video-to-video": _VIDEO_UNITS[:2],
    "audio-to-video": (("second", 0.02, 0.2),),
    "text-to-audio": (("minute", 0.01, 0.3), ("second", 0.0005, 0.01)),
    "audio-to-audio": (("minute", 0.01, 0.2),),
    "video-to-audio": (("second", 0.001, 0.02),),
    "text-to-speech": (("1k characters", 0.01, 0.3),),
    "speech-to-speech": (("minute", 0.02, 0.3),),
    "speech-to-text": (("minute", 0.001, 0.02),),
    "vision": (("image", 0.0005, 0.01), ("1M tokens", 0.1, 2.0)),
    "image-to-3d": _3D_UNITS,
    "text-to-3d": _3D_UNITS,
    "3d-to-3d": _3D_UNITS,
    "training": (("step", 0.0005, 0.005),),
    "llm": (("1M tokens", 0.1, 15.0),),
    "json": _JSON_UNITS,
    "text-to-json": _JSON_UNITS,
    "image-to-json": _JSON_UNITS,
}
_DEFAULT_UNITS = (("request", 0.001, 0.05),)

_IMAGE = words(
    "flux flux-pro flux-kontext recraft ideogram stable-diffusion-v35 hidream imagen4 seedream"
    " qwen-image sana playground aura-flow lumina kolors omnigen luma-photon fooocus juggernaut"
    " realvis dreamshaper pixart hunyuan-image nano-banana reve bagel gpt-image"
)
_VIDEO = words(
    "kling-video minimax-video wan veo3 luma-dream-machine pika hunyuan-video ltx-video seedance"
    " pixverse vidu magi cogvideox mochi sora-2 marey framepack hailuo"
)
_AUDIO = words(
    "stable-audio elevenlabs mmaudio playai kokoro dia orpheus chatterbox f5-tts whisper wizper"
    " minimax-music ace-step lyria2 diffrhythm sfx yue"
)
_VISION = words(
    "florence-2-large moondream2 llava-next sam2 birefnet imageutils qwen-vl got-ocr"
    " depth-anything yolo-world x-ailab isaac"
)
_3D = words("hunyuan3d trellis tripo3d triposr meshy rodin hyper3d sparc3d")
_TRAINING = words(
    "flux-lora-fast-training flux-kontext-trainer wan-trainer hunyuan-video-lora-training"
    " qwen-image-trainer sdxl-lora-training ltx-trainer flux-krea-trainer"
)
_LLM = words("any-llm openrouter qwen-llm deepseek llama-router")
# category -> (families, task suffixes)
_FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "text-to-image": (_IMAGE, words("~ ~ text-to-image lora turbo fast ultra raw")),
    "image-to-image": (
        _IMAGE,
        words(
            "edit inpaint outpaint upscale redux relight remove-background style-transfer"
            " image-to-image controlnet face-swap colorize restore expand reframe try-on"
        ),
    ),
    "image-to-video": (
        _VIDEO,
        words("image-to-video image-to-video start-end-frame reference-to-video"),
    ),
    "text-to-video": (_VIDEO, words("text-to-video text-to-video effects")),
    "video-to-video": (_VIDEO, words("video-to-video extend upscale lipsync reframe remix edit")),
    "audio-to-video": (_VIDEO, words("audio-to-video avatar talking-head")),
    "text-to-audio": (_AUDIO, words("text-to-audio music sound-effects ~")),
    "audio-to-audio": (_AUDIO, words("audio-to-audio separate enhance voice-changer")),
    "video-to-audio": (_AUDIO, words("video-to-audio foley")),
    "text-to-speech": (_AUDIO, words("tts text-to-speech speech ~")),
    "speech-to-speech": (_AUDIO, words("speech-to-speech voice-clone")),
    "speech-to-text": (_AUDIO, words("transcribe speech-to-text diarize ~")),
    "vision": (
        _VISION,
        words(
            "caption detailed-caption ocr object-detection segment depth describe"
            " region-to-description nsfw"
        ),
    ),
    "image-to-3d": (_3D, words("image-to-3d multi-view ~ v2")),
    "text-to-3d": (_3D, words("text-to-3d")),
    "3d-to-3d": (_3D, words("retexture remesh rig")),
    "training": (_TRAINING, words("~ portrait style v2")),
    "llm": (_LLM, words("~ enterprise router chat")),
    "json": (_LLM, words("json structured")),
    "text-to-json": (_LLM, words("extract")),
    "image-to-json": (_VISION, words("json")),
}
_VERSIONS = words("~ ~ ~ v1 v1.5 v1.6 v2 v2.1 v2.2 v2.5 v3")
_TIERS = words("~ ~ ~ pro standard master lite fast turbo")
_OTHER_OWNERS = words(
    "bria easel-ai rundiffusion-fal veed mirelo-ai moonvalley decart sonauto cassetteai"
    " beatoven resemble-ai argil"
)
_LICENSES, _LICENSE_WEIGHTS = ("commercial", "research", "private"), (85, 12, 3)
_TAGS = words("new beta pro turbo fast lora stylized realism commercial editing")
_BLURB = {
    "image": "Create and edit images",
    "video": "Generate video clips",
    "audio": "Produce audio",
    "speech": "Work with speech",
    "vision": "Understand images",
    "3d": "Build 3D assets",
    "training": "Fine-tune your own weights",
    "llm": "Run language models",
    "json": "Extract structured JSON",
}
EPOCH = datetime(2023, 6, 1, tzinfo=UTC)
SPAN_S = int((datetime(2025, 11, 20, tzinfo=UTC) - EPOCH).total_seconds())


def stable_rng(*parts: str) -> random.Random:
    """A Random seeded from a SHA-256 of `parts`, the same on every run and machine."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as FAL writes timestamps."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def nice(value: float) -> float:
    return float(f"{value:.3g}")


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return nice(low * (high / low) ** rng.random())


def fal_price_item(
    endpoint_id: str, price: float, unit: str, currency: str = "USD"
) -> dict[str, Any]:
    """One FAL /models/pricing item."""
    return {"endpoint_id": endpoint_id, "unit_price": price, "unit": unit, "currency": currency}


def fal_price(category: str | None, rng: random.Random) -> tuple[str, float]:
    """A (unit, unit_price) that fits a FAL category."""
    unit, low, high = rng.choice(_FAL_UNITS.get(category or "", _DEFAULT_UNITS))
    return unit, log_uniform(rng, low, high)


def synthetic_fal_price(endpoint_id: str, category: str | None) -> dict[str, Any] | None:
    """A made-up /models/pricing item for one endpoint, or None (~2%, never a well-known one).

    Seeded by the id alone, so an endpoint costs the same in the generated catalog and in
    a snapshot the sandbox serves.
    """
    rng = stable_rng("fal", endpoint_id)
    if rng.random() < _UNPRICED_SHARE and endpoint_id not in _KNOWN_FAL_IDS:
        return None
    unit, price = fal_price(category, rng)
    return fal_price_item(endpoint_id, price, unit)


def title(slug: str) -> str:
    words = slug.replace("_", "-").split("-")
    return " ".join(w if w[:1] == "v" and w[1:2].isdigit() else w.capitalize() for w in words if w)


def _blurb(category: str) -> str:
    for key in ("speech", "training", "llm", "json", "3d", "vision", "video", "audio", "image"):
        if key in category:
            return _BLURB[key]
    return "Run a model"


def _fal_endpoint_id(rng: random.Random, category: str) -> tuple[str, str, str]:
    families, suffixes = _FAMILIES.get(category, (_LLM, ("",)))
    family = rng.choice(families)
    owner = "fal-ai" if rng.random() < 0.93 else rng.choice(_OTHER_OWNERS)
    version, tier, suffix = rng.choice(_VERSIONS), rng.choice(_TIERS), rng.choice(suffixes)
    parts = [owner, family, version, tier, suffix]
    return (
        "/".join(p for p in parts if p),
        family,
        title("-".join(p for p in (version, tier) if p)),
    )


def generate_fal(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """About 870 raw FAL /models items over ~21 categories, and their prices (~2% unpriced).

    Each category holds its well-known real models, then invented ones up to its share;
    the listing starts with the well-known ones, as FAL's starts with its highlighted models.
    """
    models: list[dict[str, Any]] = []
    seen: set[str] = set(_KNOWN_FAL_IDS)  # no invented id takes a real one's place
    for category, count in FAL_CATEGORY_COUNTS:
        wanted = max(1, round(count * rng.uniform(0.97, 1.04)))
        known = KNOWN_FAL_MODELS.get(category, ())
        for endpoint_id in known:
            family, _, rest = endpoint_id.partition("/")[2].partition("/")
            flavour = title(rest.replace("/", "-"))
            models.append(_fal_item(rng, endpoint_id, category, family, flavour, True))
        for _ in range(max(0, wanted - len(known))):
            for _attempt in range(50):
                endpoint_id, family, flavour = _fal_endpoint_id(rng, category)
                if endpoint_id not in seen:
                    break
            else:
                endpoint_id = f"{endpoint_id}/v{len(seen)}"
            seen.add(endpoint_id)
            models.append(_fal_item(rng, endpoint_id, category, family, flavour, False))
    rng.shuffle(models)
    models.sort(key=lambda m: not m["metadata"]["highlighted"])  # FAL lists highlighted first
    prices: dict[str, dict[str, Any]] = {}
    for model in models:
        price = synthetic_fal_price(model["endpoint_id"], model["metadata"]["category"])
        if price is not None:
            prices[model["endpoint_id"]] = price
    return models, prices


def _fal_item(
    rng: random.Random, endpoint_id: str, category: str, family: str, flavour: str, known: bool
) -> dict[str, Any]:
    name = " ".join(p for p in (title(family), flavour) if p)
    created = EPOCH + timedelta(seconds=rng.randrange(SPAN_S), milliseconds=rng.randrange(1000))
    remaining = int((EPOCH + timedelta(seconds=SPAN_S) - created).total_seconds())
    updated = created + timedelta(
        seconds=rng.randrange(max(remaining, 1)), milliseconds=rng.randrange(1000)
    )
    metadata: dict[str, Any] = {
        "display_name": name,
        "category": category,
        "description": f"{_blurb(category)} with {name} ({category.replace('-', ' ')}).",
        "status": "deprecated" if rng.random() < 0.03 and not known else "active",
        "tags": rng.sample(_TAGS, k=rng.choice((0, 0, 1, 1, 2, 3))),
        "updated_at": iso_z(updated),
        "is_favorited": None,
        "thumbnail_url": f"https://v3.fal.media/files/sandbox/{rng.getrandbits(64):016x}.jpg",
        "model_url": f"https://fal.run/{endpoint_id}",
        "date": iso_z(created),
        "highlighted": known,  # as FAL highlights its well-known models
        "pinned": False,
    }
    if rng.random() < 0.75:
        metadata["license_type"] = rng.choices(_LICENSES, _LICENSE_WEIGHTS)[0]
    if category == "training" or rng.random() < 0.6:
        metadata["kind"] = "training" if category == "training" else "inference"
    if rng.random() < 0.55:
        metadata["group"] = {"key": family, "label": title(endpoint_id.rsplit("/", 1)[-1])}
    return {"endpoint_id": endpoint_id, "metadata": metadata}
