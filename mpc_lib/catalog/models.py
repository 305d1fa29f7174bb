"""Data shapes of the catalog: what providers send (lenient) and the one record we keep (strict).

One rule for every provider list (FAL's `/models` and pricing, Comet's `/v1/models` and
`/api/models`): the envelope is checked whole (`parse_payload`; a malformed one fails the
provider), its entries one at a time (`parse_items`; an odd entry keeps what parses, or is
skipped without a usable id, and each problem is a warning naming the entry and the field).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ResponseFormatError
from ..models import MpcModel

__all__ = [
    "CometCatalogEntry",
    "CometModel",
    "EstimateType",
    "FalEstimate",
    "FalModel",
    "FalModelList",
    "FalModelPage",
    "FalPrice",
    "FalPriceList",
    "FalPricePage",
    "ModelRecord",
    "Pricing",
    "ProviderModel",
    "parse_items",
    "parse_payload",
]


class ProviderModel(MpcModel):
    """Base for provider payloads: lenient about the extra fields providers add, frozen."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# A price as providers publish it: a finite number >= 0 (a numeric string reads as its number).
_Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]


# --- FAL Platform API v1 -------------------------------------------------------------


class FalMetadata(ProviderModel):
    """`metadata` of a FAL /models item (absent for endpoints without a registry entry)."""

    display_name: str | None = None
    category: str | None = None
    description: str | None = None
    status: str | None = None
    tags: list[str] = Field(default_factory=list)
    updated_at: str | None = None
    thumbnail_url: str | None = None
    model_url: str | None = None
    date: str | None = None
    license_type: str | None = None
    kind: str | None = None
    group: dict[str, Any] | None = None
    duration_estimate: float | None = None
    github_url: str | None = None
    thumbnail_animated_url: str | None = None
    stream_url: str | None = None
    highlighted: bool | None = None
    pinned: bool | None = None
    training_endpoint_ids: list[str] | None = None
    inference_endpoint_ids: list[str] | None = None


class FalModel(ProviderModel):
    """One item of FAL `GET /models`."""

    endpoint_id: str
    metadata: FalMetadata | None = None


class FalModelList(ProviderModel):
    """The body of FAL `GET /models`; its entries are checked one by one with `parse_items`."""

    models: list[Any]
    next_cursor: str | None = None
    has_more: bool


class FalModelPage(ProviderModel):
    """One page of FAL `GET /models`: the entries that parsed, and what was odd about the rest."""

    models: list[FalModel]
    next_cursor: str | None = None
    has_more: bool
    warnings: list[str] = Field(default_factory=list)


class FalPrice(ProviderModel):
    """One item of FAL `GET /models/pricing`."""

    endpoint_id: str
    unit_price: _Price
    unit: str
    currency: str


class FalPriceList(ProviderModel):
    """The body of FAL `GET /models/pricing`; its entries are checked one by one."""

    prices: list[Any]
    next_cursor: str | None = None
    has_more: bool = False


class FalPricePage(ProviderModel):
    """One FAL pricing answer: the prices that parsed, and what was odd about the rest."""

    prices: list[FalPrice]
    next_cursor: str | None = None
    has_more: bool = False
    warnings: list[str] = Field(default_factory=list)


# What each FAL estimate type counts: billing units, or API calls priced at history.
EstimateType = Literal["unit_price", "historical_api_price"]


class FalEstimate(ProviderModel):
    """The body of FAL `POST /models/pricing/estimate`: one total, no per-endpoint breakdown."""

    estimate_type: EstimateType
    total_cost: float
    currency: str


# --- Comet API -----------------------------------------------------------------------


class CometModel(ProviderModel):
    """One item of Comet `GET /v1/models` (OpenAI-compatible list)."""

    id: str
    created: int | None = None
    owned_by: str | None = None
    supported_endpoint_types: list[str] = Field(default_factory=list)


class CometModelList(ProviderModel):
    """The body of Comet `GET /v1/models`; items are checked one by one with `parse_items`."""

    data: list[Any]


class CometPricing(ProviderModel):
    """`pricing` of a Comet catalog entry: $/M tokens, or per request, or per second."""

    currency: str | None = None
    input: _Price | None = None
    output: _Price | None = None
    per_request: _Price | None = None
    per_second: _Price | None = None


class CometCatalogEntry(ProviderModel):
    """One item of Comet's public catalog `GET /api/models`."""

    id: str
    code: str | None = None
    name: str | None = None
    provider: str | None = None
    model_type: str | None = None
    features: list[str] = Field(default_factory=list)
    description: str | None = None
    context_length: int | None = None
    max_completion_tokens: int | None = None
    upcoming: bool | None = None
    pricing: CometPricing | None = None


class CometCatalog(ProviderModel):
    """The body of Comet `GET /api/models`; `page_size` 0 means the unpaginated catalog.

    Entries are checked one by one with `parse_items`, so one odd entry cannot reject the rest.
    """

    success: bool
    data: list[Any] = Field(default_factory=list)
    message: str | None = None
    page: int | None = None
    page_size: int | None = None
    total: int | None = None


# --- The registry record -------------------------------------------------------------


