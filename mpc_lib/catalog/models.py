"""Data shapes of the catalog: what providers send (lenient) and the one record we keep (strict)."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ResponseFormatError

__all__ = [
    "CometCatalogEntry",
    "CometModel",
    "FalModel",
    "FalPrice",
    "ModelRecord",
    "MpcModel",
    "Pricing",
    "parse_payload",
]


class MpcModel(BaseModel):
    """Base for provider payloads: lenient about extra fields providers add."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- FAL Platform API v1 -------------------------------------------------------------


class FalMetadata(MpcModel):
    """`metadata` of a FAL /models item (absent for endpoints without a registry entry)."""

    display_name: str | None = None
    category: str | None = None
    description: str | None = None
    status: str | None = None
    tags: list[str] = []
    updated_at: str | None = None
    thumbnail_url: str | None = None
    model_url: str | None = None
    date: str | None = None
    license_type: str | None = None
    kind: str | None = None
    group: dict[str, Any] | None = None
    duration_estimate: float | None = None


class FalModel(MpcModel):
    """One item of FAL `GET /models`."""

    endpoint_id: str
    metadata: FalMetadata | None = None


class FalModelPage(MpcModel):
    """One page of FAL `GET /models`."""

    models: list[FalModel]
    next_cursor: str | None = None
    has_more: bool


class FalPrice(MpcModel):
    """One item of FAL `GET /models/pricing`."""

    endpoint_id: str
    unit_price: float
    unit: str
    currency: str


class FalPricePage(MpcModel):
    """The body of FAL `GET /models/pricing`."""

    prices: list[FalPrice]
    next_cursor: str | None = None
    has_more: bool = False


# --- Comet API -----------------------------------------------------------------------


class CometModel(MpcModel):
    """One item of Comet `GET /v1/models` (OpenAI-compatible list)."""

    id: str
    created: int | None = None
    owned_by: str | None = None
    supported_endpoint_types: list[str] = []


class CometModelList(MpcModel):
    """The body of Comet `GET /v1/models`."""

    data: list[CometModel]


class CometPricing(MpcModel):
    """`pricing` of a Comet catalog entry: $/M tokens, or per request, or per second."""

    currency: str | None = None
    input: float | None = None
    output: float | None = None
    per_request: float | None = None
    per_second: float | None = None


class CometCatalogEntry(MpcModel):
    """One item of Comet's public catalog `GET /api/models`."""

    id: str
    code: str | None = None
    name: str | None = None
    provider: str | None = None
    model_type: str | None = None
    features: list[str] = []
    description: str | None = None
    context_length: int | None = None
    max_completion_tokens: int | None = None
    upcoming: bool | None = None
    pricing: CometPricing | None = None


class CometCatalog(MpcModel):
    """The body of Comet `GET /api/models`."""

    success: bool
    data: list[CometCatalogEntry] = []
    message: str | None = None


# --- The registry record -------------------------------------------------------------


class Pricing(BaseModel):
    """A price per unit; token prices carry the output price separately."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_price: float
    unit: str
    currency: str = "USD"
    output_unit_price: float | None = None


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
