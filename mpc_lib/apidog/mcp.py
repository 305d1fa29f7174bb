"""apidog-mcp-server: the MCP client config for Cursor / VS Code, and listing its tools.

`mcp_config` writes the `mcp.json` that starts the server (npm package, via npx) for an
Apidog project or a local spec; the token is referenced as `${env:APIDOG_ACCESS_TOKEN}`,
never written.  `list_mcp_tools` starts the server over stdio on a spec and asks for its
tools with a few lines of JSON-RPC (initialize, tools/list).  Tool names end in a
random suffix that changes on every start, so they are matched by prefix.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import ConfigDict, Field, computed_field

from .._version import __version__
from ..config import DEFAULT_APIDOG_BASE_URL, Settings
from ..errors import ConfigError, ResponseFormatError, TransportError
from ..models import MpcModel
from ..spec import load_spec
from ..storage import atomic_write_text

__all__ = [
    "APIDOG_MCP_PACKAGE",
    "MCP_PROTOCOL_VERSION",
    "MCP_TOOL_KINDS",
    "McpTool",
    "McpToolList",
    "list_mcp_tools",
    "mcp_config",
    "write_mcp_config",
]

APIDOG_MCP_PACKAGE = "apidog-mcp-server@0.0.17"
MCP_PROTOCOL_VERSION = "2024-11-05"
# Longest first: read_project_oas_ref_resources_x also starts with read_project_oas_.
MCP_TOOL_KINDS = ("read_project_oas_ref_resources", "refresh_project_oas", "read_project_oas")
ConfigFormat = Literal["cursor", "vscode"]


def _server_args(
    settings: Settings, project_id: str | None, oas: Path | None
) -> tuple[list[str], dict[str, str]]:
    if (project_id is None) == (oas is None):
        raise ConfigError("give either a project id or an OpenAPI file (--oas) for the MCP server")
    args = ["-y", APIDOG_MCP_PACKAGE]
    if oas is not None:
        return [*args, f"--oas={_json_spec(oas, settings)}"], {}
    args.append(f"--project-id={project_id}")
    if settings.apidog_base_url != DEFAULT_APIDOG_BASE_URL:
        args.append(f"--apidog-api-base-url={settings.apidog_base_url}")
    return args, {"APIDOG_ACCESS_TOKEN": "${env:APIDOG_ACCESS_TOKEN}"}


def _json_spec(path: Path, settings: Settings) -> Path:
    """The spec as a JSON file: the server cannot read YAML (it answers with a SyntaxError)."""
    document = load_spec(path)
    if document.format == "json":
        return Path(path).resolve()
    converted = Path(settings.outputs_dir) / "apidog" / "mcp" / f"{Path(path).stem}.json"
    atomic_write_text(converted, json.dumps(document.data, indent=2, ensure_ascii=False))
    return converted.resolve()


def mcp_config(
    settings: Settings,
    *,
    project_id: str | None = None,
    oas: Path | str | None = None,
    fmt: ConfigFormat = "cursor",
    name: str = "apidog",
) -> dict[str, Any]:
    """The MCP client config that starts apidog-mcp-server for a project or a local spec."""
    args, env = _server_args(settings, project_id, Path(oas) if oas is not None else None)
    server: dict[str, Any] = {"command": "npx", "args": args}
    if env:
        server["env"] = env
    if fmt == "vscode":
        return {"servers": {name: {"type": "stdio", **server}}}
    if fmt != "cursor":
        raise ValueError(f"format {fmt!r}: expected cursor or vscode")
    return {"mcpServers": {name: server}}


def write_mcp_config(config: dict[str, Any], out: Path | str) -> Path:
    """Write an MCP config atomically (it holds no secret: the token stays an env reference)."""
    return atomic_write_text(Path(out), json.dumps(config, indent=2) + "\n")


# --- listing the tools ---------------------------------------------------------------


class McpTool(MpcModel):
    """One tool the server offers: its full name, its kind (the name without the suffix)."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str | None
    description: str
    input_schema: dict[str, Any] = Field(default_factory=dict, exclude=True)


class McpToolList(MpcModel):
    """The tools of one server start, or why it was skipped."""

    skipped: str | None = None
    server: dict[str, Any] = Field(default_factory=dict)
    protocol: str | None = None
    tools: list[McpTool] = Field(default_factory=list)

    @property
    def kinds(self) -> dict[str, str]:
        """Kind -> the tool name that has it."""
        return {tool.kind: tool.name for tool in self.tools if tool.kind}

    @computed_field
    @property
    def missing(self) -> list[str]:
        """The expected kinds the server did not offer (none when the listing was skipped)."""
        if self.skipped:
            return []
        return [kind for kind in MCP_TOOL_KINDS if kind not in self.kinds]