class Pricing(BaseModel):
    """A price per unit; token prices carry the output price separately.

    A price the provider did not send stays None (never 0), so a record may carry only an
    output price; with neither price there is no Pricing at all.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_price: float | None = None
    unit: str
    currency: str = "USD"
    output_unit_price: float | None = None

    @model_validator(mode="after")
    def _some_price(self) -> Self:
        if self.unit_price is None and self.output_unit_price is None:
            raise ValueError("a Pricing needs unit_price or output_unit_price")
        return self


class ModelRecord(BaseModel):
    """One model of one provider, normalised; the shape of `models.json` entries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["fal", "comet"]
    model_id: str
    display_name: str
    category: str | None = None
    description: str | None = None
    status: str = "active"
    owned_by: str | None = None
    updated_at: str | None = None
    pricing: Pricing | None = None
    stale: bool = False
    meta: dict[str, Any] = {}

    @property
    def key(self) -> str:
        """The registry key: `provider:model_id`."""
        return f"{self.provider}:{self.model_id}"


_Payload = TypeVar("_Payload", bound=BaseModel)


def parse_payload(model: type[_Payload], data: Any, *, provider: str, path: str) -> _Payload:
    """Validate a provider answer; a mismatch raises ResponseFormatError naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ResponseFormatError(provider, path, f"{where}: {first['msg']}{more}") from exc


_MAX_DROP_ROUNDS = 8


def _show(value: Any) -> str:
    """A field's value as JSON (`null`, `"128k"`), cut short for a one-line warning."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _copy_dicts(value: Any) -> Any:
    """A copy in which every nested dict is new, so dropping a field never touches the input."""
    if isinstance(value, dict):
        return {k: _copy_dicts(v) for k, v in value.items()}
    return value


def _drop_field(item: dict[str, Any], loc: Sequence[int | str]) -> tuple[str, Any] | None:
    """Remove the innermost keyed field an error points at; (dotted name, old value) or None.

    An error inside a list (`features.0`) drops the whole list field.
    """
    holder = item
    for position, part in enumerate(loc):
        if not isinstance(part, str) or part not in holder:
            return None
        names = [str(p) for p in loc[: position + 1]]
        following = loc[position + 1] if position + 1 < len(loc) else None
        inner = holder[part]
        if not isinstance(following, str) or not isinstance(inner, dict) or following not in inner:
            return ".".join(names), holder.pop(part)
        holder = inner
    return None


def parse_items(
    model: type[_Payload],
    items: Sequence[Any],
    *,
    path: str,
    key: str = "id",
    within: str | None = None,
) -> tuple[list[_Payload], list[str]]:
    """Validate the items of a list one at a time, so one odd item cannot reject the rest.

    A field that fails validation is dropped (the item keeps what parses); an item
    without a usable `key`, or that cannot parse without a required field, is skipped.
    Each problem is one warning naming the item and the field, e.g.
    `/api/models entry 'x': dropped context_length: "128k" (...)`; an item without an id
    is named by its position (`within` says in what, e.g. `on page 3`) and its name.
    """
    parsed: list[_Payload] = []
    warnings: list[str] = []
    for index, raw in enumerate(items):
        position = f"{path} entry #{index}" + (f" {within}" if within else "")
        if not isinstance(raw, dict):
            warnings.append(f"{position}: skipped: not an object ({_show(raw)})")
            continue
        ident = raw.get(key)
        if not isinstance(ident, str) or not ident.strip():
            shown = _show(ident) if key in raw else "missing"
            warnings.append(f"{position}{_hint(raw)}: skipped: no usable {key} ({shown})")
            continue
        entry, problems = _parse_entry(model, raw)
        if entry is not None:
            parsed.append(entry)
        warnings.extend(f"{path} entry {ident!r}: {problem}" for problem in problems)
    return parsed, warnings


# Fields that name an entry whose id is missing: Comet's code and name, FAL's display name.
_NAMING_FIELDS = ("code", "name", "metadata.display_name")


def _hint(item: dict[str, Any]) -> str:
    """` (code "x")`: the first naming field the item has, for a warning; else empty."""
    for dotted in _NAMING_FIELDS:
        value: Any = item
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value:
            return f" ({dotted} {_show(value)})"
    return ""


def _where(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "entry"


def _parse_entry(model: type[_Payload], raw: dict[str, Any]) -> tuple[_Payload | None, list[str]]:
    """One entry, its fields that fail dropped until the rest parses; (entry or None, problems).

    A kept entry gets one problem per dropped field; a skipped one (a required field
    was malformed or missing) gets a single `skipped: ...` naming every field at fault.
    """
    try:
        return model.model_validate(raw), []
    except ValidationError:
        pass  # below: drop what fails, on a copy, and say so
    item = _copy_dicts(raw)
    dropped: list[tuple[str, str]] = []  # (dotted field, "value (why)")
    left: list[str] = []
    for _ in range(_MAX_DROP_ROUNDS):
        try:
            entry = model.model_validate(item)
        except ValidationError as exc:
            errors = exc.errors()
        else:
            return entry, [f"dropped {name}: {what}" for name, what in dropped]
        fresh = []
        for error in errors:
            gone = _drop_field(item, error["loc"])
            if gone is not None:
                fresh.append((gone[0], f"{_show(gone[1])} ({error['msg']})"))
        if not fresh:
            # A required field that was just dropped is "missing" now: named once, above.
            names = {name for name, _ in dropped}
            left = [
                f"{_where(error)}: {error['msg']}"
                for error in errors
                if not (error["type"] == "missing" and _where(error) in names)
            ]
            break
        dropped.extend(fresh)
    else:
        left = ["still invalid after dropping fields"]
    reasons = [f"{name}: {what}" for name, what in dropped] + left
    return None, ["skipped: " + "; ".join(reasons)]
