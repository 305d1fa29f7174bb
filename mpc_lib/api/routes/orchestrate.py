"""`POST /api/orchestrate`: the step plan of a job type, each step on a resolved alias."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import State, problem
from ..schemas import OrchestrateIn, OrchestrateOut, PlanOut, PlanStep
from . import COMMON_ERRORS

__all__ = ["router"]

router = APIRouter(tags=["aliases"], responses=COMMON_ERRORS)


@router.post("/api/orchestrate", response_model=OrchestrateOut)
async def orchestrate(state: State, body: OrchestrateIn | None = None) -> OrchestrateOut:
    """The plan for `job_type`; a missing or unknown one is a 400 naming the known job types."""
    job_type = (body or OrchestrateIn()).job_type
    jobs = state.aliases.catalog.jobs
    if not job_type:
        raise problem(400, f"job_type is required; known: {', '.join(jobs)}",
                      code="missing_job_type")  # fmt: skip
    if job_type not in jobs:
        raise problem(400, f"Unsupported job_type: {job_type}; known: {', '.join(jobs)}",
                      code="unsupported_job_type")  # fmt: skip
    steps = []
    for step in jobs[job_type]:
        resolved = state.aliases.by_name[step.alias]
        steps.append(PlanStep(step=step.step, model=step.alias, registry_model=resolved.model,
                              gateway_model=resolved.gateway_model))  # fmt: skip
    return OrchestrateOut(job_type=job_type, plan=PlanOut(steps=steps))
