"""The LiteLLM config the compose stack's gateway container serves, and where it may point.

`mpc gateway serve` writes `<outputs>/gateway/litellm.yaml` for a LiteLLM on this machine,
with the sandbox on ephemeral 127.0.0.1 ports; inside a container those addresses are the
container itself.  So the containers get a file of their own, `<outputs>/stack/litellm.yaml`
(`write_container_config`, by `mpc stack init` and before every `mpc stack up`): the same
registry models, each provider live where compose/.env gives the containers its key, else
the sandbox upstream container (`mpc-sandbox`, compose profile `sandbox`) by service name,
and keys as `os.environ/` references.  `config_problems` is the doctor's check of the file
compose mounts: no loopback address, and every service address a port that service opens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..aliases import load_aliases
from ..config import Settings, load_env_file
from ..gateway.config import build_gateway_config, with_required, write_gateway_config
from ..gateway.selection import GatewaySelection
from ..registry import RegistryStore
from ..upstreams import container_upstreams
from .envfile import require_env_file
from .model import StackModel, StackPaths

__all__ = [
    "CONFIG_TARGET",
    "SANDBOX_KEY_VAR",
    "SANDBOX_PROFILE",
    "SANDBOX_SERVICE",
    "ContainerConfig",
    "config_problems",
    "container_config_path",
    "mounted_config",
    "write_container_config",
]

SANDBOX_SERVICE = "mpc-sandbox"
SANDBOX_PROFILE = "sandbox"
# What the gateway container presents to the sandbox upstream (compose/.env, generated).
SANDBOX_KEY_VAR = "MPC_SANDBOX_KEY"
# Where the LiteLLM container reads its config.
CONFIG_TARGET = "/app/config.yaml"
_GATEWAY_SERVICE = "litellm"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class ContainerConfig:
    """The written config: its path, content, and the providers it sends to the sandbox."""

    path: Path
    config: dict[str, Any]
    sandboxed: tuple[str, ...]

    @property
    def profiles(self) -> tuple[str, ...]:
        """Compose profiles the config needs beyond the caller's: the sandbox's, when used."""
        return (SANDBOX_PROFILE,) if self.sandboxed else ()


def container_config_path(paths: StackPaths) -> Path:
    """`<outputs>/stack/litellm.yaml`: what compose mounts into the LiteLLM container."""
    return paths.state_dir / "litellm.yaml"


def write_container_config(
    settings: Settings, paths: StackPaths, selection: GatewaySelection | None = None
) -> ContainerConfig:
    """Write the containers' LiteLLM config from the registry and compose/.env's keys.

    Every model an MPC-API alias names is in it, as in the local gateway's.  No
    compose/.env, or no registry: ConfigError saying which command makes it.
    """
    keys = load_env_file(require_env_file(paths.env_file))
    registry = RegistryStore(settings.outputs_dir).require()
    required = tuple(load_aliases().targets(registry["models"]).values())
    chosen = with_required(selection or GatewaySelection(), required)
    upstreams = container_upstreams(settings, keys, SANDBOX_SERVICE, SANDBOX_KEY_VAR)
    config = build_gateway_config(registry, upstreams, chosen)
    path = write_gateway_config(container_config_path(paths), config)
    sandboxed = tuple(name for name, upstream in upstreams.items() if upstream.kind == "sandbox")
    return ContainerConfig(path, config, sandboxed)


def mounted_config(model: StackModel) -> Path | None:
    """The host file compose mounts as the LiteLLM container's config (None: none mounted)."""
    service = model.services.get(_GATEWAY_SERVICE)
    if service is None:
        return None
    for volume in service.raw.get("volumes") or ():
        if isinstance(volume, Mapping) and volume.get("target") == CONFIG_TARGET:
            source = volume.get("source")
            if not source:
                return None
            path = Path(str(source)).expanduser()  # relative: to the compose file's folder
            return path if path.is_absolute() else (model.path.parent / path).resolve()
    return None


def _targets(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(what, URL) for every address the gateway calls: api_bases and pass-through targets."""
    found = []
    for entry in config.get("model_list") or ():
        params = entry.get("litellm_params") or {} if isinstance(entry, Mapping) else {}
        if params.get("api_base"):
            found.append((f"model {entry.get('model_name')}", str(params["api_base"])))
    general = config.get("general_settings") or {}
    for route in general.get("pass_through_endpoints") or ():
        if isinstance(route, Mapping) and route.get("target"):
            found.append((f"route {route.get('path')}", str(route["target"])))
    return found


def _opened_ports(service: Any) -> set[int]:
    """The container ports a service opens to its network: `expose` and published targets."""
    ports = {binding.container_port for binding in service.ports}
    for item in service.raw.get("expose") or ():
        text = str(item).split("/")[0]
        if text.isdigit():
            ports.add(int(text))
    return ports


def config_problems(
    config: Mapping[str, Any], model: StackModel, profiles: Sequence[str]
) -> list[str]:
    """Why the gateway container could not reach an address of `config`, one line each.

    A loopback address is the container itself; a compose service's name must be one the
    profiles start (the sandbox's counts: `mpc stack up` adds it), on a port it opens.
    Other hosts (the providers' APIs) are the network's business, not compose's.
    """
    active = {svc.name: svc for svc in model.for_profiles([*profiles, SANDBOX_PROFILE])}
    problems = []
    for what, url in _targets(config):
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
        if host in _LOOPBACK:
            problems.append(f"{what}: {url} is the container itself (a local gateway's config?)")
        elif host in model.services:
            service = active.get(host)
            if service is None:
                problems.append(f"{what}: {url}: service {host} is not in these profiles")
            elif port not in _opened_ports(service):
                opened = ", ".join(map(str, sorted(_opened_ports(service)))) or "none"
                problems.append(f"{what}: {url}: {host} opens no port {port} (opens {opened})")
    return problems
