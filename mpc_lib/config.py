"""Settings: one frozen pydantic-settings model, read from the environment and `.env`.

Every way of building `Settings` validates (the constructor, `from_env`, `with_`);
a bad value raises `ConfigError` naming its environment variable.  Relative paths
and `.env` are resolved against the workbook root: `MPC_HOME`, else the nearest
folder upward from the working directory whose `pyproject.toml` has a `[tool.mpc]`
table, else the working directory.  So a notebook kernel started in `notebooks/`
reads the same `.env` and writes the same `outputs/` as `mpc` run from the root.
Only `from_env` reads the outside world: the process environment over `.env`
(parsed by python-dotenv, a malformed line refused as `file:line`).  `Settings(...)`
in code reads no variable and no `.env`, only its arguments.  Each field names its
variable in its `validation_alias`; the provider table names the provider keys' and
base URLs' variables.
Keys are `Secret`s (pydantic `SecretStr`), never shown in repr, logs or `public_env()`.
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from dotenv.parser import parse_stream
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A malformed line may be a pasted secret: its start is shown only when it has the shape
# of a variable name (UPPER_SNAKE, with an underscore) and more follows it.
_SHOWN_NAME = re.compile(r"(?:export\s+)?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?=[^A-Za-z0-9_])")
_QUOTED = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(['\"])")

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
DEFAULT_API_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_API_MAX_HEADERS = 100
DEFAULT_API_HEADER_TIMEOUT_S = 10.0
DEFAULT_API_LIMIT_CONCURRENCY = 512
DEFAULT_API_MAX_UPSTREAM = 100
DEFAULT_API_RELAY_TIMEOUT_S = 600.0
DEFAULT_API_DRAIN_S = 10.0
DEFAULT_APIDOG_BASE_URL = "https://api.apidog.com"
# FAL's model-running hosts: a synchronous run, and the queue (research/contracts.md §8).
DEFAULT_FAL_RUN_URL = "https://fal.run"
DEFAULT_FAL_QUEUE_URL = "https://queue.fal.run"


class Secret(SecretStr):
    """A key: a pydantic SecretStr, shown as `Secret('**********')` everywhere."""

    def reveal(self) -> str:
        """The raw value, for an Authorization header and nothing else."""
        return self.get_secret_value()


def load_env_file(path: Path) -> dict[str, str]:
    """A dotenv file's variables (python-dotenv's syntax, nothing interpolated).

    A line that is not `NAME=value` raises ConfigError naming file and line, never its value.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read env file ({exc.strerror or exc})") from exc
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        statement = binding.original.string
        if binding.key is None and not binding.error:
            continue  # a blank line or a comment
        if binding.error or binding.value is None or not _NAME.fullmatch(binding.key or ""):
            # The statement's own line: the parser counts from the blank lines before it.
            blank = statement[: len(statement) - len(statement.lstrip())]
            number = binding.original.line + blank.count("\n")
            raise ConfigError(f"{path}:{number}: {_malformed(statement.lstrip())}")
        values[str(binding.key)] = binding.value
    return values


def _malformed(statement: str) -> str:
    """What is wrong with a statement python-dotenv refused, naming at most its variable."""
    first = statement.splitlines()[0] if statement else ""
    quoted = _QUOTED.match(first)
    if quoted is not None:
        name, quote = quoted.groups()
        if quote not in first[quoted.end() :]:
            return f"{name}: unterminated {quote} quote"
        return f"{name}: unexpected text after the closing {quote} quote"
    shown = _SHOWN_NAME.match(first)
    return "expected NAME=value" + (f" (line starts {shown.group(1)!r})" if shown else "")


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


def _env(*names: str, **bounds: Any) -> Any:
    """A settings field read from the first of environment variables `names` that is set."""
    alias = names[0] if len(names) == 1 else AliasChoices(*names)
    return Field(validation_alias=alias, **bounds)


def _http_url(value: str) -> str:
    """An http(s) base URL every client can use as is: checked here, so a bad one is refused
    when settings load (naming its variable), not deep inside the first request."""
    value = value.strip()
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError("a URL holds no spaces or control characters")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("the host's [ ] brackets do not match") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"port {_port_text(value)!r} is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("the URL names no host")
    if port == 0:
        raise ValueError("port 0 is not a number from 1 to 65535")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError("a base URL takes no ?query or #fragment")
    return value.rstrip("/")


def _port_text(url: str) -> str:
    """What follows the host's colon in `url` (for a message about a port that does not parse)."""
    netloc = url.split("//", 1)[-1].split("/", 1)[0].rpartition("@")[2]
    return netloc.rpartition("]")[2].partition(":")[2]


def _without_userinfo(value: str) -> str:
    """`value` with any `user:password@` of a URL replaced, so a message never shows it."""
    scheme, sep, rest = value.partition("://")
    netloc, slash, path = rest.partition("/")
    if not sep or "@" not in netloc:
        return value
    return f"{scheme}://***@{netloc.rpartition('@')[2]}{slash}{path}"


