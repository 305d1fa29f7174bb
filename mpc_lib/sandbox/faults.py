"""Scripted faults for the emulators: which requests fail, how, and how often."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

__all__ = ["EMULATOR_NAMES", "FAULT_KINDS", "REDIRECT_STATUSES", "Fault", "FaultKind", "FaultPlan"]

# Every emulator the sandbox serves, so a fault can name its target (the runner serves these).
EMULATOR_NAMES: tuple[str, ...] = ("fal", "comet", "openai", "apidog")

FaultKind = Literal[
    "latency",
    "rate_limit",
    "server_error",
    "drop",
    "malformed",
    "repeat_cursor",
    "redirect",
    "cut_stream",
    "wrong_shape",
    "failed_job",
]
FAULT_KINDS: tuple[str, ...] = (
    "latency",
    "rate_limit",
    "server_error",
    "drop",
    "malformed",
    "repeat_cursor",
    "redirect",
    "cut_stream",
    "wrong_shape",
    "failed_job",
)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_DEFAULT_STATUS = {"redirect": 301}
# repeat_cursor only means something on the one cursor-paginated listing.
_CURSOR_LISTING = ("fal", "/v1/models")
# cut_stream only means something on a chat completion.
_CHAT_ROUTE = ("openai", "/v1/chat/completions")
# Faults in the same slot exclude each other on one request; latency has no slot and stacks.
_SLOTS = {
    kind: "answer"
    for kind in ("rate_limit", "server_error", "drop", "malformed", "redirect", "wrong_shape")
}
_SLOTS["repeat_cursor"] = "cursor"
# cut_stream is applied by the OpenAI-compatible upstream's route: chunks flow, then the line dies.
_SLOTS["cut_stream"] = "answer"
# failed_job is applied by FAL's queue when a job is submitted (`POST /queue/<endpoint_id>`):
# the submission succeeds, the job ends with an error.
_SLOTS["failed_job"] = "job"
_QUEUE_SUBMIT = ("fal", "/queue/")


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour; `path` is a request-path prefix (a trailing `$` = exact).

    `query` narrows it to requests whose decoded query string contains that text (e.g.
    `cursor=Mw==`), and `model` to requests whose JSON body names that `model` (a fault for
    one model never lands on a concurrent caller of another). A `redirect` answers `status`
    (301 unless given: 301, 302, 303, 307 or 308) with a `Location` header (`location`, or
    the same path on a moved host) and no body; the other answering kinds take an error
    `status`. A `wrong_shape` answers 200 with the provider's error envelope (for its
    `status`) as the body: valid JSON, but not the answer the operation documents (some
    upstreams send their errors so). A `failed_job` watches FAL queue submissions only
    (`POST /queue/<endpoint_id>`, never a job's status, result or cancel URL): the job is
    accepted, runs its stages, and ends COMPLETED with an error (its result answers 500).

    Its JSON is `dataclasses.asdict(fault)`.  A dataclass, not an MpcModel: faults are
    built positionally (`Fault("drop")`), and `__post_init__` answers each bad field
    with one plain ValueError line, which `POST /_sandbox/faults` sends back as is.
    """

    kind: FaultKind
    provider: str | None = None
    path: str | None = None
    times: int | None = 1
    after: int = 0
    status: int | None = None
    retry_after: float | None = 1
    latency_ms: float = 0
    location: str | None = None
    query: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.provider is not None and self.provider not in EMULATOR_NAMES:
            known = ", ".join(EMULATOR_NAMES)
            raise ValueError(f"unknown provider {self.provider!r}; known: {known} or None")
        if self.kind == "repeat_cursor" and self.provider == "comet":
            raise ValueError("repeat_cursor applies to FAL /v1/models only")
        if self.kind == "cut_stream" and self.provider not in (None, "openai"):
            raise ValueError("cut_stream applies to the openai upstream's chat completions only")
        if self.kind == "failed_job" and self.provider not in (None, "fal"):
            raise ValueError("failed_job applies to FAL queue submissions only")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"fault path must start with '/', got {self.path!r}")
        if self.times is not None and (_not_int(self.times) or self.times < 0):
            raise ValueError(f"times must be a non-negative integer or None, got {self.times!r}")
        if _not_int(self.after) or self.after < 0:
            raise ValueError(f"after must be a non-negative integer, got {self.after!r}")
        if self.status is None:  # frozen: the resolved default is set once, here
            object.__setattr__(self, "status", _DEFAULT_STATUS.get(self.kind, 500))
        status = self.status
        if self.kind == "redirect":
            if not isinstance(status, int) or _not_int(status) or status not in REDIRECT_STATUSES:
                known = ", ".join(map(str, REDIRECT_STATUSES))
                raise ValueError(f"a redirect status must be one of {known}, got {status!r}")
        elif not isinstance(status, int) or _not_int(status) or not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status!r}")
        if self.location is not None and (
            self.kind != "redirect" or not isinstance(self.location, str) or not self.location
        ):
            raise ValueError(
                f"location is a non-empty URL, for redirect faults only, got {self.location!r}"
            )
        if self.query is not None and (not isinstance(self.query, str) or not self.query):
            raise ValueError(f"query must be a non-empty string or None, got {self.query!r}")
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise ValueError(f"model must be a non-empty string or None, got {self.model!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 or None, got {self.retry_after!r}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms!r}")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Fault:
        """Build a fault from a JSON object, refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(
                f"unknown fault field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if "kind" not in raw:
            raise ValueError(f"a fault needs a 'kind'; known: {', '.join(FAULT_KINDS)}")
        return cls(**raw)

    def answer_status(self) -> int:
        """The status this fault answers with (resolved at construction, never None)."""
        return self.status if self.status is not None else _DEFAULT_STATUS.get(self.kind, 500)

    def matches(
        self, provider: str, path: str, query: str = "", model: str | None = None
    ) -> bool:
        """Whether a request to `provider` at `path` (with `query`, for `model`) is one this
        fault watches."""
        if self.provider is not None and self.provider != provider:
            return False
        if self.model is not None and self.model != model:
            return False
        if self.query is not None and self.query not in urllib.parse.unquote_plus(query):
            return False
        if self.kind == "repeat_cursor" and (provider, path.rstrip("/")) != _CURSOR_LISTING:
            return False
        if self.kind == "cut_stream" and (provider, path.rstrip("/")) != _CHAT_ROUTE:
            return False
        if self.kind == "failed_job" and not _is_queue_submit(provider, path):
            return False
        if self.path is None:
            return True
        if self.path.endswith("$"):
            return path == self.path[:-1]
        return path.startswith(self.path)

    def retry_after_header(self) -> str | None:
        """The Retry-After value: whole seconds as an integer, else a decimal."""
        if self.retry_after is None:
            return None
        if float(self.retry_after).is_integer():
            return str(int(self.retry_after))
        return f"{self.retry_after:g}"


def _is_queue_submit(provider: str, path: str) -> bool:
    """Whether `path` is a FAL queue submission, not one of a job's own URLs."""
    queue_provider, prefix = _QUEUE_SUBMIT
    return provider == queue_provider and path.startswith(prefix) and "/requests/" not in path


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


