"""The shapes MPC-API answers with, as pydantic models: they make its OpenAPI document.

Every error, from any route, is one envelope: `{"error": {"message", "type", "code",
"request_id"}}` (OpenAI's shape plus our request id), so OpenAI clients read it too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AliasOut",
    "ChatCompletion",
    "ErrorBody",
    "ErrorEnvelope",
    "GatewayHealth",
    "Health",
    "Liveliness",
    "ModelList",
    "ModelOut",
    "OrchestrateIn",
    "OrchestrateOut",
    "PlanOut",
    "PlanStep",
    "PricingOut",
    "RegistryHealth",
    "SelectModelIn",
    "SelectModelOut",
]


class ErrorBody(BaseModel):
    """What went wrong, for a person (`message`) and for code (`type`, `code`)."""

    message: str
    type: str
    code: str | None = None
    request_id: str | None = None


class ErrorEnvelope(BaseModel):
    """The one error shape of every route."""

    error: ErrorBody


class Liveliness(BaseModel):
    """The process answers."""

    status: Literal["alive"]
    service: str
    version: str


class GatewayHealth(BaseModel):
    """The gateway as MPC-API sees it."""

    url: str
    status: Literal["ok", "down", "error"]
    latency_ms: float | None = None
    detail: str | None = None


class RegistryHealth(BaseModel):
    """The registry MPC-API serves models from."""

    generated_at: str | None = None
    counts: dict[str, int] = {}
    stale: list[str] = []


class Health(BaseModel):
    """The deep health check: gateway and registry."""

    status: Literal["ok", "degraded"]
    service: str
    version: str
    gateway: GatewayHealth
    registry: RegistryHealth
    aliases: int
    error: ErrorBody | None = None


class PricingOut(BaseModel):
    """A registry price (None where the provider sent none, never 0)."""

    unit_price: float | None = None
    unit: str
    currency: str = "USD"
    output_unit_price: float | None = None


class ModelOut(BaseModel):
    """A registry model; `gateway_model` is its name at the gateway, when it serves it."""

    id: str
    key: str
    object: Literal["model"] = "model"
    provider: str
    display_name: str
    category: str | None = None
    description: str | None = None
    status: str = "active"
    owned_by: str | None = None
    updated_at: str | None = None
    pricing: PricingOut | None = None
    stale: bool = False
    gateway_model: str | None = None


class ModelList(BaseModel):
    """One page of registry models."""

    object: Literal["list"] = "list"
    data: list[ModelOut]
    total: int
    limit: int
    offset: int
    has_more: bool


class SelectModelIn(BaseModel):
    """What the caller needs; an absent field matches every alias (another field is a 400)."""

    model_config = ConfigDict(extra="forbid")

    task_type: str | None = None
    domain: str | None = None
    modality: str | None = None


class AliasOut(BaseModel):
    """An alias with the registry model and gateway model it resolves to."""

    alias: str
    model: str
    provider: str | None = None
    model_id: str | None = None
    display_name: str | None = None
    gateway_model: str
    mode: str | None = None
    pricing: PricingOut | None = None
    modality: list[str]
    tasks: list[str]
    domains: list[str]
    quality_tier: str
    speed_tier: str


class SelectModelOut(BaseModel):
    """The best match and every match, best first."""

    selected_model: AliasOut
    candidates: list[AliasOut]


class OrchestrateIn(BaseModel):
    """Which job to plan (another field is a 400)."""

    model_config = ConfigDict(extra="forbid")

    job_type: str | None = None


class PlanStep(BaseModel):
    """One step: its alias, the registry model and the gateway model behind it."""

    step: str
    model: str
    registry_model: str
    gateway_model: str


class PlanOut(BaseModel):
    """A job's steps, in order."""

    steps: list[PlanStep]


class OrchestrateOut(BaseModel):
    """The plan for a job type."""

    job_type: str
    plan: PlanOut


class ChatCompletion(BaseModel):
    """An OpenAI chat completion, as the gateway returned it (extra fields kept)."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: str
    model: str
    choices: list[dict[str, Any]] = Field(default_factory=list)
    usage: dict[str, Any] | None = None
