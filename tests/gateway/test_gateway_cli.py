"""`mpc gateway config` (in-process), and `mpc gateway serve` and `mpc api serve` as the real
processes an operator starts and stops."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cli_runner import mpc, mpc_env, mpc_process, mpc_script

from mpc_lib.config import Settings
from mpc_lib.gateway.selection import LEFT_OUT_REASONS
from mpc_lib.registry import load_registry
from mpc_lib.sandbox import Sandbox

HELLO = [{"role": "user", "content": "hello through the whole chain"}]


def _book(tmp_path: Path, gateway: Any) -> Path:
    """A workbook with the session's registry (so no sync is needed)."""
    book = tmp_path / "book"
    (book / "outputs" / "registry").mkdir(parents=True)
    (book / "pyproject.toml").write_text("[tool.mpc]\n")
    registry = Path(gateway.settings.outputs_dir) / "registry" / "models.json"
    shutil.copy(registry, book / "outputs" / "registry" / "models.json")
    return book


def test_gateway_config_writes_the_registry_config(tmp_path: Path, gateway: Any) -> None:
    book = _book(tmp_path, gateway)
    done = mpc("gateway", "config", "--max-models", "3", "--json", cwd=book)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    written = book / "outputs" / "gateway" / "litellm.yaml"
    assert summary["path"] == str(written) and written.is_file()
    assert summary["passthrough"] == ["/fal", "/fal-run", "/fal-queue", "/comet"]
    # 3 per provider plus the alias targets beyond them
    assert summary["deployments"] > 6 and summary["counts"]["comet"] >= 3
    # what a sync through the gateway at MPC_GATEWAY_URL reads: the config reaches the live APIs
    record = json.loads((book / "outputs" / "gateway" / "upstreams.json").read_text())
    assert record["gateway_url"] == Settings().gateway_url
    assert {name: entry["kind"] for name, entry in record["upstreams"].items()} == {
        "fal": "live", "comet": "live",
    }  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "pyproject.toml").write_text("[tool.mpc]\n")
    missing = mpc("gateway", "config", cwd=empty)
    assert missing.returncode == 5 and "no registry yet; run `mpc sync` first" in missing.stderr


def test_gateway_config_names_every_model_it_leaves_out_and_why(
    tmp_path: Path, gateway: Any
) -> None:
    book = _book(tmp_path, gateway)
    done = mpc("gateway", "config", "--json", cwd=book)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    records = load_registry(book / "outputs" / "registry" / "models.json")["models"]
    written = yaml.safe_load((book / "outputs" / "gateway" / "litellm.yaml").read_text())
    served = {f"{e['model_info']['mpc_provider']}:{e['model_name']}"
              for e in written["model_list"]}  # fmt: skip
    left = [key for keys in summary["left_out"].values() for key in keys]
    # every registry model is served or listed once, under one reason
    assert len(left) == len(set(left)) and not served & set(left)
    assert served | set(left) == {f"{m['provider']}:{m['model_id']}" for m in records}
    assert list(summary["left_out"]) == [r for r in LEFT_OUT_REASONS if r in summary["left_out"]]
    assert summary["left_out"] == written["mpc"]["left_out"]
    types = {f"comet:{m['model_id']}": (m.get("meta") or {}).get("model_type")
             for m in records if m["provider"] == "comet"}  # fmt: skip
    unsupported = {key for key, kind in types.items() if kind in ("video", "audio")}
    assert unsupported and set(summary["left_out"]["unsupported type"]) == unsupported
    fal_llm = {f"fal:{m['model_id']}" for m in records
               if m["provider"] == "fal" and m["category"] == "llm"}  # fmt: skip
    assert fal_llm and fal_llm <= set(summary["left_out"]["unsupported category"])
    total = len(left)
    assert f"left out {total} registry model(s):" in done.stdout
    for reason, keys in summary["left_out"].items():
        assert f"  {reason} ({len(keys)}): {keys[0]}" in done.stdout
    # Comet models without a catalog entry have no type: served as chat, a guess, said aloud
    untyped = sorted(key for key, kind in types.items() if kind is None)
    assert untyped and summary["unknown_types"] == {"(none)": untyped}
    deployed = sum(key in served for key in untyped)
    assert (f"warning: {len(untyped)} Comet model(s) with no type, not in the gateway's type "
            f"table, taken for chat models (a guess; {deployed} deployed): {untyped[0]}"
            ) in done.stderr  # fmt: skip


def test_api_serve_refuses_a_public_address_without_a_key(tmp_path: Path, gateway: Any) -> None:
    book = _book(tmp_path, gateway)
    done = mpc_process("api", "serve", "--host", "0.0.0.0", cwd=book,
                       env={"LITELLM_MASTER_KEY": "sk-anything-long-enough"})  # fmt: skip
    assert done.returncode == 2
    assert "MPC_API_KEY is not set: refusing to serve MPC-API on 0.0.0.0" in done.stderr


