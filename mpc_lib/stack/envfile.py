"""`compose/.env`: written from `compose/.env.template` with strong secrets, never overwritten.

A template value `!secret KIND:LENGTH` is generated with `secrets` in the format its
service requires (Activepieces' AES key is exactly 32 hex characters, LiteLLM's keys
start with `sk-`, passwords that end up inside URLs are alphanumeric).  An empty
template value is optional; anything else is a default.  `init_env()` keeps every value
already in the file (and any variable the template does not know), fills in what is
missing, and writes the file atomically with mode 600.  `check_env()` is the doctor's
view: what is missing, empty or in the wrong format.  Secret values never leave this
module: reports carry variable names only.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import stat
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from ..config import Settings, load_env_file
from ..errors import ConfigError
from ..models import MpcModel
from ..storage import atomic_write_text

__all__ = [
    "SECRET_KINDS",
    "EnvCheck",
    "EnvInit",
    "SecretSpec",
    "TemplateEntry",
    "check_env",
    "generate_secret",
    "init_env",
    "read_template",
    "require_env_file",
]

log = logging.getLogger("mpc_lib.stack")


def require_env_file(env_file: Path) -> Path:
    """`env_file` when it exists; else ConfigError saying which command writes it."""
    if not env_file.is_file():
        raise ConfigError(f"{env_file}: no env file; run `mpc stack init`")
    return env_file


_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "-_"
_HEX = "0123456789abcdef"
_SPEC = re.compile(r"^!secret\s+([a-z0-9-]+):(\d+)$")


def _random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _base64(length: int) -> str:
    if length % 4:
        raise ValueError(f"base64 length {length} is not a multiple of 4")
    raw = secrets.token_bytes(length // 4 * 3)
    return base64.b64encode(raw).decode("ascii")


# kind -> (generator of `length` characters, the pattern a value of that length must match)
SECRET_KINDS: dict[str, tuple[Callable[[int], str], Callable[[int], str]]] = {
    "hex": (lambda n: _random_text(_HEX, n), lambda n: rf"[0-9a-fA-F]{{{n}}}"),
    "alnum": (lambda n: _random_text(_ALNUM, n), lambda n: rf"[A-Za-z0-9]{{{n}}}"),
    "urlsafe": (lambda n: _random_text(_URLSAFE, n), lambda n: rf"[A-Za-z0-9_-]{{{n}}}"),
    "base64": (_base64, lambda n: rf"[A-Za-z0-9+/]{{{n - 2}}}[A-Za-z0-9+/=]{{2}}"),
    "sk-hex": (
        lambda n: "sk-" + _random_text(_HEX, n),
        lambda n: rf"sk-[0-9a-fA-F]{{{n}}}",
    ),
}


@dataclass(frozen=True)
class SecretSpec:
    """How a secret is made: its kind and its length in characters."""

    kind: str
    length: int

    def generate(self) -> str:
        """A fresh random value in this format."""
        return SECRET_KINDS[self.kind][0](self.length)

    def matches(self, value: str) -> bool:
        """Whether `value` has this format (a value the user chose must still fit it)."""
        return re.fullmatch(SECRET_KINDS[self.kind][1](self.length), value) is not None

    def __str__(self) -> str:
        shown = self.length + 3 if self.kind == "sk-hex" else self.length
        what = {"sk-hex": "'sk-' + hex", "alnum": "letters and digits"}.get(self.kind, self.kind)
        return f"{shown} characters, {what}"


@dataclass(frozen=True)
class TemplateEntry:
    """One template variable: a default, a secret to generate, or optional (empty)."""

    name: str
    default: str = ""
    secret: SecretSpec | None = None

    @property
    def optional(self) -> bool:
        """No default and nothing to generate: left empty unless the user fills it."""
        return self.secret is None and not self.default


def generate_secret(spec: str) -> str:
    """A value for `kind:length` (as in the template), e.g. `hex:32`."""
    return _parse_spec(f"!secret {spec}", "spec").generate()


def _parse_spec(value: str, where: str) -> SecretSpec:
    match = _SPEC.match(value.strip())
    if match is None:
        raise ConfigError(f"{where}: expected '!secret KIND:LENGTH', got {value!r}")
    kind, length = match.group(1), int(match.group(2))
    if kind not in SECRET_KINDS:
        known = ", ".join(SECRET_KINDS)
        raise ConfigError(f"{where}: unknown secret kind {kind!r}; known: {known}")
    if not 8 <= length <= 256 or (kind == "base64" and length % 4):
        raise ConfigError(f"{where}: length {length} does not fit a {kind} secret")
    return SecretSpec(kind, length)


def read_template(path: Path) -> list[TemplateEntry]:
    """The template's variables in file order."""
    entries = []
    for name, value in load_env_file(path).items():
        if value.startswith("!secret"):
            entries.append(TemplateEntry(name, secret=_parse_spec(value, f"{path}: {name}")))
        else:
            entries.append(TemplateEntry(name, default=value))
    return entries


