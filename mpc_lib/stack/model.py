"""The compose project as data: services, profiles, ports, volumes, and the rules it must keep.

`load_stack_model()` asks the real Compose v2 binary (`compose.compose_config()`, no
daemon needed) for the resolved project, every profile included, and reads it into typed
services for the diagram, the doctor's port list and the smoke URLs.  `check_compose()`
returns every broken rule (a pinned image, a healthcheck or a stated reason for none,
loopback ports, named volumes, no literal secrets, no container_name, named networks of
which one reaches out): what compose resolves comes from the binary, how secrets are
written (a `${VAR:?...}` reference, never a default) from the file itself.  The binary's
own verdict is `compose.validate_compose()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import Settings
from ..errors import ConfigError
from .compose import ComposeBinary, compose_config

__all__ = [
    "PROFILES",
    "PROFILE_NEEDS",
    "ComposeService",
    "PortBinding",
    "ProfileNeeds",
    "StackModel",
    "StackPaths",
    "check_compose",
    "load_stack_model",
    "parse_profiles",
]

PROFILES: tuple[str, ...] = ("core", "dify", "langflow", "activepieces")

# Variable names whose values are secrets: they may only come from compose/.env.
_SECRET_NAME = re.compile(
    r"(PASSWORD|SECRET|(^|_)(API_)?KEYS?($|_)|TOKEN|SALT|REDISCLI_AUTH)", re.IGNORECASE
)
# A password written into a URL: scheme://user:password@host.
_URL_CREDENTIAL = re.compile(r"://[^:/@\s]+:([^@\s]+)@")
# How a value refers to a variable (the secret rules read the file as written):
# $$, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME
_VAR = re.compile(
    r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
# Where a service's healthcheck comes from (x-mpc `healthcheck`); a disabled one says why.
_HEALTHCHECK_NOTE = re.compile(r"as upstream|(ours|disabled): *\S.*", re.DOTALL)


@dataclass(frozen=True)
class ProfileNeeds:
    """What one profile needs from the machine: memory and disk (GiB) and CPUs."""

    memory_gib: float
    disk_gib: float
    cpus: int
    source: str


# Dify and Activepieces publish their minimums; the rest are our estimates (images + data).
PROFILE_NEEDS: dict[str, ProfileNeeds] = {
    "core": ProfileNeeds(1.5, 3.0, 1, "estimate: LiteLLM ~0.5 GiB RSS, Postgres, MPC-API"),
    "dify": ProfileNeeds(4.0, 10.0, 2, "Dify docs: CPU >= 2, RAM >= 4 GiB"),
    "langflow": ProfileNeeds(2.0, 5.0, 1, "estimate: Langflow image ~2 GB, Postgres"),
    "activepieces": ProfileNeeds(4.0, 4.0, 2, "Activepieces docs: >= 2 vCPU, 4 GB RAM"),
}


@dataclass(frozen=True)
class StackPaths:
    """Where the stack's files are: the compose file, the env template and file, local state."""

    compose_dir: Path
    env_file: Path
    state_dir: Path

    @property
    def compose_file(self) -> Path:
        """`compose/compose.yaml`."""
        return self.compose_dir / "compose.yaml"

    @property
    def template(self) -> Path:
        """`compose/.env.template`."""
        return self.compose_dir / ".env.template"

    @property
    def docker_config(self) -> Path:
        """A DOCKER_CONFIG of our own, holding only the compose plugin link."""
        return self.state_dir / "docker"

    @classmethod
    def for_settings(cls, settings: Settings, *, env_file: Path | None = None) -> StackPaths:
        """The workbook's `compose/` (else the source checkout's) and `outputs/stack/`."""
        home = Path(settings.home) if settings.home is not None else Path.cwd()
        compose_dir = home / "compose"
        if not (compose_dir / "compose.yaml").is_file():
            shipped = Path(__file__).resolve().parents[2] / "compose"
            if (shipped / "compose.yaml").is_file():
                compose_dir = shipped
        return cls(
            compose_dir=compose_dir,
            env_file=env_file or compose_dir / ".env",
            state_dir=Path(settings.outputs_dir) / "stack",
        )


