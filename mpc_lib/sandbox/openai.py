"""An OpenAI-compatible upstream: `/v1/models`, `/v1/chat/completions` (plain and streamed),
`/v1/embeddings` and `/v1/images/generations`.

It stands in for the API behind a gateway deployment (`openai/<model>` with an
`api_base`).  By default it serves the Comet model ids of the shared `SandboxData`
and accepts Comet's sandbox key, so a generated Comet deployment works offline.
Answers are deterministic; usage counts are estimated from the text (about four
characters a token), as a real upstream reports them.  A stream sends a role chunk,
one chunk per word, a finish chunk, a usage chunk when `stream_options.include_usage`
asks for one, then `data: [DONE]`.  Besides the shared faults (latency, 429, 5xx),
a `cut_stream` fault sends a few chunks and then drops the connection.
`GET /_sandbox/streams` says how each stream ended: completed, cut, or cancelled by
the client going away.  Embeddings are small deterministic vectors with usage counted
as for a prompt; images are URLs on a host that is not ours, `n` of them, with no usage
(as DALL-E-style APIs answer).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ._app import CONTROL_PREFIX, emulator_app, request_id, scope_faults
from .state import SandboxState

__all__ = [
    "CUT_AFTER_CHUNKS",
    "EMBEDDING_DIMENSIONS",
    "create_app",
    "embedding_of",
    "estimate_tokens",
    "reply_text",
]

# A cut stream delivers this many chunks before the connection drops.
CUT_AFTER_CHUNKS = 3
# Each sandbox embedding has this many dimensions: enough to look like one, small to send.
EMBEDDING_DIMENSIONS = 8
_MAX_IMAGES = 10
_IMAGE_HOST = "https://images.sandbox.invalid"
_CREATED = 1_700_000_000
_ERRORS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def _error(status: int, message: str) -> dict[str, Any]:
    error_type, code = _ERRORS.get(status, ("server_error", "server_error"))
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _fault_body(path: str, status: int, message: str, rid: str) -> dict[str, Any]:
    return _error(status, f"{message} (request id: {rid})")


def _refuse(request: Request, status: int, message: str) -> Response:
    body = _error(status, f"{message} (request id: {request_id(request)})")
    return JSONResponse(body, status_code=status)


def estimate_tokens(text: str) -> int:
    """Tokens in `text`, estimated as a real tokenizer averages: about four characters each."""
    return max(1, (len(text) + 3) // 4) if text else 0


def reply_text(model: str, messages: list[dict[str, Any]]) -> str:
    """The deterministic answer: names the model and echoes the start of the last user turn."""
    last = next(
        (str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), ""
    )
    echo = " ".join(last.split()[:12])
    return f"Sandbox reply from {model}: {echo}" if echo else f"Sandbox reply from {model}."


def embedding_of(text: str) -> list[float]:
    """A deterministic unit-free vector for `text` (the same text, the same vector)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [round(byte / 255 * 2 - 1, 6) for byte in digest[:EMBEDDING_DIMENSIONS]]


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    # Each message costs its content plus a few tokens of framing, as OpenAI counts them.
    return sum(4 + estimate_tokens(_content_text(m.get("content"))) for m in messages) + 3


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _Streams:
    """How each stream ended, for tests: completed, cut (a fault) or cancelled (client left)."""

    def __init__(self) -> None:
        self.ended: list[dict[str, Any]] = []

    def record(self, rid: str, model: str, outcome: str, chunks: int) -> None:
        self.ended.append({"request_id": rid, "model": model, "outcome": outcome, "chunks": chunks})


class _SseResponse(Response):
    """Server-sent events from `frames`; with `cut`, the connection drops after a few chunks."""

    media_type = "text/event-stream"

    def __init__(
        self, frames: AsyncIterator[bytes], *, rid: str, model: str, streams: _Streams, cut: bool
    ) -> None:
        # No content-length: the body is chunked, and its end is the connection's business.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
        ]
        self.frames = frames
        self.rid = rid
        self.model = model
        self.streams = streams
        self.cut = cut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = 0
        outcome = "cancelled"
        gone = asyncio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(listen())
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for frame in self.frames:
                if gone.is_set():
                    return  # the client went away: stop generating, as a real upstream does
                if self.cut and sent >= CUT_AFTER_CHUNKS:
                    outcome = "cut"
                    return  # returning without the final body message makes uvicorn drop the line
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                sent += 1
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            outcome = "completed"
        except OSError:
            pass  # the client went away mid-send
        finally:
            watcher.cancel()
            self.streams.record(self.rid, self.model, outcome, sent)


