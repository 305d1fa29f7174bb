"""Settings: read once from the environment and `.env`, then passed around frozen.

The process environment wins over `.env`.  Secrets are kept in `Secret`, whose
repr never shows the value, and `Settings.public_env()` leaves them out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from .errors import ConfigError

__all__ = [
    "DEFAULT_COMET_BASE_URL",
    "DEFAULT_FAL_BASE_URL",
    "PROVIDERS",
    "Secret",
    "Settings",
    "Source",
    "load_env_file",
]

Source = Literal["auto", "live", "sandbox"]
Provider = Literal["fal", "comet"]
PROVIDERS: tuple[Provider, ...] = ("fal", "comet")

_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The raw value, for an Authorization header and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def load_env_file(path: Path) -> dict[str, str]:
    """Parse a dotenv file; a malformed line raises ConfigError naming file and line."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise ConfigError(f"{path}:{number}: expected NAME=value, got {line.split('=')[0]!r}")
        name, value = match.group(1), match.group(2).strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            end = value.find(quote, 1)
            if end == -1:
                raise ConfigError(f"{path}:{number}: {name}: unterminated {quote} quote")
            value = value[1:end]
        else:
            value = value.split(" #", 1)[0].strip()
        values[name] = value
    return values


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {minimum:g}")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name}={value!r}: expected an http:// or https:// URL")
    return value.rstrip("/")


DEFAULT_FAL_BASE_URL = "https://api.fal.ai/v1"
DEFAULT_COMET_BASE_URL = "https://api.cometapi.com"
DEFAULT_OUTPUTS_DIR = Path("outputs")
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 4
DEFAULT_RETRY_BACKOFF_S = 0.25
DEFAULT_CONCURRENCY = 16
DEFAULT_SNAPSHOT_KEEP = 30


@dataclass(frozen=True)
class Settings:
    """Everything mpc_lib reads from the outside world, validated once."""

    fal_key: Secret | None = None
    comet_key: Secret | None = None
    fal_base_url: str = DEFAULT_FAL_BASE_URL
    comet_base_url: str = DEFAULT_COMET_BASE_URL
    source: Source = "auto"
    outputs_dir: Path = DEFAULT_OUTPUTS_DIR
    timeout_s: float = DEFAULT_TIMEOUT_S
    deadline_s: float = 120.0  # one call, all attempts and backoff sleeps included
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_backoff_s: float = DEFAULT_RETRY_BACKOFF_S
    concurrency: int = DEFAULT_CONCURRENCY
    snapshot_keep: int = DEFAULT_SNAPSHOT_KEEP
    sandbox_snapshot: Path | None = None
    sandbox_latency_ms: float = 0.0
    env_file: Path | None = field(default=None, compare=False)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | str | None = ".env"
    ) -> Settings:
        """Build settings from `environ` (default os.environ) over an optional `.env` file."""
        env: dict[str, str] = {}
        env_path = Path(env_file) if env_file is not None else None
        if env_path is not None and env_path.is_file():
            env.update(load_env_file(env_path))
        else:
            env_path = None
        env.update(os.environ if environ is None else environ)

        source = env.get("MPC_SOURCE", "").strip().lower() or "auto"
        if source not in ("auto", "live", "sandbox"):
            raise ConfigError(f"MPC_SOURCE={source!r}: expected auto, live or sandbox")
        fal_key = _first(env, "FAL_KEY", "FAL_API_KEY")
        comet_key = _first(env, "COMETAPI_KEY", "COMET_API_KEY")
        snapshot = env.get("MPC_SANDBOX_SNAPSHOT", "").strip()
        return cls(
            fal_key=Secret(fal_key) if fal_key else None,
            comet_key=Secret(comet_key) if comet_key else None,
            fal_base_url=_url(env, "MPC_FAL_BASE_URL", DEFAULT_FAL_BASE_URL),
            comet_base_url=_url(env, "MPC_COMET_BASE_URL", DEFAULT_COMET_BASE_URL),
            source=source,  # type: ignore[arg-type]
            outputs_dir=Path(env.get("MPC_OUTPUTS_DIR", "").strip() or DEFAULT_OUTPUTS_DIR),
            timeout_s=_number(env, "MPC_TIMEOUT_S", DEFAULT_TIMEOUT_S, minimum=0.1),
            deadline_s=_number(env, "MPC_DEADLINE_S", 120.0, minimum=0.1),
            max_retries=int(_number(env, "MPC_MAX_RETRIES", DEFAULT_MAX_RETRIES, minimum=0)),
            retry_backoff_s=_number(env, "MPC_RETRY_BACKOFF_S", DEFAULT_RETRY_BACKOFF_S, minimum=0),
            concurrency=int(_number(env, "MPC_CONCURRENCY", DEFAULT_CONCURRENCY, minimum=1)),
            snapshot_keep=int(_number(env, "MPC_SNAPSHOT_KEEP", DEFAULT_SNAPSHOT_KEEP, minimum=1)),
            sandbox_snapshot=Path(snapshot) if snapshot else None,
            sandbox_latency_ms=_number(env, "MPC_SANDBOX_LATENCY_MS", 0.0, minimum=0),
            env_file=env_path,
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (validated like the constructor)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def key_for(self, provider: str) -> Secret | None:
        """The API key configured for `provider`, if any."""
        return {"fal": self.fal_key, "comet": self.comet_key}[provider]

    def base_url_for(self, provider: str) -> str:
        """The live base URL configured for `provider`."""
        return {"fal": self.fal_base_url, "comet": self.comet_base_url}[provider]

    def source_for(
        self, provider: str, override: Source | None = None
    ) -> Literal["live", "sandbox"]:
        """Resolve auto/live/sandbox for one provider: auto means live when its key is set."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
        source = override or self.source
        if source == "sandbox":
            return "sandbox"
        has_key = self.key_for(provider) is not None
        if source == "live":
            if not has_key:
                names = {"fal": "FAL_KEY", "comet": "COMETAPI_KEY"}[provider]
                raise ConfigError(f"source is live but {names} is not set for {provider}")
            return "live"
        return "live" if has_key else "sandbox"

    def public_env(self) -> dict[str, str]:
        """The non-secret settings as MPC_* variables, to hand to a child process."""
        env = {
            "MPC_FAL_BASE_URL": self.fal_base_url,
            "MPC_COMET_BASE_URL": self.comet_base_url,
            "MPC_SOURCE": self.source,
            "MPC_OUTPUTS_DIR": str(self.outputs_dir),
            "MPC_TIMEOUT_S": f"{self.timeout_s:g}",
            "MPC_DEADLINE_S": f"{self.deadline_s:g}",
            "MPC_MAX_RETRIES": str(self.max_retries),
            "MPC_RETRY_BACKOFF_S": f"{self.retry_backoff_s:g}",
            "MPC_CONCURRENCY": str(self.concurrency),
            "MPC_SNAPSHOT_KEEP": str(self.snapshot_keep),
            "MPC_SANDBOX_LATENCY_MS": f"{self.sandbox_latency_ms:g}",
        }
        if self.sandbox_snapshot is not None:
            env["MPC_SANDBOX_SNAPSHOT"] = str(self.sandbox_snapshot)
        return env

    def __repr__(self) -> str:
        parts = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"Settings({parts})"