@dataclass(frozen=True)
class PortBinding:
    """One published port: host address and port, container port."""

    host_ip: str
    host_port: int
    container_port: int

    def __str__(self) -> str:
        return f"{self.host_ip}:{self.host_port}->{self.container_port}"


@dataclass(frozen=True)
class ComposeService:
    """One service of the compose project, as far as we use it."""

    name: str
    profiles: tuple[str, ...]
    image: str | None
    ports: tuple[PortBinding, ...]
    healthcheck: dict[str, Any] | None
    depends_on: tuple[str, ...]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]
    restart: str | None
    title: str | None = None
    url: str | None = None
    health_url: str | None = None
    build: bool = False
    container_name: str | None = None
    healthcheck_note: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def one_shot(self) -> bool:
        """A job that runs once and exits (restart "no"): it has no healthcheck to wait on."""
        return self.restart == "no"

    @property
    def healthcheck_disabled(self) -> bool:
        """A healthcheck turned off (`disable: true`, or the test `NONE`)."""
        check = self.healthcheck or {}
        return bool(check.get("disable")) or list(check.get("test") or ()) == ["NONE"]


@dataclass(frozen=True)
class StackModel:
    """The compose project: services, networks (and which are internal) and named volumes."""

    path: Path
    services: dict[str, ComposeService]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]
    internal_networks: tuple[str, ...] = ()

    @property
    def outward_networks(self) -> tuple[str, ...]:
        """The networks with a route out (not `internal: true`): the stack's one."""
        return tuple(name for name in self.networks if name not in self.internal_networks)

    def for_profiles(self, profiles: Sequence[str]) -> list[ComposeService]:
        """The services the given profiles start, in file order."""
        chosen = set(profiles)
        return [svc for svc in self.services.values() if chosen & set(svc.profiles)]

    def published(self, profiles: Sequence[str]) -> list[tuple[str, PortBinding]]:
        """(service, port) for every port the given profiles publish."""
        return [(svc.name, port) for svc in self.for_profiles(profiles) for port in svc.ports]


