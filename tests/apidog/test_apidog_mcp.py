"""apidog-mcp-server: the mcp.json we write, and the tools it lists over stdio."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import mpc

from mpc_lib.apidog import APIDOG_MCP_PACKAGE, MCP_TOOL_KINDS, list_mcp_tools, mcp_config
from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError, ResponseFormatError, TransportError

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_SPEC = REPO_ROOT / "openapi" / "api-hub.oas.json"
FAKE_SERVER = Path(__file__).parent / "fixtures" / "fake_mcp_server.py"


def _fake(mode: str) -> list[str]:
    return [sys.executable, str(FAKE_SERVER), f"--mode={mode}"]


def test_a_project_config_references_the_token_and_never_holds_it(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, apidog_token="canary-mcp-token-9f")
    cursor = mcp_config(settings, project_id="1128155")
    assert cursor == {"mcpServers": {"apidog": {
        "command": "npx",
        "args": ["-y", APIDOG_MCP_PACKAGE, "--project-id=1128155"],
        "env": {"APIDOG_ACCESS_TOKEN": "${env:APIDOG_ACCESS_TOKEN}"},
    }}}  # fmt: skip
    vscode = mcp_config(settings, project_id="1128155", fmt="vscode", name="hub")
    assert vscode["servers"]["hub"]["type"] == "stdio"
    assert "canary-mcp-token-9f" not in json.dumps([cursor, vscode])
    eu = Settings(outputs_dir=tmp_path, apidog_base_url="https://api.eu.apidog.com")
    assert (
        "--apidog-api-base-url=https://api.eu.apidog.com"
        in (mcp_config(eu, project_id="1")["mcpServers"]["apidog"]["args"])
    )


def test_a_local_spec_config_points_at_json(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path)
    config = mcp_config(settings, oas=HUB_SPEC)
    assert config["mcpServers"]["apidog"]["args"][-1] == f"--oas={HUB_SPEC.resolve()}"
    assert "env" not in config["mcpServers"]["apidog"]
    yaml_spec = tmp_path / "hub.yaml"
    yaml_spec.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
    converted = mcp_config(settings, oas=yaml_spec)["mcpServers"]["apidog"]["args"][-1]
    json_path = Path(converted.removeprefix("--oas="))
    assert json_path.suffix == ".json"  # the server cannot read YAML
    assert json.loads(json_path.read_text())["openapi"] == "3.1.0"
    with pytest.raises(ConfigError, match="either a project id or an OpenAPI file"):
        mcp_config(settings)


def test_the_json_rpc_client_lists_tools_skipping_logs_and_notifications(tmp_path: Path) -> None:
    listing = list_mcp_tools(HUB_SPEC, Settings(outputs_dir=tmp_path), command=_fake("ok"))
    assert listing.server == {"name": "Fake MCP", "version": "9.9"}
    assert listing.protocol == "2024-11-05"
    assert sorted(listing.kinds) == sorted(MCP_TOOL_KINDS) and listing.missing == []
    paged = list_mcp_tools(HUB_SPEC, Settings(outputs_dir=tmp_path), command=_fake("paged"))
    assert len(paged.tools) == 3 and paged.missing == []


def test_a_server_that_dies_or_hangs_or_refuses_is_a_named_error(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path)
    with pytest.raises(TransportError, match=r"the server exited .* before answering"):
        list_mcp_tools(HUB_SPEC, settings, command=_fake("exit"))
    with pytest.raises(TransportError, match="no answer in 1 s"):
        list_mcp_tools(HUB_SPEC, settings, command=_fake("silent"), timeout_s=1)
    with pytest.raises(ResponseFormatError, match="error -32601: nope"):
        list_mcp_tools(HUB_SPEC, settings, command=_fake("error"))


def test_without_npx_the_listing_is_skipped_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no node, no npx
    listing = list_mcp_tools(HUB_SPEC, Settings(outputs_dir=tmp_path))
    assert listing.tools == [] and "npx not found" in (listing.skipped or "")


@pytest.fixture(scope="module")
def npx_ready() -> Iterator[dict[str, str]]:
    """npx with the pinned server installed (npm's own cache; .ci/run warms it up).

    Skips without node, or when npm cannot fetch the package.
    """
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("node/npx is not installed")
    env = {**os.environ, "npm_config_yes": "true"}
    warm = subprocess.run(
        [npx, "-y", APIDOG_MCP_PACKAGE], env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    # with no source the server says so and exits 1: that proves it is installed and runs
    if "Please provide" not in warm.stdout + warm.stderr:
        pytest.skip(f"could not install {APIDOG_MCP_PACKAGE} via npx: {warm.stderr[-300:]}")
    yield env


def test_the_real_server_lists_its_three_tools(npx_ready: dict[str, str], tmp_path: Path) -> None:
    listing = list_mcp_tools(HUB_SPEC, Settings(outputs_dir=tmp_path), timeout_s=120)
    assert listing.server.get("name") == "Apidog MCP Server"
    assert listing.missing == []
    for kind, name in listing.kinds.items():
        suffix = name.removeprefix(kind + "_")
        assert len(suffix) == 6 and suffix.isalnum(), name  # the random suffix
    assert any("MPC API Hub" in tool.description for tool in listing.tools)
    assert (tmp_path / "apidog" / "mcp-cache").is_dir()  # its cache stays under outputs/


def test_mcp_tools_cli_lists_or_skips(npx_ready: dict[str, str], tmp_path: Path) -> None:
    env = {"npm_config_yes": npx_ready["npm_config_yes"], "MPC_OUTPUTS_DIR": str(tmp_path)}
    done = mpc("apidog", "mcp-tools", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    kinds = sorted(t["kind"] for t in json.loads(done.stdout)["tools"])
    assert kinds == sorted(MCP_TOOL_KINDS)
    env["PATH"] = str(tmp_path)  # no node: skipped, with the reason, still exit 0
    skipped = mpc("apidog", "mcp-tools", env=env, cwd=tmp_path)
    assert skipped.returncode == 0 and skipped.stdout.startswith("skipped: npx not found")
