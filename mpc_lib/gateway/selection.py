"""Which registry models become gateway deployments, in which LiteLLM mode, and why the rest do not.

A model's mode comes from its FAL category or its Comet model type:

| provider | category or type                 | LiteLLM mode                                   |
|----------|----------------------------------|------------------------------------------------|
| FAL      | text-to-image                    | image_generation                               |
| FAL      | image-to-image                   | image_edit                                     |
| FAL      | text-to-video, image-to-video    | video_generation                               |
| FAL      | any other (llm, vision, ...)     | not served: "unsupported category"             |
| Comet    | text, llm                        | chat                                           |
| Comet    | embedding                        | embedding                                      |
| Comet    | image                            | image_generation                               |
| Comet    | video, audio                     | not served: "unsupported type"                 |
| Comet    | any other, or none               | chat, reported as a guess                      |

Comet's type vocabulary is open (its docs show `text` and `image`; the hub spec says
"e.g. text, image, video, audio"), and Comet speaks OpenAI: a type we have never seen is
served as chat, so a renamed type cannot empty the gateway, and `mpc gateway config`
warns about every such model.  A wrong guess costs a failed call, not a wrong bill: the
price keys follow the model's unit, not the guess.  FAL's `llm` endpoints are not served:
LiteLLM's fal_ai chat speaks only the one-image vision-query format.

`choose_models` applies a `GatewaySelection` and says, per left-out model, why:
`left_out` maps each reason (`LEFT_OUT_REASONS`) to `provider:model_id` keys.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..pricing.prices import price_of
from ..providers import PROVIDERS, provider_spec
from .litellm_fal import ANOTHER_ENDPOINT, NO_INPUT_MAPPING, UNSUPPORTED_MODE, fal_left_out

__all__ = [
    "COMET_TYPE_MODES",
    "DEFAULT_CATEGORIES",
    "DEFAULT_MAX_MODELS",
    "FAL_CATEGORY_MODES",
    "GUESSED_MODE",
    "LEFT_OUT_REASONS",
    "Choice",
    "GatewaySelection",
    "Serving",
    "choose_models",
    "serving",
]

log = logging.getLogger("mpc_lib.gateway")

# The default selection: chat models and text-to-image models, at most 20 per provider
# (in model-id order), plus every model an MPC-API alias names.
DEFAULT_CATEGORIES: tuple[str, ...] = ("llm", "text-to-image")
DEFAULT_MAX_MODELS = 20

# FAL category -> LiteLLM mode (fal_ai provider); a category not listed is not served.
FAL_CATEGORY_MODES: dict[str, str] = {
    "text-to-image": "image_generation",
    "image-to-image": "image_edit",
    "text-to-video": "video_generation",
    "image-to-video": "video_generation",
}
# Comet model type -> LiteLLM mode (openai provider); None: known, and not served.
COMET_TYPE_MODES: dict[str, str | None] = {
    "text": "chat",
    "llm": "chat",
    "embedding": "embedding",
    "image": "image_generation",
    # Comet's video models run as jobs on endpoints of its own, not OpenAI's.
    "video": None,
    # Speech, transcription and music under one type: no single mode fits them all.
    "audio": None,
}
# The mode of a Comet model whose type is not in the table (or missing).
GUESSED_MODE = "chat"
# A model served as chat counts as this category for `--categories`.
_CHAT_CATEGORY = "llm"

# Why a registry model is not deployed, in the order they are checked (the first one wins).
PROVIDER_NOT_SELECTED = "provider not selected"
UNSUPPORTED_CATEGORY = "unsupported category"
UNSUPPORTED_TYPE = "unsupported type"
NOT_IN_CATEGORIES = "not in --categories"
NOT_INCLUDED = "not matching --include"
EXCLUDED = "excluded by --exclude"
NO_PRICE = "no price"
OVER_MAX_MODELS = "over --max-models"
PROVIDER_NOT_REACHED = "provider not reached"
LEFT_OUT_REASONS: tuple[str, ...] = (
    PROVIDER_NOT_SELECTED, UNSUPPORTED_CATEGORY, UNSUPPORTED_TYPE, ANOTHER_ENDPOINT,
    NO_INPUT_MAPPING, UNSUPPORTED_MODE, NOT_IN_CATEGORIES, NOT_INCLUDED, EXCLUDED, NO_PRICE,
    OVER_MAX_MODELS, PROVIDER_NOT_REACHED,
)  # fmt: skip


@dataclass(frozen=True)
class GatewaySelection:
    """Which registry models become deployments.

    A model is chosen when its provider is in `providers`, LiteLLM can serve it, its
    category (or Comet model type; `llm` for anything served as chat) is in `categories`
    (empty: any), its id matches an `include` pattern (empty: any) and no `exclude`
    pattern, and it has a price; then at most `max_models` per provider in id order
    (None: no cap).  Models named in `required` (`provider:model_id`, e.g. alias
    targets) are added whatever the filters say, if LiteLLM can serve them.
    """

    providers: tuple[str, ...] = tuple(PROVIDERS)
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_models: int | None = DEFAULT_MAX_MODELS
    required: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in self.providers:
            provider_spec(name)
        if self.max_models is not None and self.max_models < 0:
            raise ValueError(f"max_models must be >= 0 or None, got {self.max_models}")


@dataclass(frozen=True)
class Serving:
    """How LiteLLM would serve one record: its mode, or why not; `guess` names a guessed type."""

    mode: str | None
    left_out: str | None = None
    guess: str | None = None


def _model_type(record: Mapping[str, Any]) -> str | None:
    model_type = (record.get("meta") or {}).get("model_type")
    return model_type if isinstance(model_type, str) and model_type else None


def serving(record: Mapping[str, Any]) -> Serving:
    """The LiteLLM mode a registry record is served in (see the module docstring), or why not."""
    provider = str(record.get("provider"))
    if provider == "comet":
        # The category, when there is one, was made from the type (catalog.comet).
        model_type = _model_type(record) or record.get("category") or None
        if model_type is None or model_type not in COMET_TYPE_MODES:
            return Serving(GUESSED_MODE, guess=str(model_type or "(none)"))
        mode = COMET_TYPE_MODES[str(model_type)]
        return Serving(mode) if mode else Serving(None, UNSUPPORTED_TYPE)
    mode = FAL_CATEGORY_MODES.get(str(record.get("category"))) if provider == "fal" else None
    if not mode:
        return Serving(None, UNSUPPORTED_CATEGORY)
    # Only where LiteLLM's fal_ai provider reaches the model's own endpoint (litellm_fal.py).
    unreachable = fal_left_out(str(record.get("model_id")), mode)
    return Serving(mode) if unreachable is None else Serving(None, unreachable)


@dataclass(frozen=True)
class Choice:
    """The chosen records, and every other registry model under the reason it was left out.

    `unknown_types` maps each Comet type not in the table (or "(none)") to the models of
    that type, served as chat when chosen.
    """

    records: list[Mapping[str, Any]]
    left_out: dict[str, list[str]] = field(default_factory=dict)
    unknown_types: dict[str, list[str]] = field(default_factory=dict)


def _key(record: Mapping[str, Any]) -> str:
    return f"{record['provider']}:{record['model_id']}"


def _matches(model_id: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in patterns)


def _kinds(record: Mapping[str, Any], mode: str) -> set[str]:
    kinds = {str(record.get("category") or ""), _model_type(record) or ""}
    if mode == GUESSED_MODE:
        kinds.add(_CHAT_CATEGORY)
    return kinds - {""}


def _filtered(record: Mapping[str, Any], selection: GatewaySelection) -> str | None:
    """Why `selection` leaves out a record LiteLLM can serve, or None when it keeps it."""
    model_id = str(record["model_id"])
    mode = serving(record).mode
    if mode is None:
        return serving(record).left_out
    if selection.categories and not (_kinds(record, mode) & set(selection.categories)):
        return NOT_IN_CATEGORIES
    if selection.include and not _matches(model_id, selection.include):
        return NOT_INCLUDED
    if selection.exclude and _matches(model_id, selection.exclude):
        return EXCLUDED
    if not price_of(record, None).priced:
        # Deployed unpriced, LiteLLM would log a price of its own, or $0.
        return NO_PRICE
    return None


def choose_models(models: Iterable[Mapping[str, Any]], selection: GatewaySelection) -> Choice:
    """The records `selection` picks, in (provider, model id) order, and why the rest are not."""
    by_key = {_key(m): m for m in models}
    ordered = sorted(by_key, key=lambda k: (by_key[k]["provider"], by_key[k]["model_id"]))
    chosen: dict[str, Mapping[str, Any]] = {}
    reasons: dict[str, str] = {}
    unknown: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for key in ordered:
        record = by_key[key]
        provider = str(record["provider"])
        if provider not in selection.providers:
            reasons[key] = PROVIDER_NOT_SELECTED
            continue
        guess = serving(record).guess
        if guess is not None:
            unknown.setdefault(guess, []).append(key)
        reason = _filtered(record, selection)
        cap = selection.max_models
        if reason is None and cap is not None and counts.get(provider, 0) >= cap:
            reason = OVER_MAX_MODELS
        if reason is not None:
            reasons[key] = reason
            continue
        counts[provider] = counts.get(provider, 0) + 1
        chosen[key] = record
    for key in selection.required:
        if key in by_key and key not in chosen:
            if serving(by_key[key]).mode is None:
                log.warning("gateway: %s is required but LiteLLM cannot serve it (%s); left out",
                            key, serving(by_key[key]).left_out)  # fmt: skip
                continue
            reasons.pop(key, None)
            chosen[key] = by_key[key]
    left_out: dict[str, list[str]] = {}
    for key in ordered:
        if key in reasons:
            left_out.setdefault(reasons[key], []).append(key)
    ordered_out = {reason: left_out[reason] for reason in LEFT_OUT_REASONS if reason in left_out}
    records = [chosen[key] for key in ordered if key in chosen]
    return Choice(records, ordered_out, unknown)
