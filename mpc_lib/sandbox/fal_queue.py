"""The sandbox's queue of FAL jobs (`queue.fal.run`): each job's stage moves with its status polls.

A job submitted with `polls_per_stage` k answers its i-th status poll `IN_QUEUE` for
i <= k, `IN_PROGRESS` for k < i <= 2k and `COMPLETED` after (k = 0: completed at once), so
a client's polling loop sees every stage without anyone waiting on a clock.  A cancelled
job is completed at once with the error `Request was cancelled`; a failed one (the
`failed_job` fault) runs its stages and completes with its error.  The queue keeps the
newest `max_jobs` jobs; a request id is only found under the app id it was submitted to.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["CANCELLED_ERROR", "DEFAULT_MAX_JOBS", "FalJob", "FalQueue", "JobStatus"]

JobStatus = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
CancelAnswer = Literal["CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "NOT_FOUND"]
DEFAULT_MAX_JOBS = 1_000
CANCELLED_ERROR = "Request was cancelled"


@dataclass
class FalJob:
    """One queued request: what it will answer (`output`, or `error`) and how far it got."""

    request_id: str
    app_id: str
    endpoint_id: str
    output: dict[str, Any]
    polls_per_stage: int = 1
    error: str | None = None
    cancelled: bool = False
    polls: int = 0
    submitted_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def status(self) -> JobStatus:
        """The stage the latest status poll showed (IN_QUEUE before the first)."""
        k = self.polls_per_stage
        if self.cancelled or k == 0 or self.polls > 2 * k:
            return "COMPLETED"
        return "IN_QUEUE" if self.polls <= k else "IN_PROGRESS"

    @property
    def queue_position(self) -> int:
        """How many more polls the job stays in the queue (0 on its last one there)."""
        return max(self.polls_per_stage - self.polls, 0)

    def logs(self) -> list[dict[str, str]]:
        """fal's `logs` entries for the stages reached so far."""
        reached = {"IN_QUEUE": 1, "IN_PROGRESS": 2, "COMPLETED": 3}[self.status]
        lines = ["Request queued", "Running the sandbox model", "Request completed"][:reached]
        if self.error is not None and self.status == "COMPLETED":
            lines[-1] = self.error
        return [
            {"message": line, "level": "ERROR" if line == self.error else "INFO",
             "source": "user", "timestamp": self.submitted_at}
            for line in lines
        ]  # fmt: skip


class FalQueue:
    """The jobs of one FAL emulator, oldest first, at most `max_jobs` of them."""

    def __init__(self, max_jobs: int = DEFAULT_MAX_JOBS) -> None:
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be >= 1, got {max_jobs!r}")
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, FalJob] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, job: FalJob) -> FalJob:
        """Queue `job`, dropping the oldest jobs past `max_jobs`."""
        with self._lock:
            self._jobs[job.request_id] = job
            while len(self._jobs) > self.max_jobs:
                self._jobs.popitem(last=False)
        return job

    def find(self, app_id: str, request_id: str) -> FalJob | None:
        """The job `request_id` submitted under `app_id`, else None."""
        with self._lock:
            job = self._jobs.get(request_id)
        return job if job is not None and job.app_id == app_id else None

    def poll(self, app_id: str, request_id: str) -> FalJob | None:
        """Count one status poll of the job (its stage may move), else None when unknown."""
        with self._lock:
            job = self._jobs.get(request_id)
            if job is None or job.app_id != app_id:
                return None
            if job.status != "COMPLETED":
                job.polls += 1
            return job

    def cancel(self, app_id: str, request_id: str) -> CancelAnswer:
        """Cancel a job that has not completed: it completes with `CANCELLED_ERROR`."""
        with self._lock:
            job = self._jobs.get(request_id)
            if job is None or job.app_id != app_id:
                return "NOT_FOUND"
            if job.status == "COMPLETED":
                return "ALREADY_COMPLETED"
            job.cancelled = True
            job.error = CANCELLED_ERROR
            return "CANCELLATION_REQUESTED"

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)
