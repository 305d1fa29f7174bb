"""The table of model providers: one entry per provider, read by config, sync, views and runs.

A provider entry names everything the rest of the library needs to reach it: the
environment variables that hold its key, how the key is sent, which setting holds
its base URL, and how the LiteLLM gateway reaches it (the pass-through route that
carries catalog calls, and how a model becomes a gateway deployment).  Adding a
provider is one entry here plus its catalog client in `mpc_lib.catalog` (and an
emulator in `mpc_lib.sandbox`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .errors import ConfigError

__all__ = [
    "PROVIDERS",
    "AuthScheme",
    "ProviderName",
    "ProviderSpec",
    "check_providers",
    "provider_spec",
]

AuthScheme = Literal["Key", "Bearer"]


@dataclass(frozen=True)
class ProviderSpec:
    """How to reach one provider: key variables, auth scheme, base URL setting, gateway route."""

    name: str
    title: str
    key_vars: tuple[str, ...]
    scheme: AuthScheme
    base_url_var: str
    default_base_url: str
    list_path: str
    # The gateway's pass-through route to this provider's base URL (`/fal/models` ->
    # `<base>/models`); the gateway injects the key, as `<scheme> os.environ/<key_var>`.
    passthrough: str
    # LiteLLM model string of a deployment, from the registry's model id.
    gateway_model: str
    # The deployment's api_base from the provider's base URL; None: LiteLLM's own default.
    gateway_api_base: str | None = None
    # The sandbox emulator that answers this provider's deployments (chat), if any.
    gateway_sandbox: str | None = None
    # Hosts where the provider's models run, apart from its API (FAL: fal.run and
    # queue.fal.run): host -> the Settings field holding its live URL.  The gateway reaches
    # each through a pass-through route of its own, `<passthrough>-<host>` (`/fal-run`),
    # and the sandbox serves each under `/<host>` of the provider's emulator.
    model_hosts: Mapping[str, str] = field(default_factory=dict)

    def host_route(self, host: str) -> str:
        """The gateway's pass-through route to one of `model_hosts` (`/fal-run`)."""
        return f"{self.passthrough}-{host}"

    @property
    def key_var(self) -> str:
        """The primary key variable (the one the README and error messages name)."""
        return self.key_vars[0]


PROVIDERS: dict[str, ProviderSpec] = {
    "fal": ProviderSpec(
        name="fal",
        title="FAL",
        key_vars=("FAL_KEY", "FAL_API_KEY"),
        scheme="Key",
        base_url_var="MPC_FAL_BASE_URL",
        default_base_url="https://api.fal.ai/v1",
        list_path="/models",
        passthrough="/fal",
        # LiteLLM's fal_ai provider calls FAL's inference host itself, not the Platform API.
        gateway_model="fal_ai/{model_id}",
        # A deployment's api_base is one of these hosts (gateway/litellm_fal.py says which).
        model_hosts={"run": "fal_run_url", "queue": "fal_queue_url"},
    ),
    "comet": ProviderSpec(
        name="comet",
        title="Comet API",
        key_vars=("COMETAPI_KEY", "COMET_API_KEY"),
        scheme="Bearer",
        base_url_var="MPC_COMET_BASE_URL",
        default_base_url="https://api.cometapi.com",
        list_path="/v1/models",
        passthrough="/comet",
        # Comet speaks OpenAI: LiteLLM's openai/ provider with Comet's /v1 as its base.
        gateway_model="openai/{model_id}",
        gateway_api_base="{base_url}/v1",
        gateway_sandbox="openai",
    ),
}

if TYPE_CHECKING:
    ProviderName = str
else:
    # The names above as a Literal, so notebook parameters and pydantic can check them.
    ProviderName = Literal[tuple(PROVIDERS)]


def provider_spec(name: str) -> ProviderSpec:
    """The entry for `name`; an unknown name raises ValueError listing the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None


def check_providers(providers: Sequence[str]) -> tuple[str, ...]:
    """The names given (trimmed, lower-cased, each once); ConfigError names every unknown one."""
    chosen = tuple(dict.fromkeys(p.strip().lower() for p in providers if p.strip()))
    unknown = [p for p in chosen if p not in PROVIDERS]
    if unknown or not chosen:
        raise ConfigError(
            f"unknown provider(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(PROVIDERS)}"
        )
    return chosen