def _unset_if_blank(value: Any) -> Any:
    """The one blank rule for secrets: an empty or all-space key is no key."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    return None if isinstance(raw, str) and not raw.strip() else value


_Finite = Annotated[float, Field(allow_inf_nan=False)]
_HttpUrl = Annotated[str, AfterValidator(_http_url)]
_OptionalSecret = Annotated[Secret | None, BeforeValidator(_unset_if_blank)]
# Goes into a URL path (/v1/projects/{id}/...), so no slashes, dots or spaces.
_ProjectId = Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

# The variables `from_env` read, while it builds; None for `Settings(...)` in code, which
# reads nothing but its arguments (so tests and callers stay hermetic).
_VARIABLES: ContextVar[Mapping[str, str] | None] = ContextVar("mpc_variables", default=None)


class Settings(BaseSettings):
    """Everything mpc_lib reads from the outside world, validated once and frozen.

    Provider keys and base URLs live in `keys` and `base_urls`, keyed by provider
    name (see `mpc_lib.providers`); `fal_key=`, `comet_base_url=` and the like
    are accepted as keyword shorthands.
    """

    # validate_by_name: code passes field names (`timeout_s=`); the aliases name variables.
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        validate_by_name=True,
        case_sensitive=True,
    )

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
    # MPC-API's limits in front of everything (431, a closed connection, 503) and its relay.
    api_max_header_bytes: int = _env(
        "MPC_API_MAX_HEADER_BYTES", default=DEFAULT_API_MAX_HEADER_BYTES, ge=1024, le=1 << 24
    )
    api_max_headers: int = _env(
        "MPC_API_MAX_HEADERS", default=DEFAULT_API_MAX_HEADERS, ge=8, le=10_000
    )
    api_header_timeout_s: _Finite = _env(
        "MPC_API_HEADER_TIMEOUT_S", default=DEFAULT_API_HEADER_TIMEOUT_S, gt=0, le=600
    )
    api_limit_concurrency: int = _env(
        "MPC_API_LIMIT_CONCURRENCY", default=DEFAULT_API_LIMIT_CONCURRENCY, ge=1, le=100_000
    )
    api_max_upstream: int = _env(
        "MPC_API_MAX_UPSTREAM", default=DEFAULT_API_MAX_UPSTREAM, ge=1, le=10_000
    )
    api_relay_timeout_s: _Finite = _env(
        "MPC_API_RELAY_TIMEOUT_S", default=DEFAULT_API_RELAY_TIMEOUT_S, gt=0, le=86400
    )
    api_drain_s: _Finite = _env("MPC_API_DRAIN_S", default=DEFAULT_API_DRAIN_S, ge=0, le=3600)
    # The gateway's master key: what MPC-API and `--source gateway` present to LiteLLM.
    gateway_key: _OptionalSecret = _env("LITELLM_MASTER_KEY", default=None)
    apidog_token: _OptionalSecret = _env("APIDOG_ACCESS_TOKEN", default=None)
    apidog_project_id: _ProjectId = _env("APIDOG_PROJECT_ID", default=None)
    apidog_base_url: _HttpUrl = _env("MPC_APIDOG_BASE_URL", default=DEFAULT_APIDOG_BASE_URL)
    # Where FAL's models run (`POST <run>/<endpoint_id>`, `POST <queue>/<endpoint_id>`); the
    # gateway's `/fal-run` and `/fal-queue` routes point here when FAL is live.
    fal_run_url: _HttpUrl = _env("MPC_FAL_RUN_URL", default=DEFAULT_FAL_RUN_URL)
    fal_queue_url: _HttpUrl = _env("MPC_FAL_QUEUE_URL", default=DEFAULT_FAL_QUEUE_URL)
    env_file: Path | None = Field(default=None, exclude=True)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The arguments, then (inside `from_env` only) the variables it read."""
        variables = _VARIABLES.get()
        if variables is None:
            return (init_settings,)
        return init_settings, _VariablesSource(settings_cls, variables)

    # --- validation ------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, values: Any) -> Any:
        """Fold `fal_key=` / `fal_base_url=` shorthands into `keys` / `base_urls`."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        # Variable names (what from_env's source gives) become field names, so the paths
        # below resolve whichever way a value came in.
        for field_name, info in cls.model_fields.items():
            for var in _variable_names(info):
                if var in values:
                    values.setdefault(field_name, values.pop(var))
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

    @field_validator("source", mode="before")
    @classmethod
    def _source_any_case(cls, source: Any) -> Any:
        return source.strip().lower() if isinstance(source, str) else source

    @field_validator("keys")
    @classmethod
    def _known_keys(cls, keys: dict[str, Secret]) -> dict[str, Secret]:
        for name in keys:
            provider_spec(name)
        return {name: key for name, key in keys.items() if _unset_if_blank(key) is not None}

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
        dotenv = load_env_file(env_path) if env_path is not None else {}
        # The environment wins over .env, even when blank: a blank variable is unset.
        token = _VARIABLES.set({**dotenv, **process})
        try:
            return cls(home=home, env_file=env_path)
        finally:
            _VARIABLES.reset(token)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated like the constructor.

        Fields that were never set stay unset in the copy (`model_fields_set`), so a
        question like "was MPC_GATEWAY_URL configured?" has the same answer after it.
        """
        current: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        return type(self)(**{**current, **changes})

    # --- the variables -----------------------------------------------------------------

    @classmethod
    def env_var(cls, field_name: str) -> str | None:
        """The environment variable a field is read from (the first its alias names), if any."""
        names = _variable_names(cls.model_fields.get(field_name))
        return names[0] if names else None

    @classmethod
    def secret_fields(cls) -> dict[str, str]:
        """The fields that hold a `Secret` (found by type), by name, with their variables.

        Provider keys are secret too; they live in `keys`, named by the provider table.
        """
        return {
            name: var
            for name, info in cls.model_fields.items()
            if _holds_secret(info.annotation) and (var := cls.env_var(name))
        }

    # --- questions -------------------------------------------------------------------

    def key_for(self, provider: str) -> Secret | None:
        """The API key configured for `provider`, if any."""
        provider_spec(provider)
        return self.keys.get(provider)

    def base_url_for(self, provider: str) -> str:
        """The live base URL configured for `provider`."""
        provider_spec(provider)
        return self.base_urls[provider]

    def public_env(self) -> dict[str, str]:
        """The non-secret settings as MPC_* variables, to hand to a child process.

        Only what was set (plus the resolved paths and source): a child must be able to
        tell a default from a choice, e.g. whether MPC_GATEWAY_URL was configured.
        """
        env: dict[str, str] = {}
        chosen = self.model_fields_set | {"home", "outputs_dir", "source"}
        secret = self.secret_fields()
        for name in type(self).model_fields:
            var, value = self.env_var(name), getattr(self, name)
            if name not in chosen or name in secret or not var or value is None:
                continue
            env[var] = f"{value:g}" if isinstance(value, float) else str(value)
        env.update({PROVIDERS[name].base_url_var: url for name, url in self.base_urls.items()})
        return env

    def secret_env(self) -> dict[str, str]:
        """The secret settings (not provider keys) as variables, blank when unset.

        For a child process that must act as the caller (a notebook kernel): a blank
        value beats one in the child's own .env.
        """
        env: dict[str, str] = {}
        for name, var in self.secret_fields().items():
            value = getattr(self, name)
            env[var] = value.reveal() if value is not None else ""
        return env

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).model_fields)
        return f"Settings({parts})"

    __str__ = __repr__


