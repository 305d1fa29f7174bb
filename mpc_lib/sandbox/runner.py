"""`Sandbox`: both emulators on loopback ports, sharing one state the caller can steer."""

from __future__ import annotations

import secrets

from . import comet, fal
from .data import SandboxData
from .faults import FaultPlan
from .server import SandboxServer
from .state import RequestRecord, SandboxState

__all__ = ["Sandbox"]


def _random_key(provider: str) -> str:
    return f"sbx-{provider}-{secrets.token_hex(12)}"


class Sandbox:
    """FAL and Comet emulators in background threads; use as a context manager or start()/stop()."""

    def __init__(
        self,
        data: SandboxData | None = None,
        latency_ms: float = 0.0,
        fal_key: str | None = None,
        comet_key: str | None = None,
        accept_any_key: bool = False,
        host: str = "127.0.0.1",
        fal_port: int = 0,
        comet_port: int = 0,
    ) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms!r}")
        live = data if data is not None else SandboxData.generate()
        self._initial = live.copy()
        self._initial_latency_ms = float(latency_ms)
        self.fal_key = fal_key or _random_key("fal")
        self.comet_key = comet_key or _random_key("comet")
        self.state = SandboxState(
            data=live,
            fal_key=None if accept_any_key else self.fal_key,
            comet_key=None if accept_any_key else self.comet_key,
            latency_ms=float(latency_ms),
        )
        self._fal = SandboxServer(fal.create_app(self.state), host=host, port=fal_port, name="fal")
        self._comet = SandboxServer(
            comet.create_app(self.state), host=host, port=comet_port, name="comet"
        )

    @property
    def data(self) -> SandboxData:
        """The live data; mutate it between requests to change what the emulators answer."""
        return self.state.data

    @property
    def faults(self) -> FaultPlan:
        """The fault plan both emulators consult (`Fault.provider` picks one)."""
        return self.state.faults

    @property
    def latency_ms(self) -> float:
        """Extra delay before every non-control answer, in milliseconds."""
        return self.state.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"latency_ms must be >= 0, got {value!r}")
        self.state.latency_ms = float(value)

    @property
    def fal_url(self) -> str:
        """The FAL base URL, ending in /v1, as a FAL client expects."""
        return f"{self._fal.url}/v1"

    @property
    def comet_url(self) -> str:
        """The Comet root URL; clients add /v1/models and /api/models."""
        return self._comet.url

    @property
    def running(self) -> bool:
        """Whether both emulators are serving."""
        return self._fal.running and self._comet.running

    def requests(self, provider: str | None = None) -> list[RequestRecord]:
        """The request log (control routes excluded), optionally for one provider."""
        if provider not in (None, "fal", "comet"):
            raise ValueError(f"unknown provider {provider!r}; known: fal, comet")
        return self.state.log.records(provider)

    def reset(self) -> None:
        """Clear faults and the log; restore the starting data (in place) and latency."""
        self.state.faults.clear()
        self.state.log.clear()
        if self.state.data != self._initial:
            self.state.data.restore(self._initial)
        self.state.latency_ms = self._initial_latency_ms

    def start(self) -> Sandbox:
        """Start both emulators (a no-op when already running)."""
        try:
            self._fal.start()
            self._comet.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both emulators and wait for their threads."""
        self._fal.request_stop()
        self._comet.request_stop()
        self._fal.join()
        self._comet.join()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        if not self.running:
            return "Sandbox(stopped)"
        return f"Sandbox(fal_url={self.fal_url!r}, comet_url={self.comet_url!r})"
