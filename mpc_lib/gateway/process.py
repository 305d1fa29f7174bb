"""Running the gateway: the master key, the LiteLLM child process, and `run_gateway` for the CLI.

`GatewayProcess` starts `litellm` (from the `gateway` extra) with a generated config
on one host and port, waits until `/health/liveliness` answers, and stops it with
SIGTERM (then SIGKILL).  Its output goes to `<outputs>/gateway/litellm.log` (mode 0600),
through a pipe we read, so the log is bounded: past `LOG_MAX_BYTES` it is rotated to
`litellm.log.1` ... `.{LOG_BACKUPS}` (the oldest dropped).

`run_gateway(settings, upstreams)` is what `mpc gateway serve` does: make sure a
registry and a master key exist, write the config for the providers' upstreams (live,
or the sandbox the caller opened), start the process.  A master key is never a known default: when
LITELLM_MASTER_KEY is unset, a strong one is generated and appended to the
workbook's `.env` (created 0600), and only its location is reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import urlsplit

from ..aliases import load_aliases
from ..catalog import sync_catalog
from ..config import Secret, Settings, load_env_file
from ..errors import ConfigError, GatewayError
from ..extras import install_hint
from ..http import origin
from ..providers import PROVIDERS
from ..registry import RegistryStore
from ..upstreams import Upstream, Upstreams, record_gateway_upstreams
from .client import GatewayClient
from .config import (
    GatewaySelection,
    build_gateway_config,
    default_config_path,
    gateway_env,
    with_required,
    write_gateway_config,
)

__all__ = [
    "LOG_BACKUPS",
    "LOG_MAX_BYTES",
    "GatewayProcess",
    "GatewayRun",
    "ensure_master_key",
    "run_gateway",
]

log = logging.getLogger("mpc_lib.gateway")

DEFAULT_START_TIMEOUT_S = 120.0
LOG_MAX_BYTES = 10 * 1024 * 1024  # litellm.log past this is rotated
LOG_BACKUPS = 3  # rotated logs kept: litellm.log.1 (newest) .. .3
_STOP_TIMEOUT_S = 15.0
_LOG_TAIL_LINES = 15
# LiteLLM refuses to start with these (litellm/proxy/auth/master_key_boot_check.py).
_KNOWN_DEFAULT_DIGESTS = frozenset(
    {"88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"}
)
# What the gateway child must not inherit from us: it gets exactly the keys we hand it.
_INHERITED_SECRETS = ("LITELLM_", "MPC_API_KEY")


def ensure_master_key(settings: Settings) -> tuple[Secret, Path | None]:
    """The gateway's master key, and the `.env` it was just written to (None if not new).

    An unset key is generated (`sk-` + 64 hex digits) and appended to
    `<workbook root>/.env`; a value already in that file is used, never overwritten.
    A publicly known default key raises ConfigError.
    """
    key = settings.gateway_key
    if key is not None:
        digest = hashlib.sha256(key.reveal().encode()).hexdigest()
        if digest in _KNOWN_DEFAULT_DIGESTS:
            raise ConfigError(
                "LITELLM_MASTER_KEY is a publicly known default; unset it and "
                "`mpc gateway serve` generates a strong one"
            )
        return key, None
    home = Path(settings.home) if settings.home is not None else Path.cwd()
    env_path = home / ".env"
    if env_path.is_file():
        existing = load_env_file(env_path).get("LITELLM_MASTER_KEY", "").strip()
        if existing:
            return Secret(existing), None
    value = "sk-" + secrets.token_hex(32)
    _append_env_line(env_path, "LITELLM_MASTER_KEY", value)
    log.info("gateway: generated a master key into %s (LITELLM_MASTER_KEY)", env_path)
    return Secret(value), env_path


def _append_env_line(path: Path, name: str, value: str) -> None:
    """Append `NAME=value` to a dotenv file, creating it 0600; earlier lines stay as they are."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            if handle.tell() > 0 and not path.read_bytes().endswith(b"\n"):
                handle.write("\n")
            handle.write(f"{name}={value}\n")
    except OSError as exc:
        raise OSError(f"{path}: cannot store the generated {name} ({exc.strerror})") from exc


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ConfigError(f"{url!r}: no host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(f"{host}:{port} is not free for the gateway ({exc.strerror})") from exc


class GatewayProcess:
    """One LiteLLM proxy child process; `start()` returns once `/health/liveliness` answers."""

    def __init__(
        self,
        config_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 4000,
        env: Mapping[str, str],
        log_path: Path,
        settings: Settings | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.host = host
        self.port = port
        self.log_path = Path(log_path)
        self._env = dict(env)
        self._settings = settings or Settings()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: _RotatingLog | None = None

    @property
    def url(self) -> str:
        """`http://host:port` of the gateway."""
        return origin(self.host, self.port)

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> Self:
        """Launch LiteLLM and wait until it answers; GatewayError with its log tail if not."""
        if self.running:
            return self
        if importlib.util.find_spec("litellm") is None:
            raise ConfigError(f"the gateway needs litellm, which is not installed: "
                              f"{install_hint('gateway')}")  # fmt: skip
        _check_port_free(self.host, self.port)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_SECRETS)}
        for spec in PROVIDERS.values():
            for var in spec.key_vars:
                env.pop(var, None)
        env.update(self._env)
        env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        env["PYTHONUNBUFFERED"] = "1"
        command = [
            sys.executable, "-m", "litellm.proxy.proxy_cli", "--config", str(self.config_path),
            "--host", self.host, "--port", str(self.port),
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Its own session: a Ctrl-C in the terminal reaches us, and we stop it in order.
        self._process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        assert self._process.stdout is not None
        self._log = _RotatingLog(self.log_path, self._process.stdout)
        log.info("gateway: started litellm (pid %d) on %s", self._process.pid, self.url)
        probe = GatewayClient(self.url, Secret("unused"), settings=self._settings)
        deadline = time.monotonic() + timeout_s
        try:
            while not probe.liveliness():
                if self._process.poll() is not None:
                    code = self._process.returncode
                    self._close_log()
                    raise GatewayError(f"litellm exited with code {code} before answering on "
                                       f"{self.url}; {self._log_tail()}")  # fmt: skip
                if time.monotonic() > deadline:
                    self.stop()
                    raise GatewayError(f"litellm did not answer on {self.url} within "
                                       f"{timeout_s:g} s; {self._log_tail()}")  # fmt: skip
                time.sleep(0.1)
        finally:
            probe.close()
        return self

    def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL after `timeout_s`; the exit code (None if never started)."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("gateway: litellm ignored SIGTERM for %.0f s; killing it", timeout_s)
                process.kill()
                process.wait(timeout_s)
        self._close_log()
        return process.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self) -> str:
        """The last lines of the log, with every key we handed the process blanked out."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return f"no log at {self.log_path}"
        text = "\n".join(lines[-_LOG_TAIL_LINES:])
        for value in self._env.values():
            if len(value) >= 8 and value not in ("True", "False"):
                text = text.replace(value, "***")
        return f"last lines of {self.log_path}:\n{text}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"GatewayProcess({self.url}, {'running' if self.running else 'stopped'})"


class _RotatingLog:
    """The child's output copied into `path` (0600) by a thread, rotated past LOG_MAX_BYTES."""

    def __init__(self, path: Path, source: IO[bytes], *, max_bytes: int = LOG_MAX_BYTES,
                 backups: int = LOG_BACKUPS) -> None:  # fmt: skip
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._source = source
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        self._thread = threading.Thread(target=self._copy, name="litellm-log", daemon=True)
        self._thread.start()

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a log from before (0644) is narrowed too
        return fd

    def _copy(self) -> None:
        read = getattr(self._source, "read1", self._source.read)
        try:
            while chunk := read(65536):
                if self._size + len(chunk) > self.max_bytes and self._size:
                    self._rotate()
                os.write(self._fd, chunk)
                self._size += len(chunk)
        except (OSError, ValueError):  # the pipe or the file closed under us
            pass

    def _rotate(self) -> None:
        os.close(self._fd)
        for index in range(self.backups, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            newer = self.path.with_name(f"{self.path.name}.{index - 1}") if index > 1 else self.path
            if newer.exists():
                os.replace(newer, older)
        self._fd = self._open()
        self._size = 0

    def close(self) -> None:
        """Wait for the child's last output (its end closes the pipe), then close the file."""
        self._thread.join(5)
        if self._thread.is_alive():  # something the child started holds the pipe: let it be
            return
        with contextlib.suppress(OSError):
            self._source.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


@dataclass
class GatewayRun:
    """A gateway started by `run_gateway`: where it listens and what it was started with."""

    url: str
    config_path: Path
    log_path: Path
    process: GatewayProcess
    upstreams: dict[str, Upstream]
    models: int
    key_written_to: Path | None = None
    synced: bool = False
    # The config it runs, as written (what it leaves out and cannot price is under `mpc`).
    config: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def run_gateway(
    settings: Settings,
    upstreams: Upstreams,
    *,
    selection: GatewaySelection | None = None,
    host: str | None = None,
    port: int | None = None,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
) -> Iterator[GatewayRun]:
    """Bring the gateway up (see the module docstring); it stops when the block ends.

    The gateway reaches each provider as `upstreams` says (it must not be the gateway
    itself).  Without a registry yet, a catalog sync over the same upstreams runs first.
    Every model an MPC-API alias names is added to the selection.
    """
    reached = {name: upstreams[name] for name in PROVIDERS if name in upstreams}
    for name, upstream in reached.items():
        if upstream.source == "gateway":
            raise ConfigError(f"the gateway cannot reach {name} through itself (source gateway)")
    default_host, default_port = _host_port(settings.gateway_url)
    host, port = host or default_host, port if port is not None else default_port
    store = RegistryStore(settings.outputs_dir)
    synced = False
    if not store.path.is_file():
        log.info("gateway: no registry at %s yet; syncing the catalog first", store.path)
        sync_catalog(settings, upstreams)
        synced = True
    registry = store.require()
    key, written = ensure_master_key(settings)
    required = tuple(load_aliases().targets(registry["models"]).values())
    chosen = with_required(selection or GatewaySelection(), required)
    config = build_gateway_config(registry, reached, chosen)
    config_path = write_gateway_config(default_config_path(settings), config)
    log_path = config_path.parent / "litellm.log"
    process = GatewayProcess(
        config_path, host=host, port=port, env=gateway_env(reached, key.reveal()),
        log_path=log_path, settings=settings,
    )  # fmt: skip
    # What this gateway reaches, for syncs through it (`--source gateway`) to label: written
    # with its config, before it answers.
    record_gateway_upstreams(settings, process.url, reached)
    with process.start(timeout_s):
        yield GatewayRun(
            url=process.url, config_path=config_path, log_path=log_path, process=process,
            upstreams=reached, models=len(config["model_list"]), key_written_to=written,
            synced=synced, config=config,
        )  # fmt: skip