def _wait_for(url: str, process: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"exited {process.returncode}: {out[-2000:]} {err[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def own_sandbox() -> Any:
    """A sandbox of the test's own: its request log sees no other test's (or background run's)
    calls."""
    with Sandbox() as own:
        yield own


def test_the_chain_from_the_cli_with_a_comet_key_and_base(
    tmp_path: Path, gateway: Any, own_sandbox: Sandbox, port_factory: Any
) -> None:
    """COMETAPI_KEY and MPC_COMET_BASE_URL set: chats reach that base with that key. FAL has
    no key, so the gateway serves it from its own sandbox; no master key is set, so one is
    generated into .env, and `mpc api serve` reads it from there."""
    sandbox = own_sandbox
    book = _book(tmp_path, gateway)
    gateway_port, api_port = port_factory(), port_factory()
    env = mpc_env({
        "COMETAPI_KEY": sandbox.key("openai"),
        "MPC_COMET_BASE_URL": sandbox.url("openai"),
        "MPC_GATEWAY_URL": f"http://127.0.0.1:{gateway_port}",
        "MPC_API_URL": f"http://127.0.0.1:{api_port}",
    })  # fmt: skip
    command = [mpc_script()]
    served = subprocess.Popen(
        [*command, "gateway", "serve"],
        cwd=book,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = None
    try:
        _wait_for(f"http://127.0.0.1:{gateway_port}/health/liveliness", served)
        record = json.loads((book / "outputs" / "gateway" / "upstreams.json").read_text())
        assert record["gateway_url"] == f"http://127.0.0.1:{gateway_port}"
        reached = {name: entry["kind"] for name, entry in record["upstreams"].items()}
        assert reached == {"fal": "sandbox", "comet": "live"}  # read by syncs through it
        key = (book / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
        api = subprocess.Popen(
            [*command, "api", "serve"],
            cwd=book,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(f"http://127.0.0.1:{api_port}/health/liveliness", api)
        base = f"http://127.0.0.1:{api_port}"
        plain = httpx.post(
            f"{base}/v1/chat/completions",
            timeout=30,
            json={"model": "text_general_flagship", "messages": HELLO},
        )
        assert plain.status_code == 200, plain.text
        assert plain.json()["choices"][0]["message"]["content"].startswith(
            "Sandbox reply from gpt-4o"
        )
        body = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=30) as answer:
            lines = [line for line in answer.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]" and len(lines) > 5
        chats = [r for r in sandbox.requests("openai") if r.path == "/v1/chat/completions"]
        assert len(chats) == 2  # both reached the base we named, with the key we named
        assert httpx.get(f"{base}/health").json()["gateway"]["status"] == "ok"
    finally:
        for process in (api, served):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
    out, err = served.communicate(timeout=60)
    assert served.returncode == 0, err[-2000:]
    assert f"generated LITELLM_MASTER_KEY and stored it in {book / '.env'}" in out
    assert "comet: live" in out and "fal: sandbox (no FAL_KEY set)" in out
    assert "gateway stopped" in out
    api_out, api_err = api.communicate(timeout=30) if api is not None else ("", "")
    for text in (out, err, api_out, api_err):
        assert key not in text and sandbox.key("openai") not in text
    for path in (book / "outputs").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_a_live_fal_key_and_its_hosts_go_to_the_gateway_only(tmp_path: Path, gateway: Any) -> None:
    """FAL live, with its model hosts pointed at any FAL-compatible upstream: the config's
    run and queue routes and every FAL deployment's api_base point there; no key on disk."""
    book = _book(tmp_path, gateway)
    env = {"FAL_KEY": "fal-live-canary-42", "MPC_FAL_RUN_URL": "http://127.0.0.1:9/run/",
           "MPC_FAL_QUEUE_URL": "http://127.0.0.1:9/queue"}  # fmt: skip
    done = mpc("gateway", "config", "--providers", "fal", "--json", cwd=book, env=env)
    assert done.returncode == 0, done.stderr
    text = (book / "outputs" / "gateway" / "litellm.yaml").read_text()
    assert "fal-live-canary-42" not in text and "fal-live-canary-42" not in done.stdout
    written = yaml.safe_load(text)
    routes = {r["path"]: r for r in written["general_settings"]["pass_through_endpoints"]}
    assert routes["/fal-run"]["target"] == "http://127.0.0.1:9/run"
    assert routes["/fal-queue"]["target"] == "http://127.0.0.1:9/queue"
    assert routes["/fal-run"]["headers"] == {"Authorization": "Key os.environ/FAL_KEY"}
    bases = {e["litellm_params"]["api_base"] for e in written["model_list"]}
    assert bases and bases <= {"http://127.0.0.1:9/run", "http://127.0.0.1:9/queue"}
    assert written["mpc"]["upstreams"] == {"fal": "live"}
    bad = mpc("gateway", "config", cwd=book, env={**env, "MPC_FAL_RUN_URL": "fal.run"})
    assert bad.returncode == 2 and "MPC_FAL_RUN_URL='fal.run'" in bad.stderr