def parse_profiles(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """`core,dify` or a list -> known profile names, in PROFILES order; ValueError otherwise."""
    if value is None:
        return ("core",)
    items = value.split(",") if isinstance(value, str) else list(value)
    names = {item.strip() for item in items if item.strip()}
    unknown = sorted(names - set(PROFILES))
    if unknown:
        raise ConfigError(f"unknown profile(s) {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    if not names:
        raise ConfigError(f"no profile given; known: {', '.join(PROFILES)}")
    return tuple(name for name in PROFILES if name in names)


def load_stack_model(
    path: Path, env_file: Path | None = None, *, binary: ComposeBinary | None = None
) -> StackModel:
    """The compose file as the binary resolves it with `env_file` (none, or absent: defaults).

    Services, their `depends_on`, networks and volumes keep the file's order (compose
    prints them sorted by name), so the diagram follows the file.  No binary:
    EngineUnavailable with the install hint; a file compose refuses: ConfigError in
    compose's words.
    """
    written = _read_yaml(path)
    data = compose_config(Path(path), env_file, binary)
    written_services = written.get("services") or {}
    resolved = data.get("services") or {}
    services: dict[str, ComposeService] = {}
    for name in _in_file_order(resolved, written_services):
        spec = resolved[name]
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: service {name!r} is not a mapping")
        own = written_services.get(name)
        services[name] = _service(path, name, spec, own if isinstance(own, dict) else {})
    declared = data.get("networks") or {}
    networks = _in_file_order(declared, written.get("networks") or {})
    internal = [name for name in networks if (declared.get(name) or {}).get("internal")]
    volumes = _in_file_order(data.get("volumes") or {}, written.get("volumes") or {})
    return StackModel(Path(path), services, tuple(networks), tuple(volumes), tuple(internal))


def _read_yaml(path: Path) -> dict[str, Any]:
    """The file as written (no interpolation): for its order and the secret rules."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the compose file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a compose file (no top-level mapping)")
    return data


def _in_file_order(names: Iterable[str], written: Iterable[str]) -> list[str]:
    """`names` in the order the file writes them; any it does not write last, by name."""
    rank = {name: index for index, name in enumerate(written)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def _service(
    path: Path, name: str, spec: dict[str, Any], written: dict[str, Any]
) -> ComposeService:
    """One service from compose's resolved form (long syntax for ports, volumes, depends_on)."""
    extra = spec.get("x-mpc") or {}
    return ComposeService(
        name=name,
        profiles=tuple(spec.get("profiles") or ()),
        image=spec.get("image"),
        ports=tuple(_port(path, name, item) for item in spec.get("ports") or ()),
        healthcheck=spec.get("healthcheck"),
        depends_on=tuple(
            _in_file_order(spec.get("depends_on") or {}, written.get("depends_on") or ())
        ),
        networks=tuple(spec.get("networks") or {}),
        volumes=tuple(_volume_text(item) for item in spec.get("volumes") or ()),
        restart=spec.get("restart"),
        title=extra.get("title"),
        url=extra.get("url"),
        health_url=extra.get("health"),
        build="build" in spec,
        container_name=spec.get("container_name"),
        healthcheck_note=extra.get("healthcheck"),
        raw=spec,
    )


def _port(path: Path, service: str, item: Any) -> PortBinding:
    """A port in compose's long syntax (`host_ip`, `published`, `target`)."""
    try:
        host_ip = str(item.get("host_ip") or "0.0.0.0")
        return PortBinding(host_ip, int(item.get("published") or 0), int(item["target"]))
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ConfigError(f"{path}: service {service}: cannot read port {item!r}") from None


def _volume_text(item: Any) -> str:
    """`source:target[:ro]` from the long syntax; an anonymous volume is its target alone."""
    if not isinstance(item, dict):
        return str(item)
    source, target = item.get("source") or "", item.get("target") or ""
    if not source:
        return str(target)
    return f"{source}:{target}" + (":ro" if item.get("read_only") else "")


# --- the rules ------------------------------------------------------------------------------


def check_compose(path: Path, *, binary: ComposeBinary | None = None) -> list[str]:
    """Every rule the compose file breaks, one line each (empty: it keeps them all).

    The project is the binary's with the file's defaults (no env file): pinned images
    (a version tag or a digest, never untagged or a moving tag), a healthcheck on every
    long-running service (a disabled one says why in x-mpc), published ports on loopback,
    named volumes (bind mounts only for read-only config and the workbook's outputs), no
    container_name, networks every service names, of which exactly one reaches out and
    the others are `internal: true`.  Secrets are read as written: only as `${VAR}`
    references without defaults.
    """
    raw = _read_yaml(path)
    model = load_stack_model(path, binary=binary)
    declared = set(raw.get("networks") or {})
    problems: list[str] = []
    for svc in model.services.values():
        problems += _image_problems(svc)
        problems += _healthcheck_problems(svc)
        for port in svc.ports:
            if port.host_ip not in _LOOPBACK:
                problems.append(f"{svc.name}: port {port} is published beyond loopback")
        if svc.container_name:
            problems.append(f"{svc.name}: container_name {svc.container_name!r} (drop it)")
        if not svc.profiles:
            problems.append(f"{svc.name}: in no profile (it would start with every profile)")
        problems += _network_problems(svc, model, declared)
        problems += _volume_problems(svc, model.volumes)
    outward = model.outward_networks
    if len(outward) != 1:
        problems.append(
            f"{len(outward)} networks reach out ({', '.join(outward) or 'none'}); want one, "
            "every other internal: true"
        )
    problems += _secret_problems(raw)
    return problems


def _healthcheck_problems(svc: ComposeService) -> list[str]:
    """A probe on every long-running service; x-mpc says where one comes from, and why not."""
    note = svc.healthcheck_note
    problems = []
    if note is not None and not _HEALTHCHECK_NOTE.fullmatch(str(note).strip()):
        problems.append(
            f"{svc.name}: x-mpc healthcheck {note!r} is not "
            '"as upstream", "ours: <why>" or "disabled: <why>"'
        )
    said_disabled = str(note or "").startswith("disabled:")
    if svc.healthcheck is None:
        if not svc.one_shot:
            problems.append(f"{svc.name}: no healthcheck")
    elif svc.healthcheck_disabled:
        if not (said_disabled and _HEALTHCHECK_NOTE.fullmatch(str(note).strip())):
            problems.append(
                f"{svc.name}: healthcheck disabled without a reason "
                '(x-mpc healthcheck: "disabled: <why>")'
            )
    elif not svc.healthcheck.get("test"):
        problems.append(f"{svc.name}: healthcheck has no test")
    if said_disabled and not svc.healthcheck_disabled:
        problems.append(f"{svc.name}: x-mpc says its healthcheck is disabled, but it runs")
    return problems


def _network_problems(svc: ComposeService, model: StackModel, declared: set[str]) -> list[str]:
    """Every service names its networks; one only on internal networks publishes nothing."""
    if not svc.networks or any(name not in declared for name in svc.networks):
        return [f"{svc.name}: on compose's default network; name its networks under networks:"]
    if svc.ports and all(name in model.internal_networks for name in svc.networks):
        return [f"{svc.name}: publishes ports but is only on internal networks"]
    return []


def _image_problems(svc: ComposeService) -> list[str]:
    if svc.image is None:
        return [f"{svc.name}: no image"]
    name, _, tag = svc.image.rpartition(":")
    if "@sha256:" in svc.image:
        return []
    if not name or "/" in tag:  # no tag at all: compose pulls :latest
        return [f"{svc.name}: image {svc.image!r} has no tag (that is :latest)"]
    if tag in ("latest", "main", "main-latest", "main-stable", "stable", "edge", "nightly"):
        return [f"{svc.name}: image {svc.image!r} is a moving tag; pin a version"]
    if not any(ch.isdigit() for ch in tag):
        return [f"{svc.name}: image tag {tag!r} names no version"]
    return []


def _volume_problems(svc: ComposeService, named: Sequence[str]) -> list[str]:
    problems = []
    for text in svc.volumes:
        source = text.split(":", 1)[0]
        if ":" not in text:
            problems.append(f"{svc.name}: anonymous volume {text!r}; name it")
        elif source in named:
            continue
        elif not source.startswith((".", "/", "~")) and source:
            problems.append(f"{svc.name}: volume {source!r} is not declared under volumes:")
        elif not text.endswith(":ro") and source.rstrip("/") not in ("../outputs",):
            problems.append(f"{svc.name}: bind mount {text!r} is writable; use a named volume")
    return problems


def _secret_problems(raw: dict[str, Any]) -> list[str]:
    """Secrets must be `${VAR}` references with no default value, never literals."""
    problems = []
    for name, spec in (raw.get("services") or {}).items():
        env = spec.get("environment") or {}
        items = env.items() if isinstance(env, dict) else (_split_env(e) for e in env)
        for key, value in items:
            text = "" if value is None else str(value)
            for credential in _URL_CREDENTIAL.findall(text):
                if not _VAR.fullmatch(credential):
                    problems.append(f"{name}: {key} has a literal password in its URL")
            if not _SECRET_NAME.search(str(key)) or not text:
                continue
            refs = list(_VAR.finditer(text))
            if not refs:
                problems.append(f"{name}: {key} holds a literal value; take it from compose/.env")
                continue
            for ref in refs:
                var, op, arg = ref.group(1) or ref.group(4), ref.group(2), ref.group(3)
                if op in (":-", "-") and arg and _SECRET_NAME.search(var or ""):
                    problems.append(f"{name}: {key} has a default for secret {var}")
        for arg in _strings(spec.get("command")):
            for ref in _VAR.finditer(arg):
                if (
                    ref.group(2) in (":-", "-")
                    and ref.group(3)
                    and _SECRET_NAME.search(ref.group(1) or "")
                ):
                    problems.append(f"{name}: command has a default for secret {ref.group(1)}")
    return problems


def _split_env(entry: str) -> tuple[str, str | None]:
    key, sep, value = str(entry).partition("=")
    return key, value if sep else None


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [str(item) for item in node]
    return []
