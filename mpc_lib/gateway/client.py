"""`GatewayClient`: the LiteLLM gateway through the shared HTTP core.

Models and model info, chat completions (plain, and streamed chunk by chunk from
server-sent events), liveliness and readiness; the same retries, deadline and typed
errors as every provider client.  It authenticates with the gateway's master key
(`Authorization: Bearer ...`), which `Settings.gateway_key` holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from ..config import Secret, Settings
from ..errors import MpcError, ProviderError, ResponseFormatError, ServerError, TransportError
from ..http import ProviderClient, RetryPolicy

__all__ = ["CHAT_PATH", "GatewayClient", "Message"]

CHAT_PATH = "/v1/chat/completions"
# A chat message: {"role": "user", "content": "..."}.
Message = Mapping[str, Any]
_DONE = "[DONE]"
_PROBE = RetryPolicy(max_retries=0, deadline_s=5.0)


class GatewayClient(ProviderClient):
    """Talks to the LiteLLM gateway at `settings.gateway_url` with its master key."""

    provider = "gateway"
    scheme = "Bearer"

    def __init__(
        self,
        base_url: str | None = None,
        key: Secret | None = None,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        settings = settings or Settings()
        super().__init__(
            base_url or settings.gateway_url,
            key if key is not None else settings.gateway_key,
            settings=settings,
            client=client,
        )

    # --- health ----------------------------------------------------------------------

    def liveliness(self) -> bool:
        """Whether the gateway process answers `/health/liveliness` (one try, no key sent)."""
        try:
            self.http.request("GET", "/health/liveliness", auth=False, retry=_PROBE)
        except MpcError:
            return False
        return True

    def readiness(self) -> dict[str, Any]:
        """`/health/readiness`: `{"status": "healthy", "db": ...}` (no key needed)."""
        body = self.http.get_json("/health/readiness", auth=False)
        return self._object(body, "/health/readiness")

    # --- models ----------------------------------------------------------------------

    def models(self) -> list[str]:
        """The model names the gateway serves (`GET /v1/models`)."""
        body = self._object(self.http.get_json("/v1/models"), "/v1/models")
        data = body.get("data")
        if not isinstance(data, list):
            raise ResponseFormatError("gateway", "/v1/models", "no `data` list")
        return [str(item["id"]) for item in data if isinstance(item, dict) and item.get("id")]

    def model_info(self) -> list[dict[str, Any]]:
        """Every deployment with its params (keys stripped) and model info (`GET /model/info`)."""
        body = self._object(self.http.get_json("/model/info"), "/model/info")
        data = body.get("data")
        if not isinstance(data, list):
            raise ResponseFormatError("gateway", "/model/info", "no `data` list")
        return [item for item in data if isinstance(item, dict)]

    # --- chat ------------------------------------------------------------------------

    def chat(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        request_id: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """One chat completion; extra `params` (temperature, max_tokens...) go in the body."""
        body = {**params, "model": model, "messages": list(messages), "stream": False}
        answer = self.http.post_json(CHAT_PATH, body, headers=_call_id(request_id))
        return self._object(answer, CHAT_PATH)

    def chat_stream(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        request_id: str | None = None,
        include_usage: bool = True,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """A streamed chat completion: each chunk as it arrives, usage last when asked for.

        An error event in the stream raises ServerError; a stream that ends before
        `[DONE]` raises TransportError (the answer was cut short).
        """
        body = {**params, "model": model, "messages": list(messages), "stream": True}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        headers = _call_id(request_id)
        with self.http.stream_lines("POST", CHAT_PATH, json_body=body, headers=headers) as lines:
            count = 0
            for line in lines:
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                data = line[5:].strip()
                if data == _DONE:
                    return
                chunk = self._chunk(data)
                count += 1
                yield chunk
        raise TransportError(
            "gateway", "POST", CHAT_PATH, f"the stream ended after {count} chunk(s) without [DONE]"
        )

    def _chunk(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ResponseFormatError("gateway", CHAT_PATH, f"a chunk is not JSON ({exc})") from exc
        chunk = self._object(chunk, CHAT_PATH)
        error = chunk.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            status = int(code) if code.isdigit() and 400 <= int(code) <= 599 else 502
            cls = ServerError if status >= 500 else ProviderError
            raise cls(
                "gateway", status, "POST", CHAT_PATH,
                error_type=str(error.get("type") or "stream_error"),
                detail=str(error.get("message") or "error event in the stream"),
            )  # fmt: skip
        return chunk

    @staticmethod
    def _object(body: Any, path: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ResponseFormatError("gateway", path, f"expected a JSON object, got {body!r:.80}")
        return body


def _call_id(request_id: str | None) -> dict[str, str]:
    """LiteLLM takes a caller's id as its call id and echoes it back (`x-litellm-call-id`)."""
    if not request_id:
        return {}
    return {"x-request-id": request_id, "x-litellm-call-id": request_id}
