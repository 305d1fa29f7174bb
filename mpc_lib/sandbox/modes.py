"""Switchable answers the real APIs can give: strict pricing 404s, pricing pages, odd Comet data.

Faults (`faults.py`) break single requests; modes change what every answer says until
they are switched back.  Both are set from Python (`Sandbox.set_modes(...)`) or over
HTTP (`POST /_sandbox/modes`), and `Sandbox.reset()` restores the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from .data import clone_json

__all__ = ["FAL_PRICING_MODES", "SandboxModes", "odd_comet"]

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
    - `comet_odd_entries`: serve Comet's lists with the odd entries real data shows
      (see `odd_comet`).
    - `comet_page_size`: `/api/models` without paging parameters answers page 1 of
      this size (an API that pages by default) instead of the whole catalog.
    - `openai_chunk_delay_ms`: the OpenAI-compatible upstream waits this long before
      each streamed chunk (a slow model, to watch streams arrive and be cancelled).

    Its JSON is `dataclasses.asdict(modes)`; like `Fault`, a dataclass whose
    `__post_init__` gives one plain ValueError line per bad mode.
    """

    fal_pricing: FalPricing = "lenient"
    fal_pricing_page_size: int | None = None
    comet_odd_entries: bool = False
    comet_page_size: int | None = None
    openai_chunk_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.fal_pricing not in FAL_PRICING_MODES:
            raise ValueError(
                f"fal_pricing must be one of {', '.join(FAL_PRICING_MODES)}, "
                f"got {self.fal_pricing!r}"
            )
        if not isinstance(self.comet_odd_entries, bool):
            raise ValueError(
                f"comet_odd_entries must be true or false, got {self.comet_odd_entries!r}"
            )
        for name in ("fal_pricing_page_size", "comet_page_size"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} must be an integer >= 1 or null, got {value!r}")
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


# (entry field path, value): the first four priced text entries get one oddity each.
_ODDITIES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("features",), None),
    (("context_length",), "128k"),
    (("pricing", "input"), "free"),
    (("pricing", "input"), None),  # well-formed: only an output price
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

    The first four listed text entries with input and output prices get, in order,
    `features: null`, `context_length: "128k"`, `pricing.input: "free"` and
    `pricing.input: null` (only an output price); one catalog entry and one
    `/v1/models` item without an `id` are appended.
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
        entry = clone_json(catalog[index])
        holder = entry
        for name in where[:-1]:
            holder = holder[name]
        holder[where[-1]] = value
        odd[index] = entry
    return [*odd, clone_json(_NO_ID_ENTRY)], [*models, clone_json(_NO_ID_MODEL)]
