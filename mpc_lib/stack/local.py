"""Local mode: the stack's services as supervised processes on this machine, no engine needed.

A `ServiceSpec` says how to run one service (argv, environment, health URL, what it
waits for); `LocalStack` runs a list of them under one state folder
(`outputs/stack/local/`): a JSON pid file per service and a log per service, rotated
by size (copy, then truncate: the child keeps appending to the same file).

- `up()` starts what is not running, restarts what died, waits until each service's
  health URL answers 2xx (reporting progress per service), and is a no-op that says so
  when everything is already healthy.  It checks every port it needs before it starts
  anything, and when a step fails it stops what it started, so no half stack stays.
- `status()` is alive and healthy, alive and unhealthy, dead (a pid file whose process
  is gone), or stopped.
- `down()` sends SIGTERM to each service's whole process tree, then SIGKILL after a
  grace period, and removes the pid files.

Every process we start carries `MPC_STACK_TOKEN` in its environment, which its own
children inherit; so a grandchild orphaned by a crash (LiteLLM, started by
`mpc gateway serve` in its own session) is still found and stopped.  A pid is trusted
only if its start time matches the one recorded: a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psutil
from filelock import FileLock, Timeout
from pydantic import ConfigDict, Field, field_serializer

from ..config import Settings
from ..errors import ConfigError, StackError, StackUnhealthy
from ..models import MpcModel
from ..storage import atomic_write_json
from .probe import HttpProbe
from .processes import (
    check_port_free,
    child_environment,
    detached_options,
    find_tokened,
    port_in_use,
    rotate_log,
    terminate,
)

__all__ = [
    "LocalStack",
    "ServiceSpec",
    "ServiceState",
    "ServiceStatus",
    "StopResult",
    "UpReport",
    "UpResult",
]

log = logging.getLogger("mpc_lib.stack")

_POLL_S = 0.1
_LOCK_TIMEOUT_S = 60.0
_TAIL_LINES = 12

ServiceState = Literal["healthy", "unhealthy", "running", "dead", "stopped"]
UpAction = Literal["started", "restarted", "already running", "waited"]
Progress = Callable[[str, str], None]
# The actions that start a process (and so need its port).
_STARTS: tuple[UpAction, ...] = ("started", "restarted")


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service locally.

    `needs_files` are files an earlier service writes (the service starts once they
    exist); `after` are services that must be healthy first; `requires` are Python
    modules the service imports, each with the hint that installs it.
    """

    name: str
    argv: tuple[str, ...]
    health_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None
    url: str | None = None
    port: int | None = None
    needs_files: tuple[Path, ...] = ()
    after: tuple[str, ...] = ()
    requires: tuple[tuple[str, str], ...] = ()
    cwd: Path | None = None


class ServiceStatus(MpcModel):
    """One service now: its state, pid, why, where to look (its JSON names it `service`)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(serialization_alias="service")
    state: ServiceState
    pid: int | None
    detail: str
    health_url: str
    url: str | None
    log: Path
    started_at: str | None = None

    @property
    def alive(self) -> bool:
        """Its process runs (healthy or not)."""
        return self.state in ("healthy", "unhealthy", "running")


class UpResult(MpcModel):
    """What `up` did for one service and where it ended (its JSON: `service`, 0.01 s)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(serialization_alias="service")
    action: UpAction
    pid: int | None
    state: ServiceState
    seconds: float
    detail: str = ""

    @field_serializer("seconds")
    def _rounded(self, seconds: float) -> float:
        return round(seconds, 2)


class UpReport(MpcModel):
    """The outcome of one `up`: per service, and whether there was nothing to do."""

    model_config = ConfigDict(frozen=True)

    noop: bool
    duration_s: float
    services: list[UpResult]

    @field_serializer("duration_s")
    def _rounded(self, duration_s: float) -> float:
        return round(duration_s, 2)


