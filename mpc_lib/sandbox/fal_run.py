"""FAL's model-running hosts, emulated beside the Platform API on the FAL emulator's origin:
`/run/...` stands in for `https://fal.run`, `/queue/...` for `https://queue.fal.run`, and
`/files/...` for FAL's file CDN.

The contract (every route but `/files` needs `Authorization: Key <key>`, else 401; errors
are fal.run's `{"detail": ...}` body):

- `POST /run/<endpoint_id>`: a synchronous run.  The path must be exactly an endpoint id
  of the emulator's FAL catalog, else 404 `Application '<path>' not found`.  The body is
  the endpoint's input; a missing or empty `prompt`, a bad `image_size` (a preset of
  `IMAGE_SIZES` or `{width, height}` from 64 to 14142), a bad `num_images` (1 to 4) or a
  non-integer `seed` answers 422 with a FastAPI-style `detail` list.  The answer is the
  result: for `*-to-image`, `{"images": [{url, width, height, content_type}], seed,
  has_nsfw_concepts, timings, prompt}` at the size asked (default landscape_4_3, 1024x768;
  Bria's text-to-image answers one `image`); for `*-to-video`, `{"video": {url,
  content_type}, seed}`; `seed` echoes the input's, else 42.  Other categories answer
  `{"output": ...}`.
- `GET /files/<name>.png`: the images' URLs point here (`<origin>/files/<rid>-<n>-<sig>.png`),
  no key needed; each answers the same small real PNG (`SANDBOX_PNG_SIZE`); a name the
  emulator never gave out answers 404, and so does every video URL (`<rid>.mp4`): the
  sandbox makes no video bytes.
- `POST /queue/<endpoint_id>`: the same path, key and input checks (a bad input is refused
  at submit), then `{request_id, response_url, status_url, cancel_url, queue_position: 0}`
  with URLs under the app id (the endpoint id's first two segments):
  `<origin>/queue/<owner>/<alias>/requests/<rid>`.
- `GET .../requests/<rid>/status`: each poll moves the job (`fal_queue.FalQueue`; the
  `fal_queue_polls` mode, default 1, is the number of polls per stage): `IN_QUEUE` (with
  `queue_position`) and `IN_PROGRESS` answer 202, `COMPLETED` 200, with `response_url`, an
  `error` for a cancelled or failed job, and `logs` when asked (`?logs=1`).
- `GET .../requests/<rid>`: the result once COMPLETED (200, what a run answers); 400
  `Request is still in progress` before; 400 `Request was cancelled`; 500 with the error
  of a failed job (the `failed_job` fault); 404 for an id unknown under that app id.
- `PUT .../requests/<rid>/cancel`: 202 `{"status": "CANCELLATION_REQUESTED"}` before
  completion (the job completes with the error `Request was cancelled`), 400
  `{"status": "ALREADY_COMPLETED"}` after, 404 `{"status": "NOT_FOUND"}` when unknown.

Faults reach these routes like any other FAL path (`Fault("rate_limit", provider="fal",
path="/run/")`), answered in the `{"detail": ...}` body.  What each run and submission
received (field names, `image_size`, `num_images`; never a header) is kept for tests:
`recorded_inputs(state)`, and `GET`/`DELETE /_sandbox/fal/inputs` when the emulator has
control routes.  Jobs and inputs live in `SandboxState.stores`, at most
`DEFAULT_MAX_JOBS` of each, the oldest dropped first.  A file name carries a signature made
with the emulator's FAL key, so `/files` knows the names it gave out without keeping them:
a background run's image stays served across a test's `Sandbox.reset()`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import struct
import zlib
from collections import deque
from typing import Any, TypeGuard

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._app import CONTROL_PREFIX, request_id, scope_faults
from .fal_queue import DEFAULT_MAX_JOBS, FalJob, FalQueue
from .state import SandboxState

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "FAILED_JOB_ERROR",
    "IMAGE_SIZES",
    "QUEUE_STORE",
    "RUN_PREFIXES",
    "SANDBOX_PNG_SIZE",
    "recorded_inputs",
    "run_routes",
    "sandbox_png",
]

# FAL's named image sizes (width, height), as its text-to-image endpoints define them.
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
DEFAULT_IMAGE_SIZE = "landscape_4_3"
# The paths these hosts own: their errors use fal.run's `{"detail": ...}` body.
RUN_PREFIXES = ("/run/", "/queue/", "/files/")
# The error a job ends with under the `failed_job` fault.
FAILED_JOB_ERROR = "The model failed to process the request (sandbox fault)"
# Every image URL serves this picture: small, real, the same bytes every time.
SANDBOX_PNG_SIZE = (64, 48)
_CHECKS = (bytes((40, 90, 160)), bytes((230, 200, 120)))
_MAX_IMAGES = 4
_SIDE = (64, 14142)
_SEED = 42
_MAX_BODY = 4 * 1024 * 1024
# The queue outlives Sandbox.reset(), as a request in flight does (runner.py).
QUEUE_STORE = "fal_queue"
_INPUTS_STORE = "fal_inputs"


class _RunError(Exception):
    """An answer in fal.run's error body."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def _invalid(field: str, message: str) -> _RunError:
    return _RunError(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])


