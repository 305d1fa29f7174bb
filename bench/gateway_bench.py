"""Chat latency and throughput three ways, in one run: straight to the upstream, through
LiteLLM, and through MPC-API -> LiteLLM.

Each server runs in its own process, as deployed: the sandbox's OpenAI-compatible upstream
(`mpc sandbox serve`), LiteLLM (`GatewayProcess` with a generated config) and MPC-API
(`mpc api serve`).  The same requests go to each at a fixed concurrency, plain and
streamed, after a warm-up; the client, the servers and the upstream share the machine.
Prints median, p95 and throughput per target, and the ratios against the baseline
measured in the same run.  Usage: python bench/gateway_bench.py [--requests 200]
[--concurrency 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from mpc_lib.api.aliases import load_aliases
from mpc_lib.catalog import sync_catalog
from mpc_lib.config import Settings
from mpc_lib.gateway import GatewayProcess, build_gateway_config, write_gateway_config
from mpc_lib.gateway.config import GatewaySelection, Upstream, default_config_path, with_required

MODEL = "gpt-4o-mini"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "benchmark this gateway"}]}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], pattern: str) -> Iterator[re.Match[str]]:
    """Start a command and wait for a stdout line matching `pattern`."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"{command[3:5]} exited early")
            match = re.search(pattern, line)
            if match:
                yield match
                return
    finally:
        process.terminate()
        process.wait(30)


def _wait(url: str) -> None:
    for _ in range(600):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _run(url: str, key: str, requests: int, concurrency: int, stream: bool) -> dict[str, float]:
    """`requests` chats at `concurrency`, one pooled client per worker; latencies to the end."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {**BODY, "stream": stream}
    clients = [httpx.Client(headers=headers, timeout=60) for _ in range(concurrency)]

    def one(index: int) -> float:
        client = clients[index % concurrency]
        started = time.perf_counter()
        if stream:
            with client.stream("POST", url, json=body) as answer:
                for _ in answer.iter_bytes():
                    pass
                assert answer.status_code == 200
        else:
            assert client.post(url, json=body).status_code == 200
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(concurrency * 3)))  # warm-up: connections, caches
        started = time.perf_counter()
        latencies = sorted(pool.map(one, range(requests)))
        wall = time.perf_counter() - started
    for client in clients:
        client.close()
    return {
        "median": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        "rps": requests / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    book = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    (book / "pyproject.toml").write_text("[tool.mpc]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPC_", "LITELLM_"))}
    env["MPC_HOME"] = str(book)
    sandbox_cmd = [
        sys.executable,
        "-m",
        "mpc_lib.cli",
        "sandbox",
        "serve",
        "--fal-port",
        "0",
        "--comet-port",
        "0",
        "--openai-port",
        "0",
    ]
    with _process(sandbox_cmd, env, r"OpenAI upstream: (\S+)/v1") as found:
        upstream = found.group(1)
        comet = upstream  # `mpc sandbox serve` accepts any key; Comet's catalog is on its own port
        settings = Settings(home=book, comet_key="bench", fal_key="bench")
        # The registry from the sandbox, so MPC-API's aliases resolve as in production.
        from mpc_lib.sandbox import Sandbox

        with Sandbox() as local:
            sync_catalog(
                settings.with_(
                    fal_base_url=local.url("fal"),
                    comet_base_url=local.url("comet"),
                    fal_key=local.key("fal"),
                    comet_key=local.key("comet"),
                )
            )
        registry = (
            __import__("mpc_lib.registry", fromlist=["RegistryStore"])
            .RegistryStore(settings.outputs_dir)
            .load()
        )
        required = tuple(load_aliases().targets(registry["models"]).values())
        upstreams = {name: Upstream(name, "live", comet, comet) for name in ("fal", "comet")}
        config = build_gateway_config(
            registry, upstreams, with_required(GatewaySelection(), required)
        )
        path = write_gateway_config(default_config_path(settings), config)
        key = "sk-" + secrets.token_hex(24)
        gateway_port, api_port = _free_port(), _free_port()
        gateway = GatewayProcess(
            path,
            port=gateway_port,
            log_path=path.parent / "litellm.log",
            settings=settings,
            env={"LITELLM_MASTER_KEY": key, "COMETAPI_KEY": "bench", "FAL_KEY": "bench"},
        )
        with gateway:
            api_env = {
                **env,
                "LITELLM_MASTER_KEY": key,
                "MPC_GATEWAY_URL": gateway.url,
                "MPC_API_URL": f"http://127.0.0.1:{api_port}",
            }
            api = subprocess.Popen(
                [sys.executable, "-m", "mpc_lib.cli", "api", "serve"],
                env=api_env,
                stdout=subprocess.DEVNULL,
            )
            try:
                _wait(f"http://127.0.0.1:{api_port}/health/liveliness")
                targets = {
                    "upstream (baseline)": (f"{upstream}/v1/chat/completions", "bench"),
                    "LiteLLM": (f"{gateway.url}/v1/chat/completions", key),
                    "MPC-API -> LiteLLM": (f"http://127.0.0.1:{api_port}/v1/chat/completions", ""),
                }
                print(
                    f"{args.requests} requests per target at concurrency {args.concurrency}; "
                    f"model {MODEL}; 2 cores shared by client, servers and upstream"
                )
                for stream in (False, True):
                    results = {
                        name: _run(url, k, args.requests, args.concurrency, stream)
                        for name, (url, k) in targets.items()
                    }
                    print(f"\n{'streamed' if stream else 'plain'}:")
                    base = results["upstream (baseline)"]
                    for name, r in results.items():
                        print(
                            f"  {name:<20} median {r['median']:7.1f} ms  p95 {r['p95']:7.1f} ms  "
                            f"{r['rps']:6.1f} req/s  ({r['median'] / base['median']:.1f}x "
                            "baseline median)"
                        )
                    lite, ours = results["LiteLLM"], results["MPC-API -> LiteLLM"]
                    print(
                        f"  LiteLLM adds {lite['median'] - base['median']:.1f} ms to the median; "
                        f"MPC-API adds {ours['median'] - lite['median']:.1f} ms more and keeps "
                        f"{100 * ours['rps'] / lite['rps']:.0f}% of LiteLLM's throughput"
                    )
            finally:
                api.terminate()
                api.wait(30)


if __name__ == "__main__":
    main()