def create_app(state: SandboxState) -> Starlette:
    """The OpenAI-compatible upstream, over the shared sandbox state."""
    streams = _Streams()

    def served_models() -> list[dict[str, Any]]:
        return [
            {
                "id": model["id"],
                "object": "model",
                "created": _CREATED,
                "owned_by": str(model.get("owned_by") or "sandbox"),
            }
            for model in state.data.comet_models
            if model.get("id")
        ]

    def check_key(request: Request) -> Response | None:
        header = request.headers.get("authorization", "").strip()
        scheme, _, key = header.partition(" ")
        expected = state.key_for("openai")
        if scheme.lower() != "bearer" or not key.strip():
            return _refuse(request, 401, "Missing bearer key in the Authorization header")
        if expected is not None and key.strip() != expected:
            return _refuse(request, 401, "Incorrect API key provided")
        return None

    async def list_models(request: Request) -> Response:
        refusal = check_key(request)
        if refusal is not None:
            return refusal
        return JSONResponse({"object": "list", "data": served_models()})

    async def read_body(request: Request) -> dict[str, Any] | Response:
        """The JSON object a model call sent, with a served `model`; else the refusal."""
        refusal = check_key(request)
        if refusal is not None:
            return refusal
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _refuse(request, 400, "The request body is not valid JSON")
        if not isinstance(body, dict):
            return _refuse(request, 400, "The request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _refuse(request, 400, "you must provide a model parameter")
        if model not in {m["id"] for m in served_models()}:
            return _refuse(request, 404, f"The model `{model}` does not exist")
        return body

    async def chat(request: Request) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        model, messages = body["model"], body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _refuse(request, 400, "messages must be a non-empty array")
        if not all(isinstance(m, dict) and m.get("role") for m in messages):
            return _refuse(request, 400, "each message needs a role")
        rid = request_id(request)
        text = reply_text(model, messages)
        words = text.split(" ")
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            words = words[:limit]
        text = " ".join(words)
        prompt, completion = _prompt_tokens(messages), estimate_tokens(text)
        finish = "length" if len(words) < len(text.split(" ")) else "stop"
        completion_id = f"chatcmpl-{rid}"
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": finish,
                        }
                    ],
                    "usage": _usage(prompt, completion),
                }
            )
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        cut = any(f.kind == "cut_stream" for f in scope_faults(request))
        usage = _usage(prompt, completion) if include_usage else None
        frames = _frames(
            completion_id, model, words, finish, usage, state.modes.openai_chunk_delay_ms
        )
        return _SseResponse(frames, rid=rid, model=model, streams=streams, cut=cut)

    async def embeddings(request: Request) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        given = body.get("input")
        texts = [given] if isinstance(given, str) else given
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _refuse(request, 400, "input must be a string or a non-empty array of strings")
        tokens = sum(estimate_tokens(text) for text in texts)
        data = [
            {"object": "embedding", "index": i, "embedding": embedding_of(text)}
            for i, text in enumerate(texts)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": body["model"],
                             "usage": usage})  # fmt: skip

    async def images(request: Request) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        prompt, n = body.get("prompt"), body.get("n", 1)
        if not isinstance(prompt, str) or not prompt.strip():
            return _refuse(request, 400, "prompt must be a non-empty string")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_IMAGES:
            return _refuse(request, 400, f"n must be an integer from 1 to {_MAX_IMAGES}")
        rid = request_id(request)
        data = [{"url": f"{_IMAGE_HOST}/{rid}-{i}.png", "revised_prompt": prompt}
                for i in range(n)]  # fmt: skip
        return JSONResponse({"created": int(time.time()), "data": data})

    async def stream_outcomes(request: Request) -> Response:
        return JSONResponse({"streams": streams.ended})

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return _refuse(request, status, f"No route for {request.method} {request.url.path}")

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/images/generations", images, methods=["POST"]),
    ]
    if state.control:
        routes.append(Route(f"{CONTROL_PREFIX}/streams", stream_outcomes, methods=["GET"]))
    return emulator_app(state, "openai", routes, error_body=_fault_body, not_found=not_found)


async def _frames(
    completion_id: str,
    model: str,
    words: list[str],
    finish: str,
    usage: dict[str, int] | None,
    delay_ms: float,
) -> AsyncIterator[bytes]:
    """The SSE frames of one streamed completion, in OpenAI's chunk format."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], reason: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            **extra,
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    pieces = [chunk({"role": "assistant", "content": ""})]
    pieces += [chunk({"content": word if i == 0 else " " + word}) for i, word in enumerate(words)]
    pieces.append(chunk({}, finish))
    if usage is not None:
        tail = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [], "usage": usage}  # fmt: skip
        pieces.append(b"data: " + json.dumps(tail, separators=(",", ":")).encode() + b"\n\n")
    pieces.append(b"data: [DONE]\n\n")
    for piece in pieces:
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        yield piece
