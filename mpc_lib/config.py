"""Settings: one frozen, validated pydantic model, read from the environment and `.env`.

Every way of building `Settings` validates (the constructor, `from_env`, `with_`);
a bad value raises `ConfigError` naming its environment variable.  Relative paths
and `.env` are resolved against the workbook root: `MPC_HOME`, else the nearest
folder upward from the working directory whose `pyproject.toml` has a `[tool.mpc]`
table, else the working directory.  So a notebook kernel started in `notebooks/`
reads the same `.env` and writes the same `outputs/` as `mpc` run from the root.
The process environment wins over `.env`.  Keys are `Secret`s (pydantic `SecretStr`),
never shown in repr, logs or `public_env()`.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError, describe_validation_error
from .providers import PROVIDERS, provider_spec

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_OUTPUTS_DIR",
    "SOURCES",
    "Secret",
    "Settings",
    "Source",
    "find_home",
    "load_env_file",
    "shipped_dir",
    "workbook_path",
]

# auto: live where a key is set, else the sandbox; gateway: through the LiteLLM gateway's
# pass-through routes, which hold the provider keys.
Source = Literal["auto", "live", "sandbox", "gateway"]
SOURCES: tuple[str, ...] = ("auto", "live", "sandbox", "gateway")

_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")

DEFAULT_OUTPUTS_DIR = Path("outputs")
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_DEADLINE_S = 120.0
DEFAULT_MAX_RETRIES = 4
DEFAULT_RETRY_BACKOFF_S = 0.25
DEFAULT_CONCURRENCY = 24
DEFAULT_SNAPSHOT_KEEP = 30
DEFAULT_LOCK_TIMEOUT_S = 30.0
DEFAULT_RUN_LOCK_TIMEOUT_S = 300.0
DEFAULT_GATEWAY_URL = "http://127.0.0.1:4000"
DEFAULT_API_URL = "http://127.0.0.1:3000"
DEFAULT_API_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_APIDOG_BASE_URL = "https://api.apidog.com"


class Secret(SecretStr):
    """A key: a pydantic SecretStr, shown as `Secret('**********')` everywhere."""

    def reveal(self) -> str:
        """The raw value, for an Authorization header and nothing else."""
        return self.get_secret_value()


def load_env_file(path: Path) -> dict[str, str]:
    """Parse a dotenv file; a malformed line raises ConfigError naming file and line."""
    values: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read env file ({exc.strerror or exc})") from exc
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


def find_home(start: Path | None = None) -> Path:
    """The workbook root: the nearest folder upward whose pyproject.toml has `[tool.mpc]`.

    Falls back to `start` (default: the working directory) when there is none.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _marks_workbook(pyproject):
            return folder
    return here


_SOURCE_CHECKOUT = Path(__file__).resolve().parents[1]


def shipped_dir(name: str) -> Path:
    """A folder this package ships beside its code (`notebooks`, `openapi`): the source
    checkout's, or the installed copy under `<prefix>/share/mpc-workbench/<name>`."""
    source = _SOURCE_CHECKOUT / name
    installed = Path(sys.prefix) / "share" / "mpc-workbench" / name
    return installed if installed.is_dir() and not source.is_dir() else source


def workbook_path(settings: Settings, path: Path | str) -> Path:
    """`path` as given when it exists or is absolute, else relative to the workbook root,
    else the copy this package ships (`openapi/...` in a workbook that has none of its own).

    A notebook opened in JupyterLab runs in notebooks/; its `openapi/...` means the root's.
    """
    given = Path(path)
    if given.is_absolute() or given.exists():
        return given
    own = Path(settings.home or Path.cwd()) / given
    parts = given.parts
    shipped = shipped_dir(parts[0]).joinpath(*parts[1:]) if len(parts) > 1 else None
    return shipped if not own.exists() and shipped is not None and shipped.exists() else own


