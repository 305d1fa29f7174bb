"""The FAL queue jobs MPC-API has submitted: which endpoint each request id belongs to, what
its input asked for (only what its cost needs), and whether its cost was recorded.

FAL's status, result and cancel URLs take the app id (the endpoint id's first two
segments), so MPC-API keeps each request id it handed out, and answers only for those:
a caller cannot reach another app's requests through it.  The table is bounded (the
oldest jobs go first) and lives as long as the process.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_JOBS", "REQUEST_ID", "FalJob", "FalJobs", "app_id"]

MAX_JOBS = 10_000
# FAL's request ids are UUIDs; anything else in a path segment is refused.
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
# What a job's cost needs from its input (FAL bills a video by its duration).
_COST_INPUTS = ("duration", "num_images")


def app_id(endpoint_id: str) -> str:
    """FAL's app id: an endpoint id's first two segments (`fal-ai/flux` of `fal-ai/flux/dev`)."""
    return "/".join(endpoint_id.split("/")[:2])


@dataclass
class FalJob:
    """One submitted job: its registry model, endpoint, and the input fields its cost reads."""

    request_id: str
    model: str  # provider:model_id
    endpoint_id: str
    given: dict[str, Any] = field(default_factory=dict)
    charged: bool = False

    @property
    def queue_path(self) -> str:
        """`<app id>/requests/<request id>`, under the gateway's queue route."""
        return f"{app_id(self.endpoint_id)}/requests/{self.request_id}"


class FalJobs:
    """The bounded table of jobs, by request id."""

    def __init__(self, limit: int = MAX_JOBS) -> None:
        self._jobs: OrderedDict[str, FalJob] = OrderedDict()
        self._limit = limit

    def add(
        self, request_id: str, model: str, endpoint_id: str, given: Mapping[str, Any]
    ) -> FalJob:
        """Keep a new job (forgetting the oldest past the limit)."""
        kept = {name: given[name] for name in _COST_INPUTS if name in given}
        job = self._jobs[request_id] = FalJob(request_id, model, endpoint_id, kept)
        while len(self._jobs) > self._limit:
            self._jobs.popitem(last=False)
        return job

    def get(self, request_id: str) -> FalJob | None:
        """The job, if MPC-API submitted it (and still remembers it)."""
        return self._jobs.get(request_id)

    def __len__(self) -> int:
        return len(self._jobs)
