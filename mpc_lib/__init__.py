"""MPC Workbench: the operations library behind the notebooks and the `mpc` command.

Data flows provider -> client -> registry -> analysis -> notebook:
`open_upstreams` decides where each provider is reached (its live API, the gateway, or,
with no keys, the sandbox's emulators on loopback), `FalClient`/`CometClient` fetch,
`sync_catalog` normalises into `ModelRecord`s and writes the registry, `diff_registries`
says what changed, `run_notebook` drives it all from `notebooks/`.
`check_spec` runs the OpenAPI gate over the hub spec and `push_spec` sends it to Apidog
only when it passes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .config import Secret, Settings, Source
from .errors import (
    AliasError,
    ApidogImportFailed,
    AuthError,
    ConfigError,
    CostMapError,
    EmptyCatalog,
    EngineUnavailable,
    GatewayError,
    MpcError,
    NotebookError,
    NotFound,
    PaginationError,
    ProviderError,
    RateLimited,
    Redirected,
    RegistryError,
    RegistryLocked,
    ResponseFormatError,
    RunLocked,
    SecretLeaked,
    ServerError,
    SpecError,
    SpecRejected,
    StackError,
    StackUnhealthy,
    StorageError,
    SyncError,
    TransportError,
)
from .providers import ProviderName, ProviderSpec

if TYPE_CHECKING:
    from .apidog import ApidogClient, push_spec
    from .catalog import CometClient, FalClient, ModelRecord, Pricing, SyncReport, sync_catalog
    from .gateway import GatewayClient, GatewaySelection
    from .http import HttpCore, RetryPolicy
    from .registry import ModelChange, RegistryDiff, RegistryStore, diff_registries, load_registry
    from .runs import RunIndex, RunRecord, RunResult, run_notebook
    from .spec import GateReport, SpecDocument, check_spec, load_spec, merge_openapi
    from .upstreams import Upstream, Upstreams, open_upstreams

# Heavy parts (HTTP clients, servers, the spec gate...) load when first used, so `mpc --help`
# and every command start fast; the names are the same as eager imports would give.
_LAZY: dict[str, str] = {
    "ApidogClient": "apidog",
    "CometClient": "catalog",
    "FalClient": "catalog",
    "GateReport": "spec",
    "GatewayClient": "gateway",
    "GatewaySelection": "gateway",
    "HttpCore": "http",
    "ModelChange": "registry",
    "ModelRecord": "catalog",
    "Pricing": "catalog",
    "RegistryDiff": "registry",
    "RegistryStore": "registry",
    "RetryPolicy": "http",
    "RunIndex": "runs",
    "RunRecord": "runs",
    "RunResult": "runs",
    "SpecDocument": "spec",
    "SyncReport": "catalog",
    "Upstream": "upstreams",
    "Upstreams": "upstreams",
    "check_spec": "spec",
    "diff_registries": "registry",
    "load_registry": "registry",
    "load_spec": "spec",
    "merge_openapi": "spec",
    "open_upstreams": "upstreams",
    "push_spec": "apidog",
    "run_notebook": "runs",
    "sync_catalog": "catalog",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mpc_lib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AliasError",
    "ApidogClient",
    "ApidogImportFailed",
    "AuthError",
    "CometClient",
    "ConfigError",
    "CostMapError",
    "EmptyCatalog",
    "EngineUnavailable",
    "FalClient",
    "GateReport",
    "GatewayClient",
    "GatewayError",
    "GatewaySelection",
    "HttpCore",
    "ModelChange",
    "ModelRecord",
    "MpcError",
    "NotFound",
    "NotebookError",
    "PaginationError",
    "Pricing",
    "ProviderError",
    "ProviderName",
    "ProviderSpec",
    "RateLimited",
    "Redirected",
    "RegistryDiff",
    "RegistryError",
    "RegistryLocked",
    "RegistryStore",
    "ResponseFormatError",
    "RetryPolicy",
    "RunIndex",
    "RunLocked",
    "RunRecord",
    "RunResult",
    "Secret",
    "SecretLeaked",
    "ServerError",
    "Settings",
    "Source",
    "SpecDocument",
    "SpecError",
    "SpecRejected",
    "StackError",
    "StackUnhealthy",
    "StorageError",
    "SyncError",
    "SyncReport",
    "TransportError",
    "Upstream",
    "Upstreams",
    "check_spec",
    "diff_registries",
    "load_registry",
    "load_spec",
    "merge_openapi",
    "open_upstreams",
    "push_spec",
    "run_notebook",
    "sync_catalog",
]
