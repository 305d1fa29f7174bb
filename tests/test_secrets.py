"""A canary key must never reach stdout, stderr, logs or any file under outputs/."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import Ran, mpc

from mpc_lib.sandbox import Sandbox

FAL_CANARY = "canary-fal-7f3a9c21e4b84d0f"
COMET_CANARY = "canary-comet-51d0be8a2c6f4e93"


@pytest.fixture(scope="module")
def keyed_sandbox() -> Iterator[Sandbox]:
    """Emulators that accept exactly the canary keys, reached as if they were the live APIs."""
    with Sandbox(fal_key=FAL_CANARY, comet_key=COMET_CANARY) as sandbox:
        yield sandbox


def _mpc(*args: str, env: dict[str, str], cwd: Path) -> Ran:
    return mpc(*args, env=env, cwd=cwd)


def _leaks(outputs: Path) -> list[str]:
    found = []
    for path in outputs.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if FAL_CANARY.encode() in data or COMET_CANARY.encode() in data:
                found.append(str(path.relative_to(outputs)))
    return found


def test_canary_keys_never_leave_the_process(keyed_sandbox: Sandbox, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    env = {
        "FAL_KEY": FAL_CANARY,
        "COMETAPI_KEY": COMET_CANARY,
        "MPC_FAL_BASE_URL": keyed_sandbox.fal_url,
        "MPC_COMET_BASE_URL": keyed_sandbox.comet_url,
        "MPC_OUTPUTS_DIR": str(outputs),
        "MPC_MAX_RETRIES": "0",
    }
    # a live sync, logging every HTTP call
    synced = _mpc("--verbose", "sync", "--json", env=env, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert '"sources": {"fal": "live", "comet": "live"}' in synced.stdout
    assert "GET http://127.0.0.1" in synced.stderr  # the HTTP log lines are there...
    # a notebook run through papermill, with its HTML copy and manifest
    ran = _mpc("run", "catalog_sync", env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    # a key the provider refuses: the error names provider and status, never the key
    keyed_sandbox.state.keys["fal"] = FAL_CANARY + "-rotated"
    try:
        refused = _mpc("--debug", "sync", "--providers", "fal", env=env, cwd=tmp_path)
    finally:
        keyed_sandbox.state.keys["fal"] = FAL_CANARY
    assert refused.returncode == 3
    assert "fal: 401 GET /models" in refused.stderr

    assert sorted(p.name for p in (outputs / "registry").iterdir()) == [
        ".lock",
        "diff.json",
        "models.json",
        "snapshots",
    ]
    assert list((outputs / "runs").rglob("*.html"))
    for result in (synced, ran, refused):
        assert FAL_CANARY not in result.stdout + result.stderr
        assert COMET_CANARY not in result.stdout + result.stderr
    assert _leaks(outputs) == []


def test_the_gateway_key_never_leaves_the_process(gateway: Any, tmp_path: Path) -> None:
    """A sync through the gateway, logging every call: the master key (a canary) stays secret."""
    canary = gateway.settings.gateway_key.reveal()  # the session gateway key is a canary
    outputs = tmp_path / "outputs"
    env = {
        "LITELLM_MASTER_KEY": canary,
        "MPC_GATEWAY_URL": gateway.url,
        "MPC_OUTPUTS_DIR": str(outputs),
        "MPC_MAX_RETRIES": "0",
    }
    synced = _mpc("--verbose", "sync", "--source", "gateway", "--json", env=env, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert '"sources": {"fal": "sandbox via gateway", "comet": "sandbox via gateway"}' in (
        synced.stdout
    )
    assert f"GET {gateway.url}/fal/models" in synced.stderr
    configured = _mpc("gateway", "config", env=env, cwd=tmp_path)
    assert configured.returncode == 0, configured.stderr
    for result in (synced, configured):
        assert canary not in result.stdout + result.stderr
    found = [
        p
        for p in outputs.rglob("*")
        if p.is_file() and canary.encode() in p.read_bytes()
    ]
    assert found == []
    assert (outputs / "gateway" / "litellm.yaml").is_file()