def _kind(name: str) -> str | None:
    return next((kind for kind in MCP_TOOL_KINDS if name.startswith(kind + "_")), None)


class _StdioSession:
    """JSON-RPC 2.0 over a child's stdin/stdout, one JSON message per line."""

    def __init__(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        self.process = process
        self.timeout_s = timeout_s
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes] | None) -> None:
        if stream is not None:
            for line in stream:
                self.lines.put(line)
        self.lines.put(None)  # the server closed its stdout

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for its answer's `result`."""
        self.next_id += 1
        self._write({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self._answer(self.next_id, method)

    def notify(self, method: str) -> None:
        """Send a notification (no answer comes)."""
        self._write({"jsonrpc": "2.0", "method": method})

    def _write(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except OSError as exc:  # a server that died closes the pipe
            raise TransportError(
                "apidog-mcp-server", "stdio", str(message.get("method")), f"cannot write: {exc}"
            ) from None

    def _answer(self, wanted: int, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise TransportError(
                    "apidog-mcp-server", "stdio", method, f"no answer in {self.timeout_s:g} s"
                ) from None
            if line is None:
                raise TransportError(
                    "apidog-mcp-server", "stdio", method,
                    f"the server exited (code {self.process.poll()}) before answering",
                )  # fmt: skip
            try:
                message = json.loads(line)
            except ValueError:
                continue  # a log line on stdout is not ours to parse
            if not isinstance(message, dict) or message.get("id") != wanted:
                continue  # a notification, or an answer to someone else
            if "error" in message:
                error = message["error"] if isinstance(message["error"], dict) else {}
                raise ResponseFormatError(
                    "apidog-mcp-server",
                    method,
                    f"error {error.get('code')}: {error.get('message')}",
                )
            result = message.get("result")
            if not isinstance(result, dict):
                raise ResponseFormatError("apidog-mcp-server", method, "no result object")
            return result


def list_mcp_tools(
    spec: Path | str,
    settings: Settings,
    *,
    command: Sequence[str] | None = None,
    timeout_s: float = 120.0,
) -> McpToolList:
    """Start apidog-mcp-server on `spec` over stdio and list its tools (skipped without npx).

    `command` replaces `npx -y apidog-mcp-server@<pinned>` (the spec argument is added).
    """
    if command is None:
        npx = shutil.which("npx")
        if npx is None:
            return McpToolList(
                skipped="npx not found: install Node.js 18+ (with npm) to list the tools of"
                f" {APIDOG_MCP_PACKAGE}"
            )
        command = [npx, "-y", APIDOG_MCP_PACKAGE]
    spec_json = _json_spec(Path(spec), settings)
    data_dir = Path(settings.outputs_dir) / "apidog" / "mcp-cache"
    env = {**os.environ, "APIDOG_DATA_LOCATION": str(data_dir), "npm_config_yes": "true"}
    env.pop("APIDOG_ACCESS_TOKEN", None)  # a local spec needs no token: none goes to the child
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                [*command, f"--oas={spec_json}"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=errors, env=env,
            )  # fmt: skip
        except OSError as exc:
            raise ConfigError(f"cannot start {command[0]}: {exc.strerror or exc}") from exc
        try:
            return _handshake(_StdioSession(process, timeout_s))
        except TransportError as exc:
            errors.seek(0)
            said = errors.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            if said:
                raise TransportError(
                    exc.provider, exc.method, exc.path, f"{exc.detail}: {' | '.join(said)}"
                ) from None
            raise
        finally:
            _stop(process)


def _handshake(session: _StdioSession) -> McpToolList:
    init = session.request(
        "initialize",
        {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mpc-workbench", "version": __version__},
        },
    )
    session.notify("notifications/initialized")
    tools: list[McpTool] = []
    cursor: str | None = None
    for _ in range(100):
        result = session.request("tools/list", {"cursor": cursor} if cursor else {})
        for raw in result.get("tools") or []:
            if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                schema = raw.get("inputSchema")
                tools.append(
                    McpTool(
                        name=raw["name"],
                        kind=_kind(raw["name"]),
                        description=str(raw.get("description") or ""),
                        input_schema=schema if isinstance(schema, dict) else {},
                    )
                )
        cursor = result.get("nextCursor")
        if not cursor:
            break
    info = init.get("serverInfo")
    server: dict[str, Any] = dict(info) if isinstance(info, dict) else {}
    protocol = str(init.get("protocolVersion") or "") or None
    return McpToolList(tools=tools, server=server, protocol=protocol)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Close stdin (the server's cue to exit), then make sure it is gone."""
    try:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()