@dataclass
class _Entry:
    fault: Fault
    seen: int = 0
    fired: int = 0


class FaultPlan:
    """A thread-safe list of faults that counts the requests each one has matched."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = [_Entry(f) for f in faults or ()]

    def add(self, fault: Fault) -> Fault:
        """Append a fault; it starts counting from the next matching request."""
        if not isinstance(fault, Fault):
            raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        with self._lock:
            self._entries.append(_Entry(fault))
        return fault

    def clear(self) -> int:
        """Remove every fault; return how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
        return count

    def watches_models(self, provider: str, path: str, query: str = "") -> bool:
        """Whether a fault narrowed to a model watches this request (its body must be read)."""
        with self._lock:
            return any(
                entry.fault.model is not None
                and entry.fault.matches(provider, path, query, entry.fault.model)
                for entry in self._entries
            )

    def take(
        self, provider: str, path: str, query: str = "", model: str | None = None
    ) -> list[Fault]:
        """The faults that fire for this request; every matching fault counts it as seen.

        Latency faults add up; of the faults that decide the answer (rate_limit,
        server_error, drop, malformed, redirect) only the first eligible one fires, so the
        next one waits for a later request. Likewise for repeat_cursor.
        """
        firing: list[Fault] = []
        taken: set[str] = set()
        with self._lock:
            for entry in self._entries:
                fault = entry.fault
                if not fault.matches(provider, path, query, model):
                    continue
                entry.seen += 1
                if entry.seen <= fault.after:
                    continue
                if fault.times is not None and entry.fired >= fault.times:
                    continue
                slot = _SLOTS.get(fault.kind)
                if slot is not None:
                    if slot in taken:
                        continue
                    taken.add(slot)
                entry.fired += 1
                firing.append(fault)
        return firing

    @property
    def faults(self) -> list[Fault]:
        """The faults currently planned, in order."""
        with self._lock:
            return [entry.fault for entry in self._entries]

    def describe(self) -> list[dict[str, Any]]:
        """Each fault as a dict with its `seen` and `fired` counters."""
        with self._lock:
            return [{**asdict(e.fault), "seen": e.seen, "fired": e.fired} for e in self._entries]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"FaultPlan({self.faults!r})"
