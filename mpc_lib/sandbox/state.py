"""The state the emulators share: data, faults, accepted keys, latency, the log, their stores."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .data import SandboxData
from .faults import FaultPlan
from .modes import SandboxModes

__all__ = ["RequestLog", "RequestRecord", "SandboxState"]


class RequestRecord(NamedTuple):
    """One served request: `at` is its arrival (time.monotonic); `status` 0 = dropped on purpose.

    Its JSON is the NamedTuple's own `_asdict()`.
    """

    provider: str
    method: str
    path: str
    query: str
    status: int
    at: float


class RequestLog:
    """A thread-safe list of served requests, appended as each answer completes.

    `clear()` starts a new generation: a request that arrived before it and
    finishes after it is not logged, so one test's slow request never shows
    up in the next test's log.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._generation = 0

    @property
    def generation(self) -> int:
        """Bumped by every `clear()`."""
        with self._lock:
            return self._generation

    def append(self, record: RequestRecord, generation: int | None = None) -> bool:
        """Add one record, unless it belongs to a generation that was cleared since."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return False
            self._records.append(record)
            return True

    def records(self, provider: str | None = None) -> list[RequestRecord]:
        """A copy of the records, optionally for one provider only."""
        with self._lock:
            return [r for r in self._records if provider is None or r.provider == provider]

    def clear(self) -> None:
        """Forget every record, and every request still in flight."""
        with self._lock:
            self._records.clear()
            self._generation += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


@dataclass
class SandboxState:
    """What both apps read on every request; a None key accepts any non-empty key."""

    data: SandboxData
    faults: FaultPlan = field(default_factory=FaultPlan)
    modes: SandboxModes = field(default_factory=SandboxModes)
    keys: dict[str, str | None] = field(default_factory=dict)
    latency_ms: float = 0.0
    log: RequestLog = field(default_factory=RequestLog)
    # What emulators keep between requests (Apidog's projects), emptied by Sandbox.reset().
    stores: dict[str, Any] = field(default_factory=dict)
    # Where an emulator keeps its store between processes (Apidog: after each import).
    store_files: dict[str, Path] = field(default_factory=dict)
    # Whether the fault, mode and log routes under /_sandbox answer: off when a command of
    # the workbook runs on the sandbox, on for tests and `mpc sandbox serve`.
    control: bool = True
    _ids: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _run: str = field(default_factory=lambda: uuid.uuid4().hex[:8], repr=False)

    def key_for(self, provider: str) -> str | None:
        """The key `provider`'s emulator accepts (None or absent = any non-empty key)."""
        return self.keys.get(provider)

    def next_request_id(self, provider: str) -> str:
        """A unique request id such as `sbx-fal-1a2b3c4d-000042`."""
        with self._lock:
            number = self._ids.get(provider, 0) + 1
            self._ids[provider] = number
        return f"sbx-{provider}-{self._run}-{number:06d}"
