"""`mpc apidog ...` as an operator runs it: dry run, apply, refusals, exit codes, no token leaks."""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import Ran, mpc

from mpc_lib.sandbox import Sandbox
from mpc_lib.sandbox.apidog import FAIL_EXTENSION, SANDBOX_PROJECT_ID

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_SPEC = REPO_ROOT / "openapi" / "api-hub.oas.json"
CANARY = "canary-apidog-3c9e71d2b0a84f65"


def _mpc(*args: str, env: dict[str, str], cwd: Path) -> Ran:
    return mpc(*args, env=env, cwd=cwd)


def _json(done: Ran) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_push_dry_run_then_apply_then_pull_on_the_built_in_sandbox(tmp_path: Path) -> None:
    env = {"MPC_OUTPUTS_DIR": str(tmp_path / "outputs")}
    dry = _mpc("apidog", "push", str(HUB_SPEC), "--data", "none", env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "no APIDOG_ACCESS_TOKEN: using the built-in Apidog sandbox" in dry.stdout
    assert "dry run: nothing sent" in dry.stdout and "path-added" in dry.stdout
    applied = _mpc("apidog", "push", str(HUB_SPEC), "--apply", "--data", "none", "--json",
                   env=env, cwd=tmp_path)  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    outcome = _json(applied)
    assert outcome["applied"] and outcome["exit_code"] == 0
    assert outcome["result"]["counters"]["endpointCreated"] == 19  # 6 provider + 13 MPC-API
    assert Path(outcome["backup"]).is_file()
    pulled = _mpc("apidog", "pull", "--out", str(tmp_path / "pulled.json"), "--json",
                  env=env, cwd=tmp_path)  # fmt: skip
    assert pulled.returncode == 0 and _json(pulled)["paths"] == 19
    assert json.loads((tmp_path / "pulled.json").read_text()) == json.loads(HUB_SPEC.read_text())


def test_a_failing_spec_is_refused_with_exit_1(seed_spec_or_broken: Path, tmp_path: Path) -> None:
    env = {"MPC_OUTPUTS_DIR": str(tmp_path / "outputs")}
    done = _mpc("apidog", "push", str(seed_spec_or_broken), "--apply", "--data", "none",
                env=env, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert "refused, nothing was sent" in done.stdout
    assert "gate: " in done.stdout  # the findings that refused it are shown
    assert not (tmp_path / "outputs" / "apidog" / "backups").exists()


def test_failed_counters_exit_3_and_keys_never_leak(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.state.keys["apidog"] = CANARY
    spec = json.loads(HUB_SPEC.read_text())
    spec["paths"]["/api/models"]["get"][FAIL_EXTENSION] = "the sandbox refuses this one"
    path = tmp_path / "failing.json"
    path.write_text(json.dumps(spec))
    outputs = tmp_path / "outputs"
    env = {
        "APIDOG_ACCESS_TOKEN": CANARY,
        "APIDOG_PROJECT_ID": SANDBOX_PROJECT_ID,
        "MPC_APIDOG_BASE_URL": sandbox.url("apidog"),
        "MPC_OUTPUTS_DIR": str(outputs),
        "MPC_MAX_RETRIES": "0",
    }
    try:
        done = _mpc("--verbose", "apidog", "push", str(path), "--apply", "--data", "none",
                    env=env, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 3, done.stderr
        assert "endpointFailed=1" in done.stderr
        assert "GET /api/models: the sandbox refuses this one" in done.stdout
        assert "POST http://127.0.0.1" in done.stderr  # the HTTP log lines are there...
        refused = _mpc("apidog", "pull", env={**env, "APIDOG_ACCESS_TOKEN": CANARY + "-old"},
                       cwd=tmp_path)  # fmt: skip
        assert refused.returncode == 3 and "apidog: 401 POST" in refused.stderr
        mcp = _mpc("apidog", "mcp-config", env=env, cwd=tmp_path)
        assert json.loads(mcp.stdout)["mcpServers"]["apidog"]["env"] == {
            "APIDOG_ACCESS_TOKEN": "${env:APIDOG_ACCESS_TOKEN}"
        }
    finally:
        sandbox.state.keys["apidog"] = sandbox.key("apidog")
    for result in (done, refused, mcp):
        assert CANARY not in result.stdout + result.stderr  # ...but never the token
    for file in outputs.rglob("*"):
        assert not file.is_file() or CANARY.encode() not in file.read_bytes(), file


def test_bad_options_are_bad_input(tmp_path: Path) -> None:
    done = _mpc("apidog", "push", str(HUB_SPEC), "--endpoint-overwrite-behavior", "MERGE",
                env={"MPC_OUTPUTS_DIR": str(tmp_path)}, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "endpoint-overwrite-behavior 'MERGE'" in done.stderr
    done = _mpc("apidog", "mcp-config", "--format", "zed", env={}, cwd=tmp_path)
    assert done.returncode == 2 and "--format 'zed'" in done.stderr


def test_mcp_config_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / ".cursor" / "mcp.json"
    done = _mpc("apidog", "mcp-config", "--oas", str(HUB_SPEC), "--out", str(out),
                env={"MPC_OUTPUTS_DIR": str(tmp_path)}, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    args = json.loads(out.read_text())["mcpServers"]["apidog"]["args"]
    assert args[-1] == f"--oas={HUB_SPEC}"
    as_json = _mpc("apidog", "mcp-config", "--project-id", "7", "--format", "vscode", "--json",
                   env={}, cwd=tmp_path)  # fmt: skip
    assert _json(as_json) == {
        "config": {"servers": {"apidog": {
            "type": "stdio", "command": "npx",
            "args": ["-y", "apidog-mcp-server@0.0.17", "--project-id=7"],
            "env": {"APIDOG_ACCESS_TOKEN": "${env:APIDOG_ACCESS_TOKEN}"},
        }}},
        "written": None,
    }  # fmt: skip
