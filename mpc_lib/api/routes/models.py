"""Registry models: `GET /v1/models` (filtered, paginated) and `GET /v1/models/{model_id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...providers import PROVIDERS, ProviderName
from ..deps import ApiState, State, problem
from ..schemas import ErrorEnvelope, ModelList, ModelOut
from . import COMMON_ERRORS

__all__ = ["MAX_PAGE", "router"]

router = APIRouter(tags=["models"], responses=COMMON_ERRORS)
MAX_PAGE = 500


def _out(state: ApiState, record: dict[str, Any]) -> ModelOut:
    provider, model_id = str(record["provider"]), str(record["model_id"])
    return ModelOut(
        id=model_id,
        key=f"{provider}:{model_id}",
        provider=provider,
        display_name=str(record.get("display_name") or model_id),
        category=record.get("category"),
        description=record.get("description"),
        status=str(record.get("status") or "active"),
        owned_by=record.get("owned_by"),
        updated_at=record.get("updated_at"),
        pricing=record.get("pricing"),
        stale=bool(record.get("stale")),
        gateway_model=state.gateway_name(provider, model_id),
    )


def _matches(record: dict[str, Any], provider: str | None, category: str | None, q: str) -> bool:
    if provider is not None and record.get("provider") != provider:
        return False
    if category is not None and record.get("category") != category:
        return False
    if q:
        text = " ".join(
            str(record.get(k) or "") for k in ("model_id", "display_name", "description")
        )
        return q in text.lower()
    return True


@router.get("/v1/models", response_model=ModelList)
async def list_models(
    state: State,
    provider: Annotated[ProviderName | None, Query(description="a provider name")] = None,
    category: Annotated[str | None, Query(description="e.g. text-to-image, llm")] = None,
    q: Annotated[str | None, Query(description="text in id, name or description")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ModelList:
    """Registry models, filtered by provider, category or free text, one page at a time."""
    needle = (q or "").strip().lower()
    models = state.registry().get("models", [])
    found = [m for m in models if _matches(m, provider, category, needle)]
    page = found[offset : offset + limit]
    return ModelList(
        data=[_out(state, record) for record in page],
        total=len(found),
        limit=limit,
        offset=offset,
        has_more=offset + len(page) < len(found),
    )


@router.get(
    "/v1/models/{model_id:path}",
    response_model=ModelOut,
    responses={404: {"model": ErrorEnvelope, "description": "No such model"}},
)
async def get_model(
    state: State,
    model_id: str,
    provider: Annotated[
        ProviderName | None, Query(description="when two providers have the id")
    ] = None,
) -> ModelOut:
    """One registry model by id (ids contain slashes), or by `provider:model_id`."""
    models = state.registry().get("models", [])
    for record in models:
        if record.get("model_id") == model_id and provider in (None, record.get("provider")):
            return _out(state, record)
    head, _, rest = model_id.partition(":")
    if head in PROVIDERS and rest and provider in (None, head):
        record = state.record(model_id)
        if record is not None:
            return _out(state, record)
    raise problem(404, f"no model {model_id!r} in the registry", code="model_not_found")