@functools.cache
def sandbox_png() -> bytes:
    """The PNG every image URL serves: an 8-bit RGB checkerboard of `SANDBOX_PNG_SIZE`."""
    width, height = SANDBOX_PNG_SIZE

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    def row(y: int) -> bytes:  # filter byte 0, then a checkerboard of 8-pixel squares
        return b"\x00" + b"".join(_CHECKS[(x // 8 + y // 8) % 2] for x in range(width))

    rows = b"".join(row(y) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join((b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header),
                     chunk(b"IDAT", zlib.compress(rows, 9)), chunk(b"IEND", b"")))  # fmt: skip


def _check_key(request: Request, state: SandboxState) -> None:
    scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
    expected = state.key_for("fal")
    if scheme != "Key" or not key.strip() or (expected is not None and key.strip() != expected):
        raise _RunError(401, "Unauthorized: send `Authorization: Key <FAL key>`")


def _endpoint(state: SandboxState, path: str) -> dict[str, Any]:
    """The model whose endpoint id is exactly `path`."""
    for model in state.data.fal_models:
        if model.get("endpoint_id") == path:
            return model
    raise _RunError(404, f"Application '{path[:200]}' not found")


def _side(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and _SIDE[0] <= value <= _SIDE[1]


def _size(body: dict[str, Any]) -> tuple[int, int]:
    asked = body.get("image_size", DEFAULT_IMAGE_SIZE)
    if isinstance(asked, str) and asked in IMAGE_SIZES:
        return IMAGE_SIZES[asked]
    if isinstance(asked, dict):
        width, height = asked.get("width"), asked.get("height")
        if _side(width) and _side(height):
            return width, height
    names = ", ".join(IMAGE_SIZES)
    raise _invalid("image_size", f"expected one of {names} or {{width, height}} in {_SIDE}")


def _seed(body: dict[str, Any]) -> int:
    seed = body.get("seed")
    if seed is None:
        return _SEED
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _invalid("seed", "expected an integer")
    return seed


def _signature(state: SandboxState, stem: str) -> str:
    key = (state.key_for("fal") or "sandbox").encode()
    return hmac.new(key, stem.encode(), hashlib.sha256).hexdigest()[:12]


def _file_name(state: SandboxState, rid: str, index: int) -> str:
    """`<request id>-<n>-<signature>.png`: a name `/files` can tell it gave out."""
    stem = f"{rid}-{index}"
    return f"{stem}-{_signature(state, stem)}.png"


def _handed_out(state: SandboxState, name: str) -> bool:
    stem, _, signature = name.removesuffix(".png").rpartition("-")
    return name.endswith(".png") and bool(stem) and hmac.compare_digest(
        signature, _signature(state, stem)
    )


def _output(
    state: SandboxState, model: dict[str, Any], body: dict[str, Any], rid: str, origin: str
) -> dict[str, Any]:
    """What the endpoint returns for `body`, by the kind of thing its category makes."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("prompt", "field required: a non-empty string")
    seed = _seed(body)
    category = str((model.get("metadata") or {}).get("category") or "")
    if category.endswith("-to-image"):
        count = body.get("num_images", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= _MAX_IMAGES:
            raise _invalid("num_images", f"expected an integer from 1 to {_MAX_IMAGES}")
        width, height = _size(body)
        names = [_file_name(state, rid, i) for i in range(count)]
        images = [
            {"url": f"{origin}/files/{name}", "width": width, "height": height,
             "content_type": "image/png"}
            for name in names
        ]  # fmt: skip
        if category == "text-to-image" and "bria" in str(model.get("endpoint_id")).lower():
            # Bria's text-to-image endpoints answer with one `image` (LiteLLM reads it so)
            return {"image": images[0], "seed": seed, "prompt": prompt}
        return {"images": images, "seed": seed, "has_nsfw_concepts": [False] * count,
                "prompt": prompt, "timings": {"inference": 0.1}}  # fmt: skip
    if category.endswith("-to-video"):
        video = {"url": f"{origin}/files/{rid}.mp4", "content_type": "video/mp4"}
        return {"video": video, "seed": seed}
    return {"output": f"Sandbox output from {model.get('endpoint_id')}: {prompt[:80]}"}


async def _json_body(request: Request) -> dict[str, Any]:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_BODY:
            raise _RunError(413, f"The request body is larger than {_MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        raise _RunError(422, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _RunError(422, "The request body must be a JSON object")
    return body


def _store(state: SandboxState, name: str, make: Any) -> Any:
    """The emulator's store `name`, made on first use (Sandbox.reset() empties the stores)."""
    store = state.stores.get(name)
    if store is None:
        store = state.stores[name] = make()
    return store


def _queue(state: SandboxState) -> FalQueue:
    queue: FalQueue = _store(state, QUEUE_STORE, FalQueue)
    return queue


def _bounded(value: Any) -> Any:
    """`value` as received when its JSON is short, else a note of its size."""
    text = json.dumps(value)
    return value if len(text) <= 200 else f"<{len(text)} characters of JSON>"


def _record(
    state: SandboxState, route: str, endpoint_id: str, rid: str, body: dict[str, Any], status: int
) -> None:
    """Keep what a run or submission received: field names and the sizing values."""
    inputs: deque[dict[str, Any]] = _store(
        state, _INPUTS_STORE, lambda: deque(maxlen=DEFAULT_MAX_JOBS)
    )
    fields = sorted(name[:100] for name in body)[:100]
    entry: dict[str, Any] = {"route": route, "endpoint_id": endpoint_id, "request_id": rid,
                             "status": status, "fields": fields}  # fmt: skip
    for name in ("image_size", "num_images"):
        if name in body:
            entry[name] = _bounded(body[name])
    inputs.append(entry)


def recorded_inputs(state: SandboxState) -> list[dict[str, Any]]:
    """What each run and queue submission received, oldest first (see the module docstring)."""
    return list(state.stores.get(_INPUTS_STORE) or ())


def _detail(status: int, detail: Any) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def run_routes(state: SandboxState) -> list[Route]:
    """The `/run`, `/queue` and `/files` routes over the FAL emulator's state, and
    `/_sandbox/fal/inputs` when it has control routes."""

    async def accept(request: Request, route: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """Check the key, path and input of a run or submission: (output, rid, model)."""
        _check_key(request, state)
        model = _endpoint(state, request.path_params["path"])
        body = await _json_body(request)
        rid = request_id(request)
        endpoint_id = str(model["endpoint_id"])
        try:
            output = _output(state, model, body, rid, _origin(request))
        except _RunError as exc:
            _record(state, route, endpoint_id, rid, body, exc.status)
            raise
        _record(state, route, endpoint_id, rid, body, 200)
        return output, rid, model

    async def run(request: Request) -> Response:
        try:
            output, _, _ = await accept(request, "run")
        except _RunError as exc:
            return _detail(exc.status, exc.detail)
        return JSONResponse(output)

    async def submit(request: Request) -> Response:
        try:
            output, rid, model = await accept(request, "queue")
        except _RunError as exc:
            return _detail(exc.status, exc.detail)
        endpoint_id = str(model["endpoint_id"])
        # Status and result URLs take the app id: the first two segments of the endpoint id.
        app_id = "/".join(endpoint_id.split("/")[:2])
        failed = any(f.kind == "failed_job" for f in scope_faults(request))
        job = FalJob(rid, app_id, endpoint_id, output, state.modes.fal_queue_polls,
                     error=FAILED_JOB_ERROR if failed else None)  # fmt: skip
        _queue(state).submit(job)
        return JSONResponse({"request_id": rid, **_job_urls(request, job), "queue_position": 0})

    async def status(request: Request) -> Response:
        try:
            _check_key(request, state)
        except _RunError as exc:
            return _detail(exc.status, exc.detail)
        job = _queue(state).poll(_app_id(request), request.path_params["rid"])
        if job is None:
            return _detail(404, "Request not found")
        body: dict[str, Any] = {"status": job.status, "request_id": job.request_id,
                                **_job_urls(request, job)}  # fmt: skip
        if job.status == "IN_QUEUE":
            body["queue_position"] = job.queue_position
        if job.error is not None and job.status == "COMPLETED":
            body["error"] = job.error
        if request.query_params.get("logs") in ("1", "true"):
            body["logs"] = job.logs()
        return JSONResponse(body, status_code=200 if job.status == "COMPLETED" else 202)

    async def result(request: Request) -> Response:
        try:
            _check_key(request, state)
        except _RunError as exc:
            return _detail(exc.status, exc.detail)
        job = _queue(state).find(_app_id(request), request.path_params["rid"])
        if job is None:
            return _detail(404, "Request not found")
        if job.status != "COMPLETED":
            return _detail(400, "Request is still in progress")
        if job.cancelled:
            return _detail(400, job.error)
        if job.error is not None:
            return _detail(500, job.error)
        return JSONResponse(job.output)

    async def cancel(request: Request) -> Response:
        try:
            _check_key(request, state)
        except _RunError as exc:
            return _detail(exc.status, exc.detail)
        answer = _queue(state).cancel(_app_id(request), request.path_params["rid"])
        code = {"CANCELLATION_REQUESTED": 202, "ALREADY_COMPLETED": 400, "NOT_FOUND": 404}
        return JSONResponse({"status": answer}, status_code=code[answer])

    async def files(request: Request) -> Response:
        name = request.path_params["name"]
        if _handed_out(state, name):
            return Response(sandbox_png(), media_type="image/png")
        return _detail(404, "File not found")

    async def inputs(request: Request) -> Response:
        if request.method == "DELETE":
            state.stores.pop(_INPUTS_STORE, None)
        return JSONResponse({"inputs": recorded_inputs(state)})

    job_path = "/queue/{owner}/{alias}/requests/{rid}"
    routes = [
        Route("/run/{path:path}", run, methods=["POST"]),
        Route(f"{job_path}/status", status, methods=["GET"]),
        Route(f"{job_path}/cancel", cancel, methods=["PUT"]),
        Route(job_path, result, methods=["GET"]),
        Route("/queue/{path:path}", submit, methods=["POST"]),
        Route("/files/{name}", files, methods=["GET"]),
    ]
    if state.control:  # what the model calls received: for tests, like the request log
        routes.append(Route(f"{CONTROL_PREFIX}/fal/inputs", inputs, methods=["GET", "DELETE"]))
    return routes


def _app_id(request: Request) -> str:
    return f"{request.path_params['owner']}/{request.path_params['alias']}"


def _job_urls(request: Request, job: FalJob) -> dict[str, str]:
    base = f"{_origin(request)}/queue/{job.app_id}/requests/{job.request_id}"
    return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}
