"""FAL's model-running hosts, emulated beside the Platform API: `/run/...` stands in for
`https://fal.run/<endpoint_id>` (a synchronous run) and `/queue/...` for
`https://queue.fal.run/<endpoint_id>` (a queued one).

A gateway deployment reaches them through its `api_base`, and LiteLLM's fal_ai provider
builds URLs of its own from it: a generic image model posts to the api_base itself, a
dozen hard-wired families append their endpoint path, an image edit appends
`<model>/edit`, a video goes to `<api_base>/<model>` on the queue.  So a route runs the
longest known endpoint id its path starts with.  What comes back has FAL's shape: images
as URLs with their width and height (the `image_size` asked, a preset or
`{width, height}`, else FAL's default landscape_4_3, 1024x768), `num_images` of them
(Bria's text-to-image: one `image`); a video as one URL; a queued request answers with
its id and URLs, and is done at once.
Errors use fal.run's `{"detail": ...}` body.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._app import request_id
from .state import SandboxState

__all__ = ["DEFAULT_IMAGE_SIZE", "IMAGE_SIZES", "run_routes"]

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
_MAX_IMAGES = 4
_SIDE = (64, 14142)
_FILES = "https://v3.fal.media.sandbox.invalid/files"
_QUEUE_STORE = "fal_queue"


class _RunError(Exception):
    """An answer in fal.run's error body."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def _invalid(field: str, message: str) -> _RunError:
    return _RunError(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])


def _check_key(request: Request, state: SandboxState) -> None:
    scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
    expected = state.key_for("fal")
    if scheme != "Key" or not key.strip() or (expected is not None and key.strip() != expected):
        raise _RunError(401, "Unauthorized: send `Authorization: Key <FAL key>`")


def _endpoint(state: SandboxState, path: str) -> dict[str, Any]:
    """The model the longest known endpoint id at the start of `path` names."""
    known = {str(m.get("endpoint_id")): m for m in state.data.fal_models}
    parts = [part for part in path.split("/") if part]
    for end in range(len(parts), 0, -1):
        model = known.get("/".join(parts[:end]))
        if model is not None:
            return model
    raise _RunError(404, f"Application {path!r} not found")


def _side(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and _SIDE[0] <= value <= _SIDE[1]


def _size(body: dict[str, Any]) -> tuple[int, int]:
    asked = body.get("image_size", DEFAULT_IMAGE_SIZE)
    if isinstance(asked, str) and asked in IMAGE_SIZES:
        return IMAGE_SIZES[asked]
    if isinstance(asked, dict):
        width, height = asked.get("width"), asked.get("height")
        if isinstance(width, int) and isinstance(height, int) and _side(width) and _side(height):
            return width, height
    names = ", ".join(IMAGE_SIZES)
    raise _invalid("image_size", f"expected one of {names} or {{width, height}} in {_SIDE}")


def _output(model: dict[str, Any], body: dict[str, Any], rid: str) -> dict[str, Any]:
    """What the endpoint returns for `body`, by the kind of thing its category makes."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("prompt", "field required: a non-empty string")
    category = str((model.get("metadata") or {}).get("category") or "")
    if category.endswith("-to-image"):
        count = body.get("num_images", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= _MAX_IMAGES:
            raise _invalid("num_images", f"expected an integer from 1 to {_MAX_IMAGES}")
        width, height = _size(body)
        images = [
            {"url": f"{_FILES}/{rid}-{i}.png", "width": width, "height": height,
             "content_type": "image/png"}
            for i in range(count)
        ]  # fmt: skip
        if category == "text-to-image" and "bria" in str(model.get("endpoint_id")).lower():
            # Bria's text-to-image endpoints answer with one `image` (LiteLLM reads it so)
            return {"image": images[0], "seed": 42, "prompt": prompt}
        return {"images": images, "seed": 42, "has_nsfw_concepts": [False] * count,
                "prompt": prompt, "timings": {"inference": 0.1}}  # fmt: skip
    if category.endswith("-to-video"):
        return {"video": {"url": f"{_FILES}/{rid}.mp4", "content_type": "video/mp4"}, "seed": 42}
    return {"output": f"Sandbox output from {model.get('endpoint_id')}: {prompt[:80]}"}


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise _RunError(422, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _RunError(422, "The request body must be a JSON object")
    return body


def run_routes(state: SandboxState) -> list[Route]:
    """The `/run` and `/queue` routes, over the FAL emulator's state."""

    async def run(request: Request) -> Response:
        try:
            _check_key(request, state)
            model = _endpoint(state, request.path_params["path"])
            output = _output(model, await _json_body(request), request_id(request))
        except _RunError as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        return JSONResponse(output)

    async def submit(request: Request) -> Response:
        try:
            _check_key(request, state)
            model = _endpoint(state, request.path_params["path"])
            rid = request_id(request)
            output = _output(model, await _json_body(request), rid)
        except _RunError as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        # Status and result URLs take the app id: the first two segments of the endpoint id.
        app = "/".join(str(model["endpoint_id"]).split("/")[:2])
        state.stores.setdefault(_QUEUE_STORE, {})[rid] = output
        base = f"{str(request.base_url).rstrip('/')}/queue/{app}/requests/{rid}"
        urls = {"response_url": base, "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel"}  # fmt: skip
        return JSONResponse({"request_id": rid, **urls})

    async def queued(request: Request) -> Response:
        try:
            _check_key(request, state)
        except _RunError as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        parts = request.path_params["path"].split("/")
        status = parts[-1] == "status"
        rid = parts[-2] if status else parts[-1]
        output = state.stores.get(_QUEUE_STORE, {}).get(rid)
        if "requests" not in parts or output is None:
            return JSONResponse({"detail": "Request not found"}, status_code=404)
        if status:
            return JSONResponse({"status": "COMPLETED", "response_url": str(request.url)[:-7]})
        return JSONResponse(output)

    return [
        Route("/run/{path:path}", run, methods=["POST"]),
        Route("/queue/{path:path}", submit, methods=["POST"]),
        Route("/queue/{path:path}", queued, methods=["GET"]),
    ]
