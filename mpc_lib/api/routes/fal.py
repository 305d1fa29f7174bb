"""FAL model calls through the gateway: images in OpenAI's shape, and FAL's queue.

- `POST /v1/images/generations` takes OpenAI's images body (`model`, `prompt`, `n`, `size`,
  `response_format: url`, `seed`, `user`; nothing else) for a FAL text-to-image model (an
  alias, `fal:<endpoint_id>` or the endpoint id), posts FAL's input (`prompt`,
  `num_images` from `n`, `image_size` from `size`, `seed`) to the gateway's `/fal-run`
  route at the endpoint's own path, and answers `{created, data: [{url}], seed}`.
- `POST /v1/fal/{endpoint_id}` submits FAL's own input (a JSON object) to the gateway's
  `/fal-queue` route; `GET /v1/fal/requests/{id}` gives its status, `GET .../result` its
  result, `POST .../cancel` cancels it.  URLs in the answers point at MPC-API.

MPC-API holds no FAL key: the gateway's pass-through routes add it.  An endpoint id must
be a FAL model of the registry (a path of plain segments; anything else is a 404), and a
request id one this process submitted.  Each image and each result is charged at the
registry price (`pricing.usage.fal_charge`): the cost goes back in `x-mpc-cost-usd` and
into the usage log, once per call.  FAL's errors come back in MPC-API's envelope: its 422
as a 400 naming the field, a 429 with its Retry-After, a refused key or a failure
upstream as a 502.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from ...errors import TransportError
from ...http import SANDBOX_MARK
from ...pricing.prices import price_of
from ...pricing.usage import Charge, UsageLine, fal_charge, record_usage
from ...providers import PROVIDERS
from ...upstreams import open_upstreams
from ..allowlist import parse_object, relay_bytes
from ..deps import COST_HEADER, ApiState, State, gateway_unreachable, problem, request_id_of
from ..fal_jobs import REQUEST_ID, FalJob
from ..schemas import ErrorEnvelope
from . import COMMON_ERRORS

__all__ = ["MAX_ANSWER_BYTES", "router"]

log = logging.getLogger("mpc_lib.api")

router = APIRouter(tags=["fal"], responses=COMMON_ERRORS)

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a FAL answer holds URLs, not files
_FAL = PROVIDERS["fal"]
_RUN, _QUEUE = _FAL.host_route("run"), _FAL.host_route("queue")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorEnvelope, "description": "No such FAL model, or request"},
    409: {"model": ErrorEnvelope, "description": "The job is not in a state for this"},
    429: {"model": ErrorEnvelope, "description": "FAL is rate limiting"},
    502: {"model": ErrorEnvelope, "description": "The gateway or FAL failed"},
    503: {"model": ErrorEnvelope, "description": "The gateway is unreachable"},
    504: {"model": ErrorEnvelope, "description": "The gateway timed out"},
}
_COST_DOC = {COST_HEADER: {"description": "The call's cost at the registry price (absent: "
                           "unknown)", "schema": {"type": "string"}}}  # fmt: skip


class ImagesIn(BaseModel):
    """OpenAI's images body, as far as a FAL text-to-image model can honour it."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    prompt: str = Field(min_length=1, max_length=32_000)
    n: int = Field(default=1, ge=1, le=4)
    size: str | None = Field(default=None, pattern=_SIZE.pattern, description="WIDTHxHEIGHT")
    response_format: Literal["url"] = "url"
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    user: str | None = Field(default=None, max_length=256)


class ImageOut(BaseModel):
    url: str


class ImagesOut(BaseModel):
    created: int
    data: list[ImageOut]
    seed: int | None = None


class FalJobOut(BaseModel):
    """A submitted job, with MPC-API's URLs for it."""

    request_id: str
    status_url: str
    response_url: str
    cancel_url: str


class FalStatusOut(BaseModel):
    request_id: str
    status: str
    queue_position: int | None = None
    error: str | None = None
    response_url: str


# --- resolving models and endpoints ----------------------------------------------------


def _fal_record(state: ApiState, name: str) -> dict[str, Any] | None:
    """The registry's FAL model for an alias, `fal:<id>` or a bare endpoint id."""
    resolved = state.aliases.lookup(name)
    if resolved is not None:
        key = resolved.model
    elif name.startswith("fal:"):
        key = name
    else:
        key = f"fal:{name}"
    return state.record(key) if key.startswith("fal:") else None


