"""Switchable answers the real APIs can give: strict pricing 404s, pricing pages, odd entries.

Faults (`faults.py`) break single requests; modes change what every answer says until
they are switched back.  Both are set from Python (`Sandbox.set_modes(...)`) or over
HTTP (`POST /_sandbox/modes`), and `Sandbox.reset()` restores the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from .data import clone_json

__all__ = ["FAL_PRICING_MODES", "SandboxModes", "odd_comet", "odd_fal"]

FalPricing = Literal["lenient", "strict"]
FAL_PRICING_MODES: tuple[str, ...] = ("lenient", "strict")
_PLACEHOLDER_CREATED = 1626777600  # the constant real /v1/models items carry


@dataclass(frozen=True)
class SandboxModes:
    """How the emulators answer; the defaults are the plain, well-formed answers.

    - `fal_pricing`: "lenient" answers 404 only when no requested id has a price;
      "strict" answers 404 for the whole batch when any requested id has none (FAL's
      spec allows both readings).
    - `fal_pricing_page_size`: answer at most this many prices, with `has_more: true`
      and a `next_cursor` when more remain (the schema has them; the operation takes
      no cursor to follow them).
    - `fal_odd_entries`: serve FAL's `/models` and pricing with entries whose fields
      break their published types (see `odd_fal`).
    - `comet_odd_entries`: serve Comet's lists with the odd entries real data shows
      (see `odd_comet`).
    - `comet_page_size`: `/api/models` without paging parameters answers page 1 of
      this size (an API that pages by default) instead of the whole catalog.
    - `fal_queue_polls`: how many status polls a queued FAL job spends in each of
      `IN_QUEUE` and `IN_PROGRESS` before it is `COMPLETED` (0: completed at once); a
      job keeps the value it was submitted under.
    - `openai_chunk_delay_ms`: the OpenAI-compatible upstream waits this long before
      each streamed chunk (a slow model, to watch streams arrive and be cancelled).

    Its JSON is `dataclasses.asdict(modes)`; like `Fault`, a dataclass whose
    `__post_init__` gives one plain ValueError line per bad mode.
    """

    fal_pricing: FalPricing = "lenient"
    fal_pricing_page_size: int | None = None
    fal_odd_entries: bool = False
    comet_odd_entries: bool = False
    comet_page_size: int | None = None
    fal_queue_polls: int = 1
    openai_chunk_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.fal_pricing not in FAL_PRICING_MODES:
            raise ValueError(
                f"fal_pricing must be one of {', '.join(FAL_PRICING_MODES)}, "
                f"got {self.fal_pricing!r}"
            )
        for name in ("fal_odd_entries", "comet_odd_entries"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("fal_pricing_page_size", "comet_page_size"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} must be an integer >= 1 or null, got {value!r}")
        polls = self.fal_queue_polls
        if isinstance(polls, bool) or not isinstance(polls, int) or not 0 <= polls <= 1000:
            raise ValueError(f"fal_queue_polls must be an integer from 0 to 1000, got {polls!r}")
        delay = self.openai_chunk_delay_ms
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 6e4:
            raise ValueError(f"openai_chunk_delay_ms must be 0 to 60000, got {delay!r}")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base: SandboxModes | None = None) -> SandboxModes:
        """`base` (default: the defaults) with the given modes changed; unknown keys refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(
                f"unknown mode(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return replace(base or cls(), **raw)


# (entry field path, value): the first five priced text entries get one oddity each.
_ODDITIES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("features",), None),
    (("context_length",), "128k"),
    (("pricing", "input"), "free"),
    (("pricing", "input"), None),  # well-formed: only an output price
    (("pricing",), None),  # well-formed: no price at all
)
_NO_ID_ENTRY: dict[str, Any] = {
    "code": "no-id-model",
    "name": "No Id Model",
    "provider": "Custom",
    "model_type": "text",
    "features": ["text-to-text"],
    "pricing": {"currency": "USD / M Tokens", "input": 1.0, "output": 2.0},
}
_NO_ID_MODEL: dict[str, Any] = {
    "object": "model",
    "created": _PLACEHOLDER_CREATED,
    "owned_by": "custom",
    "supported_endpoint_types": ["openai"],
}


