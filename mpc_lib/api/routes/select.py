"""`POST /api/select-model`: the best alias for a task, domain and modality."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import State, problem
from ..schemas import AliasOut, ErrorEnvelope, SelectModelIn, SelectModelOut
from . import COMMON_ERRORS

__all__ = ["router"]

router = APIRouter(tags=["aliases"], responses=COMMON_ERRORS)


@router.post(
    "/api/select-model",
    response_model=SelectModelOut,
    responses={404: {"model": ErrorEnvelope, "description": "No alias matches"}},
)
async def select_model(state: State, body: SelectModelIn | None = None) -> SelectModelOut:
    """Aliases matching every given criterion, flagship first; the first is `selected_model`."""
    wanted = body or SelectModelIn()
    matches = state.aliases.select(wanted.task_type, wanted.domain, wanted.modality)
    if not matches:
        criteria = ", ".join(
            f"{k}={v!r}" for k, v in wanted.model_dump().items() if v is not None
        )
        raise problem(404, f"No models match the provided criteria ({criteria or 'none'})",
                      code="no_match")  # fmt: skip
    shown = [AliasOut.model_validate(resolved.model_dump(mode="json")) for resolved in matches]
    return SelectModelOut(selected_model=shown[0], candidates=shown)
