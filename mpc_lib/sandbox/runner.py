"""`Sandbox`: the emulators on loopback ports, sharing one state the caller can steer.

Each emulator is an entry in `EMULATORS`: an ASGI app factory over the shared
`SandboxState` and the path a client's base URL ends in.  A new emulator (Apidog,
an OpenAI-style upstream) is one more module whose `create_app(state)` returns
`_app.emulator_app(...)` with its routes, plus one entry here; `Sandbox.url(name)`
and `Sandbox.key(name)` then serve it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp

from . import apidog, comet, fal, openai
from .data import SandboxData
from .fal_run import QUEUE_STORE, recorded_inputs
from .faults import EMULATOR_NAMES, FaultPlan
from .modes import SandboxModes
from .server import SandboxServer
from .state import RequestRecord, SandboxState

__all__ = ["EMULATORS", "Emulator", "Sandbox", "served_url"]


@dataclass(frozen=True)
class Emulator:
    """How to serve one provider: its app factory and the base path its clients use.

    `shares_key_of` names the emulator whose key this one accepts (a provider's chat
    API takes the same key as its catalog).
    """

    create_app: Callable[[SandboxState], ASGIApp]
    # The fixed port `mpc sandbox serve` gives it (a container of the stack serves there).
    serve_port: int
    base_path: str = ""
    shares_key_of: str | None = None


EMULATORS: dict[str, Emulator] = {
    "fal": Emulator(fal.create_app, 8801, base_path="/v1"),
    "comet": Emulator(comet.create_app, 8802),
    # The OpenAI-compatible chat upstream behind gateway deployments; stands in for Comet's.
    "openai": Emulator(openai.create_app, 8803, shares_key_of="comet"),
    "apidog": Emulator(apidog.create_app, 8804),
}
if tuple(EMULATORS) != EMULATOR_NAMES:  # faults name their target from that tuple
    raise RuntimeError(f"EMULATORS {tuple(EMULATORS)} != faults.EMULATOR_NAMES {EMULATOR_NAMES}")


def served_url(name: str, host: str) -> str:
    """Emulator `name`'s base URL as `mpc sandbox serve` serves it on `host` (its fixed port)."""
    emulator = EMULATORS[name]
    return f"http://{host}:{emulator.serve_port}{emulator.base_path}"


def _random_key(provider: str) -> str:
    return f"sbx-{provider}-{secrets.token_hex(12)}"


class Sandbox:
    """The emulators in background threads; use as a context manager or start()/stop()."""

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
        *,
        keys: Mapping[str, str] | None = None,
        ports: Mapping[str, int] | None = None,
        control: bool = True,
    ) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms!r}")
        given_keys = {"fal": fal_key, "comet": comet_key, **(keys or {})}
        given_ports = {"fal": fal_port, "comet": comet_port, **(ports or {})}
        unknown = (set(keys or {}) | set(ports or {})) - set(EMULATORS)
        if unknown:
            raise ValueError(
                f"unknown emulator(s) {sorted(unknown)}; known: {', '.join(EMULATORS)}"
            )
        live = data if data is not None else SandboxData.generate()
        # reset() restores this copy; with no control routes nobody changes the data
        self._initial = live.copy() if control else live
        self._initial_latency_ms = float(latency_ms)
        self._keys = {name: given_keys.get(name) or _random_key(name) for name in EMULATORS}
        for name, emulator in EMULATORS.items():
            if emulator.shares_key_of and not given_keys.get(name):
                self._keys[name] = self._keys[emulator.shares_key_of]
        self.state = SandboxState(
            data=live,
            keys={name: None if accept_any_key else key for name, key in self._keys.items()},
            latency_ms=float(latency_ms),
            control=control,
        )
        self._servers = {
            name: SandboxServer(
                emulator.create_app(self.state), host=host, port=given_ports.get(name, 0), name=name
            )
            for name, emulator in EMULATORS.items()
        }

    def url(self, name: str) -> str:
        """The base URL a client of emulator `name` uses (FAL's ends in /v1)."""
        return self._server(name).url + EMULATORS[name].base_path

    def key(self, name: str) -> str:
        """The key emulator `name` accepts (any key, when started with accept_any_key)."""
        self._server(name)
        return self._keys[name]

    @property
    def fal_url(self) -> str:
        """The FAL base URL, ending in /v1, as a FAL client expects."""
        return self.url("fal")

    @property
    def comet_url(self) -> str:
        """The Comet root URL; clients add /v1/models and /api/models."""
        return self.url("comet")

    @property
    def fal_key(self) -> str:
        """The key the FAL emulator accepts."""
        return self._keys["fal"]

    @property
    def comet_key(self) -> str:
        """The key the Comet emulator accepts."""
        return self._keys["comet"]

    @property
    def data(self) -> SandboxData:
        """The live data; mutate it between requests to change what the emulators answer."""
        return self.state.data

    @property
    def faults(self) -> FaultPlan:
        """The fault plan every emulator consults (`Fault.provider` picks one)."""
        return self.state.faults

    @property
    def modes(self) -> SandboxModes:
        """How the emulators answer (strict pricing 404s, odd Comet entries, paging...)."""
        return self.state.modes

    def set_modes(self, **changes: Any) -> SandboxModes:
        """Change some modes (validated; unknown names refused) and return them all."""
        self.state.modes = SandboxModes.from_dict(changes, self.state.modes)
        return self.state.modes

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
    def running(self) -> bool:
        """Whether every emulator is serving."""
        return all(server.running for server in self._servers.values())

    def requests(self, provider: str | None = None) -> list[RequestRecord]:
        """The request log (control routes excluded), optionally for one provider."""
        if provider is not None:
            self._server(provider)
        return self.state.log.records(provider)

    def fal_inputs(self) -> list[dict[str, Any]]:
        """What FAL's run and queue hosts received, oldest first: per call its route,
        endpoint id, request id, status, input field names, `image_size` and `num_images`."""
        return recorded_inputs(self.state)

    def reset(self) -> None:
        """Clear faults, the log and stores; restore the starting data, latency and modes.

        FAL's queued jobs stay, as a request in flight does: a job submitted before a reset
        (by another test's background run) can still be polled after it; the queue is bounded.
        """
        self.state.faults.clear()
        self.state.modes = SandboxModes()
        self.state.log.clear()
        queue = self.state.stores.get(QUEUE_STORE)
        self.state.stores.clear()
        if queue is not None:
            self.state.stores[QUEUE_STORE] = queue
        if self.state.data != self._initial:
            self.state.data.restore(self._initial)
        self.state.latency_ms = self._initial_latency_ms

    def start(self) -> Sandbox:
        """Start every emulator (a no-op when already running)."""
        try:
            for server in self._servers.values():
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every emulator and wait for their threads."""
        for server in self._servers.values():
            server.request_stop()
        for server in self._servers.values():
            server.join()

    def _server(self, name: str) -> SandboxServer:
        try:
            return self._servers[name]
        except KeyError:
            raise ValueError(f"unknown emulator {name!r}; known: {', '.join(EMULATORS)}") from None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        if not self.running:
            return "Sandbox(stopped)"
        urls = ", ".join(f"{name}_url={self.url(name)!r}" for name in EMULATORS)
        return f"Sandbox({urls})"
