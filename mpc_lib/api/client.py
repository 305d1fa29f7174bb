"""`MpcApiClient`: MPC-API's FAL calls through the shared HTTP core, for notebooks and scripts.

Images (`generate_image`) and FAL's queue (`submit`, `status`, `result`, `cancel`, and
`wait`, which polls until the job completes), each answer with its cost when MPC-API
reported one (`x-mpc-cost-usd`).  It authenticates with `MPC_API_KEY` when one is set.
A call that costs money is retried only on a 429 (FAL did no work then); reads are
retried as every client's are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..config import Secret, Settings
from ..errors import ResponseFormatError
from ..http import SYSTEM_CLOCK, Clock, ProviderClient, RetryPolicy

__all__ = ["FalJobResult", "GeneratedImages", "MpcApiClient"]

_COST = "x-mpc-cost-usd"


class _OnlyRateLimits(RetryPolicy):
    """Retry a paid call only when it was refused before any work (429)."""

    def should_retry_status(self, status: int) -> bool:
        return status == 429


def _cost(response: httpx.Response) -> float | None:
    value = response.headers.get(_COST)
    return float(value) if value else None


@dataclass(frozen=True)
class GeneratedImages:
    """What `generate_image` got: the image URLs, FAL's seed, the cost and the request id."""

    urls: list[str]
    seed: int | None
    cost_usd: float | None
    request_id: str | None


@dataclass(frozen=True)
class FalJobResult:
    """A finished job: the statuses seen while waiting, FAL's result, the cost."""

    request_id: str
    statuses: list[str]
    result: dict[str, Any]
    cost_usd: float | None


class MpcApiClient(ProviderClient):
    """Talks to MPC-API at `settings.api_url` with `MPC_API_KEY`."""

    provider = "mpc-api"
    scheme = "Bearer"

    def __init__(
        self,
        base_url: str | None = None,
        key: Secret | None = None,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        settings = settings or Settings()
        super().__init__(
            base_url or settings.api_url,
            key if key is not None else settings.api_key,
            settings=settings,
            client=client,
            clock=clock,
        )
        self._paid = _OnlyRateLimits(
            max_retries=self.settings.max_retries, deadline_s=self.settings.deadline_s
        )
        self.clock = clock

    def _json(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ResponseFormatError("mpc-api", path, "not a JSON object")
        return body

    def generate_image(
        self, model: str, prompt: str, *, size: str | None = None, n: int = 1,
        seed: int | None = None,
    ) -> GeneratedImages:  # fmt: skip
        """`POST /v1/images/generations`: a FAL text-to-image model (or its alias)."""
        body: dict[str, Any] = {"model": model, "prompt": prompt, "n": n}
        if size is not None:
            body["size"] = size
        if seed is not None:
            body["seed"] = seed
        path = "/v1/images/generations"
        response = self.http.request("POST", path, json_body=body, retry=self._paid)
        answer = self._json(response, path)
        urls = [str(item["url"]) for item in answer.get("data") or [] if isinstance(item, dict)]
        seed_back = answer.get("seed")
        return GeneratedImages(
            urls, seed_back if isinstance(seed_back, int) else None, _cost(response),
            response.headers.get("x-request-id"),
        )  # fmt: skip

    def submit(self, endpoint_id: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /v1/fal/{endpoint_id}`: FAL's own input, queued; answers its request id."""
        path = f"/v1/fal/{endpoint_id}"
        response = self.http.request("POST", path, json_body=dict(given), retry=self._paid)
        return self._json(response, path)

    def status(self, request_id: str) -> dict[str, Any]:
        """`GET /v1/fal/requests/{id}`: IN_QUEUE, IN_PROGRESS or COMPLETED."""
        path = f"/v1/fal/requests/{request_id}"
        return self._json(self.http.request("GET", path), path)

    def result(self, request_id: str) -> tuple[dict[str, Any], float | None]:
        """`GET /v1/fal/requests/{id}/result`: FAL's result and its cost."""
        path = f"/v1/fal/requests/{request_id}/result"
        response = self.http.request("GET", path)
        return self._json(response, path), _cost(response)

    def cancel(self, request_id: str) -> dict[str, Any]:
        """`POST /v1/fal/requests/{id}/cancel`."""
        path = f"/v1/fal/requests/{request_id}/cancel"
        return self._json(self.http.request("POST", path), path)

    def wait(
        self,
        request_id: str,
        *,
        poll_s: float = 1.0,
        timeout_s: float = 600.0,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> FalJobResult:
        """Poll the job until COMPLETED (calling `on_status` with each status), then fetch its
        result; a job still running after `timeout_s` raises TimeoutError, one that failed
        ResponseFormatError with FAL's message."""
        statuses: list[str] = []
        deadline = self.clock.monotonic() + timeout_s
        while True:
            current = self.status(request_id)
            statuses.append(str(current.get("status")))
            if on_status is not None:
                on_status(current)
            if current.get("status") == "COMPLETED":
                break
            if self.clock.monotonic() >= deadline:
                raise TimeoutError(f"FAL job {request_id} not completed after {timeout_s:g} s")
            self.clock.sleep(poll_s)
        if current.get("error"):
            raise ResponseFormatError("mpc-api", request_id, f"the job failed: {current['error']}")
        result, cost = self.result(request_id)
        return FalJobResult(request_id, statuses, result, cost)