class EnvInit(MpcModel):
    """What `init_env` did, by variable name (never by value)."""

    path: Path
    created: bool
    generated: list[str] = Field(default_factory=list)
    defaults: list[str] = Field(default_factory=list)
    kept: list[str] = Field(default_factory=list)
    from_settings: list[str] = Field(default_factory=list)
    optional_empty: list[str] = Field(default_factory=list)
    mode_fixed: bool = False

    @property
    def changed(self) -> bool:
        """Whether the file was written."""
        return bool(self.created or self.generated or self.defaults or self.from_settings)


def _settings_secrets(settings: Settings | None) -> dict[str, str]:
    """Keys the workbook already has for the same roles, so the CLI and the stack agree."""
    if settings is None:
        return {}
    mine = {"LITELLM_MASTER_KEY": settings.gateway_key, "MPC_API_KEY": settings.api_key}
    return {var: secret.reveal() for var, secret in mine.items() if secret is not None}


def init_env(template: Path, env_path: Path, settings: Settings | None = None) -> EnvInit:
    """Write `env_path` from `template`: keep what is there, fill what is missing, mode 600.

    A value the workbook settings already hold for the same role (the gateway's master
    key, MPC-API's key) is used instead of a new random one, when it fits the format.
    """
    entries = read_template(template)
    created = not env_path.exists()
    existing = load_env_file(env_path) if not created else {}
    report = EnvInit(path=env_path, created=created)
    ours = _settings_secrets(settings)
    values: dict[str, str] = {}
    for entry in entries:
        current = existing.get(entry.name, "")
        if current.strip():
            values[entry.name] = current
            report.kept.append(entry.name)
        elif entry.secret is not None:
            taken = ours.get(entry.name)
            if taken is not None and entry.secret.matches(taken):
                values[entry.name] = taken
                report.from_settings.append(entry.name)
            else:
                values[entry.name] = entry.secret.generate()
                report.generated.append(entry.name)
        elif entry.default:
            values[entry.name] = entry.default
            report.defaults.append(entry.name)
        else:
            values[entry.name] = current
            report.optional_empty.append(entry.name)
    extra = {name: value for name, value in existing.items() if name not in values}
    if report.changed:
        _write(env_path, template, entries, values, extra)
        log.info("stack: wrote %s (%d generated)", env_path, len(report.generated))
    report.mode_fixed = _restrict(env_path)
    return report


def _write(
    path: Path,
    template: Path,
    entries: list[TemplateEntry],
    values: Mapping[str, str],
    extra: Mapping[str, str],
) -> None:
    lines = [
        f"# Written by `mpc stack init` from {template.name}; keep it private (mode 600).",
        "# Values already here are never overwritten; delete a line to have it generated again.",
    ]
    lines += [f"{entry.name}={values[entry.name]}" for entry in entries]
    if extra:
        lines.append("# Not in the template (kept as they were):")
        lines += [f"{name}={value}" for name, value in extra.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Created 0600 before a byte is written; the atomic write keeps an existing mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _restrict(path: Path) -> bool:
    """chmod 600 a file others could read; True when it had to."""
    if os.name != "posix" or not path.exists():
        return False
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)
        return True
    return False


@dataclass(frozen=True)
class EnvCheck:
    """The doctor's view of compose/.env: missing, empty, malformed, and its mode."""

    path: Path
    exists: bool
    missing: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()
    malformed: tuple[str, ...] = ()
    optional_empty: tuple[str, ...] = ()
    loose_mode: str | None = None

    @property
    def complete(self) -> bool:
        """Every required value is there and in its format."""
        return self.exists and not (self.missing or self.empty or self.malformed)


def check_env(template: Path, env_path: Path) -> EnvCheck:
    """Compare `env_path` with the template (names and formats; values are never shown)."""
    if not env_path.is_file():
        return EnvCheck(env_path, exists=False)
    entries = read_template(template)
    values = load_env_file(env_path)
    missing: list[str] = []
    empty: list[str] = []
    malformed: list[str] = []
    optional: list[str] = []
    for entry in entries:
        if entry.name not in values:
            (optional if entry.optional else missing).append(entry.name)
        elif not values[entry.name].strip():
            (optional if entry.optional else empty).append(entry.name)
        elif entry.secret is not None and not entry.secret.matches(values[entry.name]):
            malformed.append(f"{entry.name} (want {entry.secret})")
    loose = None
    if os.name == "posix":
        mode = stat.S_IMODE(env_path.stat().st_mode)
        loose = f"{mode:o}" if mode & 0o077 else None
    return EnvCheck(
        env_path, True, tuple(missing), tuple(empty), tuple(malformed), tuple(optional), loose
    )