class StopResult(MpcModel):
    """What `down` did for one service (its JSON names it `service`)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(serialization_alias="service")
    outcome: Literal["stopped", "killed", "not running", "stale pid file removed"]
    pids: tuple[int, ...] = ()


@dataclass
class _Record:
    """A pid file's content."""

    name: str
    pid: int
    create_time: float
    token: str
    argv: list[str]
    started_at: str
    health_url: str = ""
    url: str | None = None

    @classmethod
    def read(cls, path: Path) -> _Record | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                name=str(data["name"]),
                pid=int(data["pid"]),
                create_time=float(data["create_time"]),
                token=str(data["token"]),
                argv=[str(arg) for arg in data["argv"]],
                started_at=str(data["started_at"]),
                health_url=str(data.get("health_url") or ""),
                url=data.get("url"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


class LocalStack:
    """Services as supervised local processes, with their state under `state_dir`."""

    def __init__(
        self,
        state_dir: Path,
        specs: Sequence[ServiceSpec],
        *,
        settings: Settings | None = None,
        grace_s: float = 10.0,
    ) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"service names repeat: {names}")
        self.state_dir = Path(state_dir)
        self.specs = {spec.name: spec for spec in specs}
        self.settings = settings or Settings()
        self.grace_s = grace_s
        # One id per state folder: the token prefix that finds this stack's processes.
        digest = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
        self.project_id = f"mpc-{digest}"
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    # --- paths -----------------------------------------------------------------------------

    def pid_file(self, name: str) -> Path:
        """`<state>/<name>.json`."""
        return self.state_dir / f"{name}.json"

    def log_file(self, name: str) -> Path:
        """`<state>/logs/<name>.log` (older ones: .1, .2, ...)."""
        return self.state_dir / "logs" / f"{name}.log"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.state_dir / ".lock", timeout=_LOCK_TIMEOUT_S)
        try:
            with lock:
                yield
        except Timeout:
            raise StackError(
                f"another `mpc stack` holds {lock.lock_file} for more than {_LOCK_TIMEOUT_S:g} s"
            ) from None

    # --- status ----------------------------------------------------------------------------

    def status(self, *, probe: bool = True) -> list[ServiceStatus]:
        """Every known service now (probing health URLs unless `probe` is False)."""
        names = list(self.specs) + [name for name in self.recorded() if name not in self.specs]
        with HttpProbe(self.settings, timeout_s=2.0) as prober:
            return [self._status(name, prober if probe else None) for name in names]

    def recorded(self) -> list[str]:
        """Services with a pid file (running or dead): what a crash would have left."""
        if not self.state_dir.is_dir():
            return []
        return sorted(path.stem for path in self.state_dir.glob("*.json"))

    def _status(self, name: str, prober: HttpProbe | None) -> ServiceStatus:
        spec = self.specs.get(name)
        health_url = spec.health_url if spec else ""
        url = spec.url if spec else None
        log_path = self.log_file(name)
        rotate_log(log_path)
        record = _Record.read(self.pid_file(name))
        if record is not None and record.health_url:
            # Probe what was started (the spec may have changed since).
            health_url, url = record.health_url, record.url
        if record is None:
            if self.pid_file(name).exists():
                return ServiceStatus(
                    name=name,
                    state="dead",
                    pid=None,
                    detail="unreadable pid file",
                    health_url=health_url,
                    url=url,
                    log=log_path,
                )
            return ServiceStatus(
                name=name,
                state="stopped",
                pid=None,
                detail="not started",
                health_url=health_url,
                url=url,
                log=log_path,
            )
        proc = self._alive(record)
        if proc is None:
            why = self._exit_detail(name, record)
            return ServiceStatus(
                name=name,
                state="dead",
                pid=record.pid,
                detail=why,
                health_url=health_url,
                url=url,
                log=log_path,
                started_at=record.started_at,
            )
        if prober is None or not health_url:
            return ServiceStatus(
                name=name,
                state="running",
                pid=record.pid,
                detail="running (health not probed)",
                health_url=health_url,
                url=url,
                log=log_path,
                started_at=record.started_at,
            )
        result = prober.get(health_url, name=name)
        state: ServiceState = "healthy" if result.ok else "unhealthy"
        detail = f"{health_url} -> {result.detail}"
        return ServiceStatus(
            name=name,
            state=state,
            pid=record.pid,
            detail=detail,
            health_url=health_url,
            url=url,
            log=log_path,
            started_at=record.started_at,
        )

    def _alive(self, record: _Record) -> psutil.Process | None:
        """The recorded process, if it still runs and is the one we started."""
        child = self._children.get(record.name)
        if child is not None and child.pid == record.pid and child.poll() is not None:
            return None  # ours, exited (and now reaped)
        try:
            proc = psutil.Process(record.pid)
            if abs(proc.create_time() - record.create_time) > 0.05:
                return None  # the pid was recycled: someone else's process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None

    def _exit_detail(self, name: str, record: _Record) -> str:
        child = self._children.get(name)
        if child is not None and child.pid == record.pid and child.returncode is not None:
            return f"pid {record.pid} exited with code {child.returncode}"
        try:
            proc = psutil.Process(record.pid)
            if abs(proc.create_time() - record.create_time) > 0.05:
                return f"pid {record.pid} exited (the pid now belongs to another process)"
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        return f"pid {record.pid} exited (stale pid file)"

    # --- up --------------------------------------------------------------------------------

    def up(self, *, timeout_s: float = 60.0, progress: Progress | None = None) -> UpReport:
        """Start what is not running, restart what died, wait until all are healthy.

        StackError, before anything starts, when a port a service needs is taken.
        StackUnhealthy when a service exits while starting (with its log tail) or is not
        healthy within `timeout_s`.  On any failure the services this call started are
        stopped again; those that already ran are left as they were.
        """
        self._check_requirements()
        notify = progress or (lambda _name, _state: None)
        started_clock = time.monotonic()
        with self._locked():
            current = {row.name: row for row in self.status()}
            if all(current[name].state == "healthy" for name in self.specs):
                for name in self.specs:
                    notify(name, f"already running (pid {current[name].pid}), healthy")
                results = [
                    UpResult(
                        name=name,
                        action="already running",
                        pid=current[name].pid,
                        state="healthy",
                        seconds=0.0,
                    )
                    for name in self.specs
                ]
                return UpReport(
                    services=results, noop=True, duration_s=time.monotonic() - started_clock
                )
            actions: dict[str, UpAction] = {}
            for name, row in current.items():
                if name not in self.specs:
                    continue
                if row.state == "dead":
                    notify(name, f"dead ({row.detail}); restarting")
                    self._stop_service(name)
                    actions[name] = "restarted"
                elif row.state == "stopped":
                    actions[name] = "started"
                elif row.state == "unhealthy":
                    actions[name] = "waited"
                else:
                    actions[name] = "already running"
            self._check_ports([name for name, act in actions.items() if act in _STARTS])
            started: list[str] = []
            try:
                results = self._start_and_wait(actions, timeout_s, notify, started)
            except BaseException as exc:  # Ctrl-C too: no half-started stack stays behind
                self._stop_started(started, notify, exc)
                raise
        return UpReport(services=results, noop=False, duration_s=time.monotonic() - started_clock)

    def _check_ports(self, names: Sequence[str]) -> None:
        """Every port the services about to start need, checked before any of them starts."""
        busy = [
            f"{spec.name}: {reason}"
            for spec in (self.specs[name] for name in names)
            if spec.port is not None and (reason := port_in_use(spec.port)) is not None
        ]
        if busy:
            raise StackError(
                "; ".join(busy) + "; nothing was started: stop it or choose another port"
            )

    def _stop_started(self, started: Sequence[str], notify: Progress, exc: BaseException) -> None:
        """Stop the services this `up` started, newest first, and say so in `exc`'s message."""
        if not started:
            return
        for name in reversed(started):
            result = self._stop_service(name)
            notify(name, f"{result.outcome}: the stack did not come up")
        if isinstance(exc, StackError):
            exc.args = (f"stopped {', '.join(started)} again (started by this up): {exc}",)

    def _check_requirements(self) -> None:
        missing = [
            f"{spec.name} needs {module} ({hint})"
            for spec in self.specs.values()
            for module, hint in spec.requires
            if importlib.util.find_spec(module.split(":")[0]) is None
        ]
        if missing:
            raise ConfigError("cannot start the local stack: " + "; ".join(missing))

    def _start_and_wait(
        self,
        actions: Mapping[str, UpAction],
        timeout_s: float,
        notify: Progress,
        started: list[str],
    ) -> list[UpResult]:
        """Start each service when what it waits for is there; `started` gets each one
        spawned (so a failure can stop them again)."""
        deadline = time.monotonic() + timeout_s
        began: dict[str, float] = {}
        done: dict[str, UpResult] = {}
        announced: set[str] = set()
        with HttpProbe(self.settings, timeout_s=1.0) as prober:
            while len(done) < len(self.specs):
                for name, spec in self.specs.items():
                    if name in done:
                        continue
                    action = actions[name]
                    if action in ("started", "restarted") and name not in began:
                        blocker = self._blocker(spec, done)
                        if blocker is not None:
                            if name not in announced:
                                notify(name, f"waiting for {blocker}")
                                announced.add(name)
                            continue
                        pid = self._spawn(spec)
                        started.append(name)
                        began[name] = time.monotonic()
                        notify(name, f"starting (pid {pid})")
                        continue
                    began.setdefault(name, time.monotonic())
                    record = _Record.read(self.pid_file(name))
                    if record is None or self._alive(record) is None:
                        why = self._exit_detail(name, record) if record else "no pid file"
                        notify(name, f"exited while starting: {why}")
                        raise StackUnhealthy(
                            f"{name} exited while starting ({why}); {self._log_tail(name)}",
                            {name: "dead"},
                        )
                    if prober.get(spec.health_url, name=name).ok:
                        took = time.monotonic() - began[name]
                        notify(name, f"healthy after {took:.1f} s (pid {record.pid})")
                        done[name] = UpResult(
                            name=name, action=action, pid=record.pid, state="healthy", seconds=took
                        )
                if len(done) == len(self.specs):
                    break
                if time.monotonic() > deadline:
                    waiting = {n: "unhealthy" for n in self.specs if n not in done}
                    names = ", ".join(waiting)
                    raise StackUnhealthy(
                        f"not healthy after {timeout_s:g} s: {names}; see "
                        + ", ".join(str(self.log_file(n)) for n in waiting),
                        waiting,
                    )
                time.sleep(_POLL_S)
        return [done[name] for name in self.specs]

    def _blocker(self, spec: ServiceSpec, done: Mapping[str, UpResult]) -> str | None:
        """What `spec` still waits for: a service not yet healthy, or a file not yet there."""
        for other in spec.after:
            if other in self.specs and other not in done:
                return other
        for path in spec.needs_files:
            if not Path(path).exists():
                return str(path)
        return None

    def _spawn(self, spec: ServiceSpec) -> int:
        if spec.port is not None:
            check_port_free(spec.name, spec.port)
        token = f"{self.project_id}/{spec.name}/{uuid.uuid4().hex}"
        env = child_environment(spec.env, token)
        log_path = self.log_file(spec.name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        rotate_log(log_path)
        with log_path.open("ab") as out:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(f"--- {stamp} mpc stack: starting {spec.name}\n".encode())
            out.flush()
            try:
                child = subprocess.Popen(
                    list(spec.argv),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=spec.cwd,
                    env=env,
                    **detached_options(),
                )
            except OSError as exc:
                raise StackError(f"{spec.name}: cannot start {spec.argv[0]}: {exc}") from exc
        self._children[spec.name] = child
        try:
            created = psutil.Process(child.pid).create_time()
        except psutil.NoSuchProcess:
            created = 0.0
        record = {
            "name": spec.name,
            "pid": child.pid,
            "create_time": created,
            "token": token,
            "argv": list(spec.argv),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "health_url": spec.health_url,
            "url": spec.url,
        }
        atomic_write_json(self.pid_file(spec.name), record)
        log.info("stack: started %s (pid %d): %s", spec.name, child.pid, " ".join(spec.argv))
        return child.pid

    def _log_tail(self, name: str, lines: int = _TAIL_LINES) -> str:
        tail = self.tail(name, lines)
        if not tail:
            return f"its log {self.log_file(name)} is empty"
        return f"last lines of {self.log_file(name)}:\n" + "\n".join(tail)

    # --- logs ------------------------------------------------------------------------------

    def tail(self, name: str, lines: int = 100) -> list[str]:
        """The last `lines` lines of a service's log."""
        path = self.log_file(name)
        try:
            with path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(size - 256 * 1024, 0))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return []
        return text.splitlines()[-lines:] if lines else []

    def follow(self, name: str, *, poll_s: float = 0.25) -> Iterator[str]:
        """Lines written to a service's log from now on, as they come (survives rotation)."""
        path = self.log_file(name)
        start = path.stat().st_size if path.exists() else 0
        return _follow(path, start, poll_s)

    # --- down ------------------------------------------------------------------------------

    def down(self, names: Sequence[str] | None = None) -> list[StopResult]:
        """Stop services (all by default) and every process they started; no pid file stays."""
        with self._locked():
            chosen = (
                list(names)
                if names
                else list(self.specs) + [name for name in self.recorded() if name not in self.specs]
            )
            results = [self._stop_service(name) for name in reversed(chosen)]
            if not names:
                # Anything else carrying this stack's token (a service since renamed).
                leftovers = find_tokened(f"{self.project_id}/")
                if leftovers:
                    terminate(leftovers, self.grace_s)
        return list(reversed(results))

    def restart(
        self, names: Sequence[str], *, timeout_s: float = 60.0, progress: Progress | None = None
    ) -> UpReport:
        """Stop some services, then bring the stack up again."""
        unknown = [name for name in names if name not in self.specs]
        if unknown:
            raise ConfigError(f"unknown service(s) {unknown}; known: {', '.join(self.specs)}")
        self.down(names)
        return self.up(timeout_s=timeout_s, progress=progress)

    def _stop_service(self, name: str) -> StopResult:
        path = self.pid_file(name)
        record = _Record.read(path)
        procs: dict[int, psutil.Process] = {}
        if record is not None:
            root = self._alive(record)
            if root is not None:
                procs[root.pid] = root
                with contextlib.suppress(psutil.Error):
                    for child in root.children(recursive=True):
                        procs[child.pid] = child
        for proc in find_tokened(f"{self.project_id}/{name}/"):
            procs.setdefault(proc.pid, proc)
        outcome: Literal["stopped", "killed", "not running", "stale pid file removed"]
        if procs:
            killed = terminate(list(procs.values()), self.grace_s)
            outcome = "killed" if killed else "stopped"
        else:
            outcome = "stale pid file removed" if path.exists() else "not running"
        child = self._children.pop(name, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1)  # reap it, so no zombie stays with us
        path.unlink(missing_ok=True)
        log.info("stack: %s %s (%s)", name, outcome, ", ".join(map(str, sorted(procs))) or "-")
        return StopResult(name=name, outcome=outcome, pids=tuple(sorted(procs)))


def _follow(path: Path, position: int, poll_s: float) -> Iterator[str]:
    pending = b""
    while True:
        size = path.stat().st_size if path.exists() else 0
        if size < position:
            position = 0  # rotated: the file was truncated
        if size > position:
            with path.open("rb") as handle:
                handle.seek(position)
                chunk = handle.read(size - position)
            position = size
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", errors="replace")
        else:
            time.sleep(poll_s)
