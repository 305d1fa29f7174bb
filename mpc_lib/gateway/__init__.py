"""The LiteLLM gateway: its generated config, its client, and the process that runs it.

`build_gateway_config` turns the registry into a LiteLLM config, `GatewayClient`
talks to a running gateway through the shared HTTP core, `run_gateway` is
`mpc gateway serve`.
"""

from __future__ import annotations

from .client import GatewayClient
from .config import (
    GatewaySelection,
    build_gateway_config,
    default_config_path,
    load_gateway_config,
    write_gateway_config,
)
from .process import GatewayProcess, GatewayRun, ensure_master_key, run_gateway

__all__ = [
    "GatewayClient",
    "GatewayProcess",
    "GatewayRun",
    "GatewaySelection",
    "build_gateway_config",
    "default_config_path",
    "ensure_master_key",
    "load_gateway_config",
    "run_gateway",
    "write_gateway_config",
]
