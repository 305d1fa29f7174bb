"""Apidog: the Open API client, a guarded pull/push of the hub spec, and apidog-mcp-server.

    with ApidogClient(url, token, project_id) as client: client.export_openapi()
    apidog = upstreams["apidog"]                                          # mpc_lib.upstreams
    push_spec(settings, "openapi/api-hub.oas.json", apidog)              # dry run: gate + diff
    push_spec(settings, "openapi/api-hub.oas.json", apidog, apply=True)  # backup, import

With no APIDOG_ACCESS_TOKEN every call goes to the built-in Apidog emulator.
"""

from __future__ import annotations

from .client import (
    APIDOG_API_VERSION,
    COUNTER_NAMES,
    OVERWRITE_BEHAVIORS,
    ApidogClient,
    ImportOptions,
    ImportResult,
)
from .mcp import (
    APIDOG_MCP_PACKAGE,
    MCP_TOOL_KINDS,
    McpTool,
    McpToolList,
    list_mcp_tools,
    mcp_config,
    write_mcp_config,
)
from .project import (
    PullResult,
    PushOutcome,
    apidog_dir,
    pull_spec,
    push_spec,
    raise_for_result,
)

__all__ = [
    "APIDOG_API_VERSION",
    "APIDOG_MCP_PACKAGE",
    "COUNTER_NAMES",
    "MCP_TOOL_KINDS",
    "OVERWRITE_BEHAVIORS",
    "ApidogClient",
    "ImportOptions",
    "ImportResult",
    "McpTool",
    "McpToolList",
    "PullResult",
    "PushOutcome",
    "apidog_dir",
    "list_mcp_tools",
    "mcp_config",
    "pull_spec",
    "push_spec",
    "raise_for_result",
    "write_mcp_config",
]