def _marks_workbook(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "mpc" in tool


def _env(name: str, **bounds: Any) -> Any:
    """A settings field read from environment variable `name`."""
    return Field(json_schema_extra={"env": name}, **bounds)


def _http_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return value.rstrip("/")


def _blank_secret(value: Secret | None) -> Secret | None:
    return value if value is not None and value.reveal().strip() else None


_Finite = Annotated[float, Field(allow_inf_nan=False)]
_HttpUrl = Annotated[str, AfterValidator(_http_url)]
_OptionalSecret = Annotated[Secret | None, AfterValidator(_blank_secret)]
# Goes into a URL path (/v1/projects/{id}/...), so no slashes, dots or spaces.
_ProjectId = Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Settings(BaseModel):
    """Everything mpc_lib reads from the outside world, validated once and frozen.

    Provider keys and base URLs live in `keys` and `base_urls`, keyed by provider
    name (see `mpc_lib.providers`); `fal_key=`, `comet_base_url=` and the like
    are accepted as keyword shorthands.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    keys: dict[str, Secret] = Field(default_factory=dict)
    base_urls: dict[str, _HttpUrl] = Field(default_factory=dict)
    source: Source = _env("MPC_SOURCE", default="auto")
    home: Path | None = _env("MPC_HOME", default=None)
    outputs_dir: Path = _env("MPC_OUTPUTS_DIR", default=DEFAULT_OUTPUTS_DIR)
    timeout_s: _Finite = _env("MPC_TIMEOUT_S", default=DEFAULT_TIMEOUT_S, gt=0, le=3600)
    deadline_s: _Finite = _env("MPC_DEADLINE_S", default=DEFAULT_DEADLINE_S, gt=0, le=86400)
    max_retries: int = _env("MPC_MAX_RETRIES", default=DEFAULT_MAX_RETRIES, ge=0, le=20)
    retry_backoff_s: _Finite = _env(
        "MPC_RETRY_BACKOFF_S", default=DEFAULT_RETRY_BACKOFF_S, ge=0, le=60
    )
    concurrency: int = _env("MPC_CONCURRENCY", default=DEFAULT_CONCURRENCY, ge=1, le=256)
    snapshot_keep: int = _env("MPC_SNAPSHOT_KEEP", default=DEFAULT_SNAPSHOT_KEEP, ge=1, le=100_000)
    lock_timeout_s: _Finite = _env(
        "MPC_LOCK_TIMEOUT_S", default=DEFAULT_LOCK_TIMEOUT_S, ge=0, le=86400
    )
    health_timeout_s: _Finite = _env("MPC_HEALTH_TIMEOUT_S", default=10.0, gt=0, le=600)
    health_max_age_h: _Finite = _env("MPC_HEALTH_MAX_AGE_H", default=26.0, gt=0, le=24 * 365)
    health_max_unpriced: _Finite = _env("MPC_HEALTH_MAX_UNPRICED", default=0.10, ge=0, le=1)
    health_max_drift: _Finite = _env("MPC_HEALTH_MAX_DRIFT", default=0.05, ge=0, le=1)
    run_lock_timeout_s: _Finite = _env(
        "MPC_RUN_LOCK_TIMEOUT_S", default=DEFAULT_RUN_LOCK_TIMEOUT_S, ge=0, le=86400
    )
    runs_keep_days: int | None = _env("MPC_RUNS_KEEP_DAYS", default=None, ge=1, le=100_000)
    cache_dir: Path | None = _env("MPC_CACHE_DIR", default=None)
    sandbox_snapshot: Path | None = _env("MPC_SANDBOX_SNAPSHOT", default=None)
    sandbox_latency_ms: _Finite = _env("MPC_SANDBOX_LATENCY_MS", default=0.0, ge=0, le=600_000)
    gateway_url: _HttpUrl = _env("MPC_GATEWAY_URL", default=DEFAULT_GATEWAY_URL)
    api_url: _HttpUrl = _env("MPC_API_URL", default=DEFAULT_API_URL)
    # Bearer key MPC-API requires of its callers; unset, MPC-API serves loopback only.
    api_key: _OptionalSecret = _env("MPC_API_KEY", default=None)
    api_max_body_bytes: int = _env(
        "MPC_API_MAX_BODY_BYTES", default=DEFAULT_API_MAX_BODY_BYTES, ge=1024, le=1 << 30
    )
    # The gateway's master key: what MPC-API and `--source gateway` present to LiteLLM.
    gateway_key: _OptionalSecret = _env("LITELLM_MASTER_KEY", default=None)
    apidog_token: _OptionalSecret = _env("APIDOG_ACCESS_TOKEN", default=None)
    apidog_project_id: _ProjectId = _env("APIDOG_PROJECT_ID", default=None)
    apidog_base_url: _HttpUrl = _env("MPC_APIDOG_BASE_URL", default=DEFAULT_APIDOG_BASE_URL)
    env_file: Path | None = Field(default=None, exclude=True)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    # --- validation ------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, values: Any) -> Any:
        """Fold `fal_key=` / `fal_base_url=` shorthands into `keys` / `base_urls`."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        keys = dict(values.pop("keys", None) or {})
        urls = dict(values.pop("base_urls", None) or {})
        for name in PROVIDERS:
            if f"{name}_key" in values:
                keys[name] = values.pop(f"{name}_key")
            if f"{name}_base_url" in values:
                urls[name] = values.pop(f"{name}_base_url")
        values["keys"] = {name: key for name, key in keys.items() if key is not None}
        values["base_urls"] = {
            name: urls.get(name) or spec.default_base_url for name, spec in PROVIDERS.items()
        } | urls
        # Relative paths are the workbook root's, wherever the process started.
        home = values.get("home")
        home = Path(home).expanduser().resolve() if home else find_home()
        values["home"] = home
        for name in ("outputs_dir", "sandbox_snapshot", "cache_dir"):
            if isinstance(values.get(name), (str, Path)) and str(values[name]):
                values[name] = home / Path(values[name]).expanduser()
        values.setdefault("outputs_dir", home / DEFAULT_OUTPUTS_DIR)
        return values

    @field_validator("api_key", "gateway_key")
    @classmethod
    def _blank_is_unset(cls, key: Secret | None) -> Secret | None:
        return key if key is not None and key.get_secret_value().strip() else None

    @field_validator("keys")
    @classmethod
    def _known_keys(cls, keys: dict[str, Secret]) -> dict[str, Secret]:
        for name in keys:
            provider_spec(name)
        return {name: key for name, key in keys.items() if key.get_secret_value().strip()}

    @field_validator("base_urls")
    @classmethod
    def _known_urls(cls, urls: dict[str, str]) -> dict[str, str]:
        for name in urls:
            provider_spec(name)
        return urls

    # --- construction ----------------------------------------------------------------

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | str | None = None
    ) -> Settings:
        """Settings from `environ` (default os.environ) over a `.env` file.

        `env_file` None means `<workbook root>/.env` when it exists; a path given
        explicitly must exist.
        """
        process = dict(os.environ if environ is None else environ)
        home_raw = process.get("MPC_HOME", "").strip()
        home = Path(home_raw).expanduser().resolve() if home_raw else find_home()
        env_path: Path | None
        if env_file is None:
            default = home / ".env"
            env_path = default if default.is_file() else None
        else:
            env_path = Path(env_file)
            if not env_path.is_file():
                raise ConfigError(f"{env_path}: no such env file")
        env = load_env_file(env_path) if env_path is not None else {}
        env.update(process)

        values: dict[str, Any] = {"home": home, "env_file": env_path}
        for name in cls.model_fields:
            var = _env_var(name)
            raw = env.get(var, "").strip() if var and name != "home" else ""
            if raw:
                values[name] = raw.lower() if name == "source" else raw
        values["keys"] = {
            name: key
            for name, spec in PROVIDERS.items()
            if (key := _first(env, *spec.key_vars)) is not None
        }
        values["base_urls"] = {
            name: url for name, spec in PROVIDERS.items() if (url := env.get(spec.base_url_var))
        }
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated like the constructor.

        Fields that were never set stay unset in the copy (`model_fields_set`), so a
        question like "was MPC_GATEWAY_URL configured?" has the same answer after it.
        """
        current: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        return type(self)(**{**current, **changes})

    # --- questions -------------------------------------------------------------------

    def key_for(self, provider: str) -> Secret | None:
        """The API key configured for `provider`, if any."""
        provider_spec(provider)
        return self.keys.get(provider)

    def base_url_for(self, provider: str) -> str:
        """The live base URL configured for `provider`."""
        provider_spec(provider)
        return self.base_urls[provider]

    def source_for(
        self, provider: str, override: str | None = None
    ) -> Literal["live", "sandbox", "gateway"]:
        """Resolve auto/live/sandbox/gateway for one provider: auto is live when its key is set.

        gateway needs the gateway's master key (LITELLM_MASTER_KEY), not the provider's.
        """
        spec = provider_spec(provider)
        source = override or self.source
        if source not in SOURCES:
            raise ConfigError(f"source {source!r}: expected one of {', '.join(SOURCES)}")
        if source == "sandbox":
            return "sandbox"
        if source == "gateway":
            if self.gateway_key is None:
                raise ConfigError(
                    "source is gateway but LITELLM_MASTER_KEY is not set "
                    "(`mpc gateway serve` generates one into the workbook's .env)"
                )
            return "gateway"
        has_key = self.key_for(provider) is not None
        if source == "live":
            if not has_key:
                raise ConfigError(f"source is live but {spec.key_var} is not set for {provider}")
            return "live"
        return "live" if has_key else "sandbox"

    def public_env(self) -> dict[str, str]:
        """The non-secret settings as MPC_* variables, to hand to a child process.

        Only what was set (plus the resolved paths and source): a child must be able to
        tell a default from a choice, e.g. whether MPC_GATEWAY_URL was configured.
        """
        env: dict[str, str] = {}
        chosen = self.model_fields_set | {"home", "outputs_dir", "source"}
        for name in type(self).model_fields:
            var, value = _env_var(name), getattr(self, name)
            if name not in chosen or not var or value is None or isinstance(value, SecretStr):
                continue
            env[str(var)] = f"{value:g}" if isinstance(value, float) else str(value)
        env.update({PROVIDERS[name].base_url_var: url for name, url in self.base_urls.items()})
        return env

    def secret_env(self) -> dict[str, str]:
        """The secret settings (not provider keys) as variables, blank when unset.

        For a child process that must act as the caller (a notebook kernel): a blank
        value beats one in the child's own .env.
        """
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            var = _env_var(name)
            if var and _is_secret_field(name):
                value = getattr(self, name)
                env[var] = value.reveal() if value is not None else ""
        return env

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).model_fields)
        return f"Settings({parts})"

    __str__ = __repr__


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _variable(loc: tuple[Any, ...]) -> str:
    """The environment variable behind a validation error location."""
    if not loc:
        return "settings"
    head = str(loc[0])
    if head in ("keys", "base_urls") and len(loc) > 1 and str(loc[1]) in PROVIDERS:
        spec = PROVIDERS[str(loc[1])]
        return spec.key_var if head == "keys" else spec.base_url_var
    return _env_var(head) or head


def _is_secret_field(field_name: str) -> bool:
    """Whether a settings field holds a `Secret` (never shown, never in `public_env`)."""
    field = Settings.model_fields.get(field_name)
    return field is not None and _holds_secret(field.annotation)


def _holds_secret(annotation: Any) -> bool:
    """`Secret`, or a union or Annotated[...] with `Secret` somewhere inside."""
    return annotation is Secret or any(_holds_secret(arg) for arg in get_args(annotation))


def _env_var(field_name: str) -> str | None:
    """The environment variable a settings field is read from, if any."""
    field = Settings.model_fields.get(field_name)
    extra = field.json_schema_extra if field is not None else None
    return str(extra["env"]) if isinstance(extra, dict) and extra.get("env") else None


def _explain(exc: ValidationError) -> str:
    """One line per bad value: `VARIABLE='value': reason`."""
    lines = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        value = error.get("input")
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        if isinstance(value, (dict, BaseModel)) or (
            loc and (str(loc[0]) == "keys" or _is_secret_field(str(loc[0])))
        ):
            shown = ""
        else:
            shown = f"={value!r}"
        lines.append(f"{_variable(loc)}{shown}: {describe_validation_error(error)}")
    return "; ".join(lines)