def _endpoint(state: ApiState, endpoint_id: str) -> dict[str, Any]:
    """The registry model an endpoint id in a path names; anything else is a 404."""
    parts = endpoint_id.split("/")
    if not 2 <= len(parts) <= 8 or not all(_SEGMENT.match(p) and p.strip(".") for p in parts):
        raise problem(404, "not a FAL endpoint id (owner/app[/path])", code="unknown_endpoint")
    record = state.record(f"fal:{endpoint_id}")
    if record is None:
        raise problem(404, f"FAL endpoint {endpoint_id!r} is not in the registry",
                      code="unknown_endpoint")  # fmt: skip
    return record


def _job(state: ApiState, request_id: str) -> FalJob:
    job = state.fal_jobs.get(request_id) if REQUEST_ID.match(request_id) else None
    if job is None:
        raise problem(404, "no such FAL request (MPC-API answers for the jobs it submitted)",
                      code="unknown_request")  # fmt: skip
    return job


# --- calling FAL through the gateway ---------------------------------------------------


def _detail(body: Any) -> str:
    """FAL's `detail` (a message, or a list of {loc, msg}) as one line."""
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(detail, list):
        parts = []
        for item in detail[:5]:
            if isinstance(item, Mapping):
                loc = ".".join(str(p) for p in item.get("loc") or () if p != "body")
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
        return "; ".join(parts) or "invalid input"
    if detail is not None:
        return str(detail)[:500]
    status = body.get("status") if isinstance(body, Mapping) else None
    return str(status) if status else "no detail"


def _upstream_error(status: int, body: Any, headers: Mapping[str, str]) -> HTTPException:
    """An error answer from the gateway or FAL, in MPC-API's terms (FAL's model hosts answer
    `{"detail": ...}`; an `{"error": {...}}` body is the gateway's, or FAL's platform's)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        detail = str(error.get("message") or error.get("type") or "no detail")[:500]
    else:
        detail = _detail(body)
    if status in (401, 403):
        if isinstance(error, Mapping) and error.get("type") == "auth_error":  # LiteLLM's own
            return problem(502, f"the gateway refused MPC-API's key ({status}: {detail}); "
                           "LITELLM_MASTER_KEY must be the gateway's",
                           kind="gateway_auth")  # fmt: skip
        return problem(502, f"FAL refused the gateway's key ({status}: {detail}); check FAL_KEY "
                       "where `mpc gateway serve` runs", kind="provider_auth")  # fmt: skip
    if status == 429:
        exc = problem(429, f"FAL is rate limiting ({detail})", code="rate_limited")
        retry_after = headers.get("retry-after")
        if retry_after:
            exc.headers = {"retry-after": retry_after}
        return exc
    if status in (400, 422):
        return problem(400, f"FAL refused the input: {detail}", code="invalid_input")
    if status == 404:
        return problem(404, f"FAL: {detail}", code="not_found")
    return problem(502, f"FAL or the gateway failed ({status}: {detail})", kind="upstream_error")


async def _call(
    state: ApiState, method: str, path: str, rid: str, body: Any = None
) -> tuple[int, Mapping[str, str], Any]:
    """One call through the gateway: (status, headers, parsed JSON); unreachable raises."""
    headers = {"accept-encoding": "identity", "x-request-id": rid}
    content = None
    if body is not None:
        content = relay_bytes(body)  # a lone surrogate anywhere is a 400 naming where
        headers["content-type"] = "application/json"
    try:
        upstream = await state.relay.open(method, path, content=content, headers=headers)
    except TransportError as exc:
        raise gateway_unreachable(state, exc) from None
    try:
        raw = bytearray()
        async for chunk in upstream.chunks():
            raw += chunk
            if len(raw) > MAX_ANSWER_BYTES:
                raise problem(502, f"FAL's answer is over {MAX_ANSWER_BYTES} bytes",
                              kind="upstream_error")  # fmt: skip
    except TransportError as exc:
        raise gateway_unreachable(state, exc) from None
    finally:
        await upstream.aclose()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    if upstream.status < 400 and not isinstance(parsed, Mapping):
        raise problem(502, f"FAL answered {upstream.status} without a JSON object",
                      kind="upstream_error")  # fmt: skip
    return upstream.status, upstream.headers, parsed


async def _on_queue(
    state: ApiState, request: Request, request_id: str, method: str, suffix: str = "",
    conflict: tuple[str, str, str] | None = None,
) -> tuple[FalJob, Mapping[str, str], Mapping[str, Any]]:
    """One call on a submitted job's queue URL (`<app>/requests/<id><suffix>`): the job, and
    FAL's headers and answer; an error answer raises (a 400 whose detail holds `conflict`'s
    word as a 409 with its message and code)."""
    job = _job(state, request_id)
    path = f"{_QUEUE}/{job.queue_path}{suffix}"
    status, headers, answer = await _call(state, method, path, request_id_of(request))
    if conflict is not None and status == 400 and conflict[0] in _detail(answer).upper():
        raise problem(409, conflict[1], code=conflict[2])
    if status >= 400:
        raise _upstream_error(status, answer, headers)
    return job, headers, answer


def _served(state: ApiState, headers: Mapping[str, str]) -> Literal["live", "sandbox", "unknown"]:
    """What answered: the sandbox when its mark came back, else what the gateway's record says."""
    if headers.get(SANDBOX_MARK):
        return "sandbox"
    with open_upstreams(state.settings, ("fal",), source="gateway") as upstreams:
        return upstreams["fal"].kind


