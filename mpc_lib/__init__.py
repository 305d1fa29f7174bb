"""MPC Workbench: the operations library behind the notebooks and the `mpc` command.

Data flows provider -> client -> registry -> analysis -> notebook:
`FalClient`/`CometClient` fetch, `sync_catalog` normalises into `ModelRecord`s and
writes the registry, `diff_registries` says what changed, `run_notebook` drives it all
from `notebooks/`.  With no keys, `Sandbox` emulates both providers on loopback.
`check_spec` runs the OpenAPI gate over the hub spec and `push_spec` sends it to Apidog
only when it passes.
"""

from ._version import __version__ as __version__
from .apidog import ApidogClient, push_spec
from .catalog import CometClient, FalClient, ModelRecord, Pricing, SyncReport, sync_catalog
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
from .gateway import GatewayClient, GatewaySelection
from .http import HttpCore, RetryPolicy
from .providers import ProviderName, ProviderSpec
from .registry import ModelChange, RegistryDiff, RegistryStore, diff_registries, load_registry
from .runs import RunIndex, RunRecord, RunResult, run_notebook
from .sandbox import Fault, Sandbox, SandboxData
from .spec import GateReport, SpecDocument, check_spec, load_spec, merge_openapi

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
    "Fault",
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
    "Sandbox",
    "SandboxData",
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
    "check_spec",
    "diff_registries",
    "load_registry",
    "load_spec",
    "merge_openapi",
    "push_spec",
    "run_notebook",
    "sync_catalog",
]