def odd_comet(
    catalog: list[dict[str, Any]], models: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Comet's catalog and model list with the oddities real entries show; inputs untouched.

    The first five listed text entries with input and output prices get, in order,
    `features: null`, `context_length: "128k"`, `pricing.input: "free"`,
    `pricing.input: null` (only an output price) and `pricing: null`; one catalog entry
    and one `/v1/models` item without an `id` are appended.
    """
    listed = {model.get("id") for model in models}
    picks = [
        index
        for index, entry in enumerate(catalog)
        if entry.get("id") in listed
        and entry.get("model_type") == "text"
        and isinstance(entry.get("pricing"), dict)
        and entry["pricing"].get("input") is not None
        and entry["pricing"].get("output") is not None
    ]
    odd = list(catalog)
    for index, (where, value) in zip(picks, _ODDITIES, strict=False):
        odd[index] = _set(catalog[index], where, value)
    return [*odd, clone_json(_NO_ID_ENTRY)], [*models, clone_json(_NO_ID_MODEL)]


# Set in place of a value: the field is removed.
_REMOVED = object()


def _set(entry: dict[str, Any], where: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `entry` with the field at `where` set to `value` (removed for `_REMOVED`)."""
    entry = clone_json(entry)
    holder = entry
    for name in where[:-1]:
        holder = holder[name]
    if value is _REMOVED:
        holder.pop(where[-1], None)
    else:
        holder[where[-1]] = value
    return entry


# FAL: the first two priced models get an odd /models entry, the next three an odd price.
_FAL_MODEL_ODDITIES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("metadata", "tags"), None),
    (("metadata", "tags"), "fast"),  # a string where a list belongs
)
_FAL_PRICE_ODDITIES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("unit_price",), "$0.05"),  # a price that is not a number
    (("unit_price",), None),
    (("endpoint_id",), _REMOVED),  # a price without its id
)
_NO_ID_FAL_MODEL: dict[str, Any] = {
    "metadata": {
        "display_name": "No Id Model",
        "category": "text-to-image",
        "description": "",
        "status": "active",
        "tags": [],
        "updated_at": "2025-01-01T00:00:00Z",
        "is_favorited": None,
        "thumbnail_url": "",
        "model_url": "",
        "date": "2025-01-01T00:00:00Z",
        "highlighted": False,
        "pinned": False,
    }
}


def odd_fal(
    models: list[dict[str, Any]], prices: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """FAL's /models items and price items with fields that break their types; inputs untouched.

    Of the listed models with metadata and a price, the first two get `metadata.tags: null`
    and `metadata.tags: "fast"`; the next three keep their /models entry, and their price
    entry gets `unit_price: "$0.05"`, `unit_price: null` or loses its `endpoint_id`.  A
    /models item without an `endpoint_id` is appended.
    """
    picks = [
        index
        for index, model in enumerate(models)
        if isinstance(model.get("metadata"), dict) and model.get("endpoint_id") in prices
    ]
    odd_models, odd_prices = list(models), dict(prices)
    for index, (where, value) in zip(picks, _FAL_MODEL_ODDITIES, strict=False):
        odd_models[index] = _set(models[index], where, value)
    for index, (where, value) in zip(
        picks[len(_FAL_MODEL_ODDITIES) :], _FAL_PRICE_ODDITIES, strict=False
    ):
        endpoint_id = models[index]["endpoint_id"]
        odd_prices[endpoint_id] = _set(prices[endpoint_id], where, value)
    return [*odd_models, clone_json(_NO_ID_FAL_MODEL)], odd_prices