def _charge(
    state: ApiState, request: Request, record: Mapping[str, Any], route: str,
    given: Mapping[str, Any], result: Mapping[str, Any], headers: Mapping[str, str],
) -> Charge:  # fmt: skip
    """Price one call and write its usage line."""
    charge = fal_charge(price_of(record, None), given, result)
    line = UsageLine(
        time=datetime.now(UTC), request_id=request_id_of(request),
        model=f"fal:{record['model_id']}", route=route, served=_served(state, headers),
        **charge.model_dump(),
    )  # fmt: skip
    try:
        record_usage(state.settings.outputs_dir, line)
    except OSError as exc:  # the call is done and paid for: say so, and still answer
        log.error("api: usage log not written for %s: %s", line.request_id, exc)
    return charge


def _answer(body: Any, charge: Charge | None, status: int = 200) -> JSONResponse:
    answer = JSONResponse(body, status_code=status)
    if charge is not None and charge.header is not None:
        answer.headers[COST_HEADER] = charge.header
    return answer


def _urls(request: Request, request_id: str) -> dict[str, str]:
    base = f"{str(request.base_url).rstrip('/')}/v1/fal/requests/{request_id}"
    return {"status_url": base, "response_url": f"{base}/result", "cancel_url": f"{base}/cancel"}


# --- routes ------------------------------------------------------------------------------


@router.post(
    "/v1/images/generations", response_model=ImagesOut,
    responses={**_ERRORS, 200: {"headers": _COST_DOC}},
    summary="Generate images with a FAL text-to-image model",
)  # fmt: skip
async def images_generations(state: State, request: Request, body: ImagesIn) -> JSONResponse:
    """OpenAI's images API over a FAL text-to-image model, charged at the registry price."""
    record = _fal_record(state, body.model)
    if record is None:
        raise problem(404, f"Unknown model: {body.model} (a FAL text-to-image model, its alias "
                      "or fal:<endpoint_id>)", code="model_not_found")  # fmt: skip
    if record.get("category") != "text-to-image":
        raise problem(400, f"{body.model!r} is fal:{record['model_id']}, a "
                      f"{record.get('category')} model; images need a text-to-image one",
                      code="not_an_image_model")  # fmt: skip
    given: dict[str, Any] = {"prompt": body.prompt, "num_images": body.n}
    if body.size is not None:
        width, height = (int(side) for side in body.size.split("x"))
        given["image_size"] = {"width": width, "height": height}
    if body.seed is not None:
        given["seed"] = body.seed
    path = f"{_RUN}/{record['model_id']}"
    status, headers, result = await _call(state, "POST", path, request_id_of(request), given)
    if status >= 400:
        raise _upstream_error(status, result, headers)
    images = result.get("images")
    if not isinstance(images, list):
        images = [result["image"]] if isinstance(result.get("image"), Mapping) else []
    urls = [{"url": str(i["url"])} for i in images if isinstance(i, Mapping) and i.get("url")]
    if not urls:
        raise problem(502, "FAL answered without an image URL", kind="upstream_error")
    charge = _charge(state, request, record, "images", given, result, headers)
    seed = result.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    out = {"created": int(time.time()), "data": urls, "seed": seed}
    return _answer(out, charge)


