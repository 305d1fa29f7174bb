"""One bring-up for the CLI and the notebook: choose the mode, up, wait, smoke, status, down.

`choose_mode()` turns `auto` into the engine `engine.choose_engine` finds, or local mode
for the core when none fits (and says why).  `bring_up()` starts the profiles
that way and runs the smoke test; `stack_status()` and `take_down()` find the stack
that is up (local processes first: their pid files say so, even after a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import ConfigDict, Field, computed_field

from ..config import Secret, Settings, load_env_file
from ..errors import ConfigError, EngineUnavailable
from ..models import MpcModel
from .core import local_stack
from .engine import ENGINES, ComposeStack, EngineKind, ServiceRow, choose_engine, probe_engine
from .envfile import require_env_file
from .gateway import SANDBOX_PROFILE, write_container_config
from .local import ServiceStatus, StopResult, UpReport
from .model import PROFILES, StackPaths
from .smoke import DEFAULT_SMOKE_MODEL, HealthTarget, SmokeReport, run_smoke

__all__ = [
    "RunMode",
    "StackRun",
    "StackStatus",
    "StatusRow",
    "bring_up",
    "choose_mode",
    "smoke_stack",
    "stack_status",
    "take_down",
]

log = logging.getLogger("mpc_lib.stack")

RunMode = Literal["local", "docker", "podman"]
Progress = Callable[[str, str], None]
DEFAULT_LOCAL_TIMEOUT_S = 60.0
DEFAULT_ENGINE_TIMEOUT_S = 600.0
# Every profile a compose stack of ours may run: the user's, and the sandbox upstream's.
ALL_PROFILES = (*PROFILES, SANDBOX_PROFILE)


class StatusRow(MpcModel):
    """One service, whichever way it runs: state, where (pid or container), URL, why."""

    model_config = ConfigDict(frozen=True)

    service: str
    state: str
    where: str
    url: str | None
    detail: str

    @property
    def healthy(self) -> bool:
        """Up and answering its health check (or a finished one-shot job)."""
        return self.state in ("healthy", "exited (0)")


class StackStatus(MpcModel):
    """What is up: the mode, and one row per service (empty when nothing is up).

    Its JSON is `mpc stack status --json`: the rows under `services`.
    """

    model_config = ConfigDict(frozen=True)

    mode: RunMode | None
    rows: list[StatusRow] = Field(serialization_alias="services")
    note: str = ""

    @computed_field
    @property
    def up(self) -> bool:
        """Some service of the stack exists (healthy or not)."""
        return bool(self.rows) and any(row.state != "stopped" for row in self.rows)

    @computed_field
    @property
    def healthy(self) -> bool:
        """Every service is healthy."""
        return self.up and all(row.healthy for row in self.rows)


class StackRun(MpcModel):
    """One bring-up: the mode and why, what `up` did, the smoke test (`mpc stack up --json`)."""

    mode: RunMode
    reason: str
    profiles: tuple[str, ...]
    local: UpReport | None = None
    services: list[ServiceRow] = Field(default_factory=list)
    smoke: SmokeReport | None = None

    @computed_field
    @property
    def noop(self) -> bool:
        """Local mode found everything already up and healthy."""
        return self.local is not None and self.local.noop


def choose_mode(requested: str, profiles: Sequence[str], paths: StackPaths) -> tuple[RunMode, str]:
    """(mode, why): `auto` takes the engine `choose_engine` finds, else local for the core."""
    if requested not in ("auto", "local", *ENGINES):
        raise ConfigError(f"mode {requested!r}: expected auto, local, docker or podman")
    beyond_core = [p for p in profiles if p != "core"]
    if requested == "local":
        if beyond_core:
            raise ConfigError(
                f"local mode runs only the core; {', '.join(beyond_core)} "
                "need a container engine (--engine docker or podman)"
            )
        return "local", "local mode, as asked"
    if requested in ENGINES:
        return _engine_kind(requested)[0], f"{requested}, as asked"
    choice = choose_engine(profiles, paths)
    if choice.kind is not None:
        return choice.kind, choice.reason
    if beyond_core:
        raise EngineUnavailable(
            f"{', '.join(beyond_core)} need a container engine: {choice.reason}"
        )
    return "local", f"{choice.reason}: local mode for the core"


def bring_up(
    settings: Settings,
    profiles: Sequence[str] = ("core",),
    mode: str = "auto",
    *,
    timeout_s: float | None = None,
    progress: Progress | None = None,
    smoke: bool = True,
    smoke_model: str = DEFAULT_SMOKE_MODEL,
    on_mode: Callable[[RunMode, str], None] | None = None,
) -> StackRun:
    """Choose the mode, bring the profiles up, wait until healthy, then smoke-test.

    `on_mode(mode, why)` hears the choice before anything starts.
    """
    paths = StackPaths.for_settings(settings)
    chosen, reason = choose_mode(mode, profiles, paths)
    log.info("stack: %s (%s)", chosen, reason)
    if on_mode is not None:
        on_mode(chosen, reason)
    run = StackRun(mode=chosen, reason=reason, profiles=tuple(profiles))
    if chosen == "local":
        run.local = local_stack(settings).up(
            timeout_s=timeout_s or DEFAULT_LOCAL_TIMEOUT_S, progress=progress
        )
    else:
        require_env_file(paths.env_file)
        if mode != "auto":  # auto probed it; an engine asked for by name is checked first
            answer = probe_engine(chosen, client_version=False)
            if not answer.reachable:
                raise EngineUnavailable(f"{chosen} up: the engine does not answer: {answer.error}")
        extra: tuple[str, ...] = ()
        if "core" in profiles:  # the gateway container's config, current with the registry
            written = write_container_config(settings, paths)
            extra = written.profiles
            log.info("stack: %s (sandboxed: %s)", written.path, ", ".join(written.sandboxed))
        stack = ComposeStack(paths, (*profiles, *extra), chosen)
        run.services = stack.up(timeout_s=timeout_s or DEFAULT_ENGINE_TIMEOUT_S, progress=progress)
    if smoke:
        run.smoke = smoke_stack(settings, chosen, profiles, model=smoke_model)
    return run


def smoke_stack(
    settings: Settings,
    mode: RunMode,
    profiles: Sequence[str] = ("core",),
    *,
    model: str = DEFAULT_SMOKE_MODEL,
) -> SmokeReport:
    """Every health URL of the stack, and a chat through MPC-API when the core is up."""
    api_key = settings.api_key
    targets: list[HealthTarget] = []
    if mode == "local":
        for spec in local_stack(settings).specs.values():
            targets.append(HealthTarget(spec.name, spec.health_url, spec.url))
    else:
        paths = StackPaths.for_settings(settings)
        stack = ComposeStack(paths, tuple(profiles), mode)
        for svc in stack.model.for_profiles(profiles):
            if svc.health_url:
                targets.append(HealthTarget(svc.name, svc.health_url, svc.url))
        compose_key = _compose_value(paths, "MPC_API_KEY")
        api_key = Secret(compose_key) if compose_key else api_key
    chat_url = None
    if "core" in profiles:
        base = settings.api_url if mode == "local" else _compose_api_url(settings)
        targets.append(HealthTarget("mpc-api (deep)", f"{base}/health", None, api_key))
        chat_url = f"{base}/v1/chat/completions"
    return run_smoke(settings, targets, chat_url=chat_url, chat_key=api_key, model=model)


def _compose_value(paths: StackPaths, name: str) -> str | None:
    """One value of compose/.env (the compose stack's keys live there, not in settings)."""
    if not paths.env_file.is_file():
        return None
    return load_env_file(paths.env_file).get(name) or None


def _compose_api_url(settings: Settings) -> str:
    paths = StackPaths.for_settings(settings)
    stack = ComposeStack(paths, ("core",))
    svc = stack.model.services.get("mpc-api")
    port = svc.ports[0].host_port if svc is not None and svc.ports else 3000
    return f"http://127.0.0.1:{port}"


def stack_status(settings: Settings, mode: str = "auto", *, probe: bool = True) -> StackStatus:
    """The stack that is up: local processes (pid files) first, else the engine's containers."""
    local = local_stack(settings)
    if mode == "local" or (mode == "auto" and local.recorded()):
        rows = [_local_row(row) for row in local.status(probe=probe)]
        return StackStatus(mode="local", rows=rows)
    paths = StackPaths.for_settings(settings)
    if mode == "auto" and not paths.env_file.is_file():
        # No compose/.env: no compose stack of ours can be up, so no engine is asked.
        return StackStatus(mode=None, rows=[], note="no local processes, and no compose/.env")
    kinds: tuple[EngineKind, ...] = ENGINES if mode == "auto" else _engine_kind(mode)
    notes = []
    for kind in kinds:
        probe_result = probe_engine(kind, client_version=False)
        if not probe_result.reachable:
            notes.append(f"{kind}: {probe_result.error}")
            continue
        if not paths.env_file.is_file():
            note = f"{kind} answers; no compose/.env (run `mpc stack init`)"
            return StackStatus(mode=kind, rows=[], note=note)
        containers = ComposeStack(paths, ALL_PROFILES, kind).status()
        return StackStatus(mode=kind, rows=[_engine_row(row) for row in containers])
    note = "no local processes, and no engine answers (" + "; ".join(notes) + ")"
    return StackStatus(mode=None, rows=[], note=note)


def _engine_kind(mode: str) -> tuple[EngineKind, ...]:
    if mode == "docker":
        return ("docker",)
    if mode == "podman":
        return ("podman",)
    raise ConfigError(f"mode {mode!r}: expected auto, local, docker or podman")


def _local_row(row: ServiceStatus) -> StatusRow:
    where = f"pid {row.pid}" if row.pid is not None else "-"
    return StatusRow(service=row.name, state=row.state, where=where, url=row.url, detail=row.detail)


def _engine_row(row: ServiceRow) -> StatusRow:
    state = "healthy" if row.healthy and row.state == "running" else row.state
    if row.health not in (None, "healthy") and row.state == "running":
        state = row.health or row.state
    detail = ", ".join(row.ports) or "no published port"
    where = row.container or "-"
    return StatusRow(service=row.service, state=state, where=where, url=row.url, detail=detail)


def take_down(
    settings: Settings, mode: str = "auto", *, volumes: bool = False, grace_s: float = 10.0
) -> tuple[RunMode | None, list[StopResult] | str]:
    """Stop the stack that is up; local: per-service results, engine: compose's word."""
    local = local_stack(settings, grace_s=grace_s)
    if mode == "local" or (mode == "auto" and local.recorded()):
        return "local", local.down()
    status = stack_status(settings, mode, probe=False)
    if status.mode is None or status.mode == "local":
        return None, status.note or "nothing is up"
    ComposeStack(StackPaths.for_settings(settings), ALL_PROFILES, status.mode).down(
        volumes=volumes, timeout_s=int(grace_s)
    )
    return status.mode, "removed the containers and the network" + (
        " and the volumes" if volumes else " (volumes kept)"
    )