class _VariablesSource(PydanticBaseSettingsSource):
    """Settings from variables: each field's own (its alias), the providers' from their table."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        # A blank variable is an unset one.
        self._set = {name: value.strip() for name, value in variables.items() if value.strip()}

    def _first(self, names: tuple[str, ...]) -> str | None:
        """The first of `names` that is set: a primary name wins over its aliases."""
        return next((name for name in names if name in self._set), None)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        var = self._first(_variable_names(field))
        return (None, field_name, False) if var is None else (self._set[var], var, False)

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, info in self.settings_cls.model_fields.items():
            value, var, _ = self.get_field_value(info, field_name)
            if value is not None:
                values[var] = value
        values["keys"] = {
            name: self._set[key_var]
            for name, spec in PROVIDERS.items()
            if (key_var := self._first(spec.key_vars)) is not None
        }
        values["base_urls"] = {
            name: self._set[spec.base_url_var]
            for name, spec in PROVIDERS.items()
            if spec.base_url_var in self._set
        }
        return values


def _variable_names(info: FieldInfo | None) -> tuple[str, ...]:
    """The environment variables a field reads, from its `validation_alias`, first one first."""
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return ()


def _variable(loc: tuple[Any, ...]) -> str:
    """The environment variable behind a validation error location."""
    if not loc:
        return "settings"
    head = str(loc[0])
    if head in ("keys", "base_urls") and len(loc) > 1 and str(loc[1]) in PROVIDERS:
        spec = PROVIDERS[str(loc[1])]
        return spec.key_var if head == "keys" else spec.base_url_var
    return Settings.env_var(head) or head


def _holds_secret(annotation: Any) -> bool:
    """`Secret`, or a union or Annotated[...] with `Secret` somewhere inside."""
    return annotation is Secret or any(_holds_secret(arg) for arg in get_args(annotation))


def _explain(exc: ValidationError) -> str:
    """One line per bad value: `VARIABLE='value': reason`."""
    secret = Settings.secret_fields()
    lines = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        value = error.get("input")
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        if isinstance(value, str):
            value = _without_userinfo(value)
        if isinstance(value, (dict, BaseModel)) or (
            loc and (str(loc[0]) == "keys" or str(loc[0]) in secret)
        ):
            shown = ""
        else:
            shown = f"={value!r}"
        lines.append(f"{_variable(loc)}{shown}: {describe_validation_error(error)}")
    return "; ".join(lines)