_EndpointId = Annotated[str, Path(description="A FAL endpoint id of the registry", max_length=512)]
_RequestId = Annotated[str, Path(description="A request id MPC-API answered", max_length=128)]


@router.get(
    "/v1/fal/requests/{request_id}", response_model=FalStatusOut, responses=_ERRORS,
    summary="A queued FAL job's status",
)  # fmt: skip
async def job_status(state: State, request: Request, request_id: _RequestId) -> JSONResponse:
    """IN_QUEUE (with its position), IN_PROGRESS or COMPLETED (with `error` if it failed)."""
    job, _, answer = await _on_queue(state, request, request_id, "GET", "/status")
    out: dict[str, Any] = {"request_id": job.request_id, "status": str(answer.get("status"))}
    position = answer.get("queue_position")
    if isinstance(position, int) and not isinstance(position, bool):
        out["queue_position"] = position
    if answer.get("error"):
        out["error"] = str(answer["error"])[:500]
    out["response_url"] = _urls(request, job.request_id)["response_url"]
    return _answer(out, None)


@router.get(
    "/v1/fal/requests/{request_id}/result", responses={**_ERRORS, 200: {"headers": _COST_DOC}},
    summary="A completed FAL job's result",
)  # fmt: skip
async def job_result(state: State, request: Request, request_id: _RequestId) -> JSONResponse:
    """FAL's result as it sent it; charged once, at the first fetch."""
    job, headers, answer = await _on_queue(state, request, request_id, "GET", conflict=(
        "PROGRESS", "the job is not completed yet; poll its status_url", "not_completed"))
    record = state.record(job.model)
    charge = None
    if record is not None:
        charge = fal_charge(price_of(record, None), job.given, answer)
        if not job.charged:
            job.charged = True
            charge = _charge(state, request, record, "queue", job.given, answer, headers)
    return _answer(answer, charge)


@router.post(
    "/v1/fal/requests/{request_id}/cancel", status_code=202, responses=_ERRORS,
    summary="Cancel a queued FAL job",
)  # fmt: skip
async def job_cancel(state: State, request: Request, request_id: _RequestId) -> JSONResponse:
    """Ask FAL to cancel the job; a job already completed is a 409."""
    job, _, answer = await _on_queue(state, request, request_id, "PUT", "/cancel", conflict=(
        "COMPLETED", "the job is already completed", "already_completed"))
    return _answer({"request_id": job.request_id, "status": str(answer.get("status"))}, None,
                   status=202)  # fmt: skip


# Last: its path would also match the /v1/fal/requests/... routes above.
@router.post(
    "/v1/fal/{endpoint_id:path}", response_model=FalJobOut, status_code=202,
    responses=_ERRORS, summary="Submit a job to a FAL model's queue",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "description": "The endpoint's own input"}}}}},
)  # fmt: skip
async def submit(state: State, request: Request, endpoint_id: _EndpointId) -> JSONResponse:
    """Queue FAL's input for one endpoint; poll the answer's status_url."""
    record = _endpoint(state, endpoint_id)
    # FAL's own input, whatever the endpoint takes, parsed strictly (no NaN, no deep nesting)
    given = parse_object(await request.body())
    path = f"{_QUEUE}/{record['model_id']}"
    status, headers, answer = await _call(state, "POST", path, request_id_of(request), given)
    if status >= 400:
        raise _upstream_error(status, answer, headers)
    rid = str(answer.get("request_id") or "")
    if not REQUEST_ID.match(rid):
        raise problem(502, "FAL's queue answered without a request id", kind="upstream_error")
    state.fal_jobs.add(rid, f"fal:{record['model_id']}", str(record["model_id"]), given)
    return _answer({"request_id": rid, **_urls(request, rid)}, None, status=202)
