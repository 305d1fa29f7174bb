"""Chat latency and throughput three ways, in one run: straight to the upstream, through
LiteLLM, and through MPC-API -> LiteLLM.

Each server runs in its own process, as deployed: the sandbox's OpenAI-compatible upstream
(`mpc sandbox serve`), LiteLLM (`GatewayProcess` with a generated config) and MPC-API
(`mpc api serve`, with a bearer key as in production).  The same requests go to each at
fixed concurrencies, plain and streamed, each after a warm-up; the client, the servers and
the upstream share the machine.  Within a run the targets take turns in blocks of requests
(`--block`, the order rotating), so a change in the machine's load while they are measured
falls on all three alike.  A repeat measures every target once more; the report gives, per
concurrency and mode, each target's median over the repeats (best in brackets), and what
LiteLLM and MPC-API add to the median and MPC-API's share of LiteLLM's throughput, computed
within each repeat.

`--compare-api DIR` also serves MPC-API from the source tree DIR (say, an export of an
earlier commit) in front of the same LiteLLM, as a fourth target taking its turns with the
others: a before/after measured in one run.

Usage: python bench/gateway_bench.py [--requests 200] [--block 40] [--concurrency 1,8]
       [--repeat 3] [--compare-api DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx

from mpc_lib.aliases import load_aliases
from mpc_lib.catalog import sync_catalog
from mpc_lib.config import Settings
from mpc_lib.gateway import GatewayProcess, build_gateway_config, write_gateway_config
from mpc_lib.gateway.config import GatewaySelection, default_config_path, with_required
from mpc_lib.registry import RegistryStore
from mpc_lib.upstreams import Upstream, open_upstreams

MODEL = "gpt-4o-mini"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "benchmark this gateway"}]}
UPSTREAM, LITELLM, MPC_API = "upstream (baseline)", "LiteLLM", "MPC-API -> LiteLLM"
COMPARED = "compared MPC-API"  # --compare-api: MPC-API from another source tree
# The target: MPC-API adds at most this much to LiteLLM's median, and keeps this
# share of LiteLLM's throughput.
TARGET_ADDED_MS, TARGET_KEPT = 2.0, 0.90

Targets = dict[str, tuple[str, str]]  # name -> (chat URL, bearer key)
_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 10.0


def cpu_ms(pid: int) -> float | None:
    """CPU time (user + system) a process and its descendants have used, from /proc."""
    try:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    # the command name may hold spaces: the fields start after its ")"
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    except OSError:
        return None  # no /proc: the report says n/a
    family, total = {pid}, 0
    for child, (parent, _ticks) in sorted(stats.items()):
        if parent in family:
            family.add(child)
    for member in family:
        total += stats.get(member, (0, 0))[1]
    return total * _TICK_MS if pid in stats else None


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _process(
    command: list[str], env: dict[str, str], pattern: str
) -> Iterator[tuple[re.Match[str], int]]:
    """Start a command, wait for a stdout line matching `pattern`; yield it and the pid."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"{command[3:5]} exited early")
            match = re.search(pattern, line)
            if match:
                yield match, process.pid
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


@contextlib.contextmanager
def stack(
    python_args: tuple[str, ...] = (), compared: Path | None = None
) -> Iterator[tuple[Targets, dict[str, int]]]:
    """Upstream, LiteLLM and MPC-API, each in its own process; yields the targets and pids.

    `python_args` go to MPC-API's interpreter (e.g. `-m cProfile -o FILE`); `compared` is
    a source tree to serve a second MPC-API from, in front of the same LiteLLM.
    """
    book = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    (book / "pyproject.toml").write_text("[tool.mpc]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPC_", "LITELLM_"))}
    env["MPC_HOME"] = str(book)
    sandbox_cmd = [sys.executable, "-m", "mpc_lib.cli", "sandbox", "serve",
                   "--fal-port", "0", "--comet-port", "0", "--openai-port", "0",
                   "--apidog-port", "0"]  # fmt: skip
    with _process(sandbox_cmd, env, r"OpenAI upstream: (\S+)/v1") as (found, upstream_pid):
        upstream = found.group(1)  # `mpc sandbox serve` accepts any key
        settings = Settings(home=book, comet_key="bench", fal_key="bench")
        # The registry from the sandbox, so MPC-API's aliases resolve as in production.
        with open_upstreams(settings, source="sandbox") as sandboxed:
            sync_catalog(settings, sandboxed)
        registry = RegistryStore(settings.outputs_dir).load()
        assert registry is not None
        required = tuple(load_aliases().targets(registry["models"]).values())
        upstreams = {
            name: Upstream(name, "live", upstream, chat_url=upstream) for name in ("fal", "comet")
        }
        config = build_gateway_config(
            registry, upstreams, with_required(GatewaySelection(), required)
        )
        path = write_gateway_config(default_config_path(settings), config)
        key, api_key = "sk-" + secrets.token_hex(24), secrets.token_urlsafe(24)
        gateway_port, api_port = _free_port(), _free_port()
        gateway = GatewayProcess(
            path,
            port=gateway_port,
            log_path=path.parent / "litellm.log",
            settings=settings,
            env={"LITELLM_MASTER_KEY": key, "COMETAPI_KEY": "bench", "FAL_KEY": "bench"},
        )
        with gateway:
            api_env = {**env, "LITELLM_MASTER_KEY": key, "MPC_API_KEY": api_key,
                       "MPC_GATEWAY_URL": gateway.url,
                       "MPC_API_URL": f"http://127.0.0.1:{api_port}"}  # fmt: skip
            apis = {
                MPC_API: (subprocess.Popen(
                    [sys.executable, *python_args, "-m", "mpc_lib.cli", "api", "serve"],
                    env=api_env, stdout=subprocess.DEVNULL,
                ), api_port),
            }  # fmt: skip
            if compared is not None:  # its own port; its mpc_lib first on the path
                port = _free_port()
                compared_env = {**api_env, "MPC_API_URL": f"http://127.0.0.1:{port}",
                                "PYTHONPATH": str(compared)}  # fmt: skip
                apis[COMPARED] = (subprocess.Popen(
                    [sys.executable, "-m", "mpc_lib.cli", "api", "serve"], env=compared_env,
                    stdout=subprocess.DEVNULL, cwd=compared,
                ), port)  # fmt: skip
            try:
                for _api, port in apis.values():
                    _wait(f"http://127.0.0.1:{port}/health/liveliness")
                targets = {
                    UPSTREAM: (f"{upstream}/v1/chat/completions", "bench"),
                    LITELLM: (f"{gateway.url}/v1/chat/completions", key),
                }
                pids = {UPSTREAM: upstream_pid, LITELLM: gateway.pid or 0}
                for name, (api, port) in apis.items():
                    targets[name] = (f"http://127.0.0.1:{port}/v1/chat/completions", api_key)
                    pids[name] = api.pid
                yield targets, pids
            finally:
                # SIGINT: uvicorn re-raises the signal that stopped it, and a KeyboardInterrupt
                # (unlike SIGTERM) still lets a profiler write its file
                for api, _port in apis.values():
                    api.send_signal(signal.SIGINT)
                for api, _port in apis.values():
                    api.wait(30)


def run(
    targets: Targets,
    pids: dict[str, int],
    requests: int,
    concurrency: int,
    stream: bool,
    block: int,
) -> dict[str, dict[str, float]]:
    """`requests` chats per target at `concurrency`, one pooled client per worker and target,
    the targets taking turns in blocks of `block` requests.  Per target: latencies to the
    end, its throughput over its own blocks, and the CPU time its server spent in them per
    request (NaN when it cannot be read)."""
    body = {**BODY, "stream": stream}
    clients = {
        name: [httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60)
               for _ in range(concurrency)]
        for name, (_url, key) in targets.items()
    }  # fmt: skip

    def one(name: str, index: int) -> float:
        client, url = clients[name][index % concurrency], targets[name][0]
        started = time.perf_counter()
        if stream:
            with client.stream("POST", url, json=body) as answer:
                last = b""
                for chunk in answer.iter_bytes():
                    last = chunk or last
                assert answer.status_code == 200 and b"[DONE]" in last, (answer.status_code, last)
        else:
            answer = client.post(url, json=body)
            assert answer.status_code == 200 and b'"choices"' in answer.content, answer.text
        return (time.perf_counter() - started) * 1000

    names = list(targets)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    with ThreadPoolExecutor(concurrency) as pool:
        for name in names:  # warm-up: connections, caches
            list(pool.map(partial(one, name), range(concurrency * 3)))
        for turn, start in enumerate(range(0, requests, block)):
            size = min(block, requests - start)
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                cpu_before = cpu_ms(pids[name])
                started = time.perf_counter()
                latencies[name] += pool.map(partial(one, name), range(size))
                wall[name] += time.perf_counter() - started
                cpu_after = cpu_ms(pids[name])
                if cpu_before is None or cpu_after is None:
                    cpu[name] = math.nan
                else:
                    cpu[name] += cpu_after - cpu_before
    for pooled in clients.values():
        for client in pooled:
            client.close()
    result = {}
    for name in names:
        ordered = sorted(latencies[name])
        result[name] = {
            "median": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
            "rps": requests / wall[name],
            "cpu": cpu[name] / requests,
        }
    return result


def _spread(values: list[float], best: Callable[[list[float]], float]) -> str:
    """'median (best)' over the repeats."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({best(values):.1f})"


def report(stream: bool, concurrency: int, runs: list[dict[str, dict[str, float]]]) -> bool:
    """Print one mode at one concurrency; whether MPC-API met the target (median of repeats)."""
    print(f"\n{'streamed' if stream else 'plain'}, concurrency {concurrency} "
          "(CPU: the named server's own, per request):")  # fmt: skip
    for name in runs[0]:
        mine = [r[name] for r in runs]
        print(f"  {name:<20} median {_spread([m['median'] for m in mine], min):>13} ms  "
              f"p95 {_spread([m['p95'] for m in mine], min):>13} ms  "
              f"{_spread([m['rps'] for m in mine], max):>15} req/s  "
              f"CPU {_spread([m['cpu'] for m in mine], min):>11} ms/req")  # fmt: skip
    lite_adds = [r[LITELLM]["median"] - r[UPSTREAM]["median"] for r in runs]
    ours_adds = [r[MPC_API]["median"] - r[LITELLM]["median"] for r in runs]
    kept = [100 * r[MPC_API]["rps"] / r[LITELLM]["rps"] for r in runs]
    added, share = statistics.median(ours_adds), statistics.median(kept)
    met = added <= TARGET_ADDED_MS and share >= 100 * TARGET_KEPT
    print(f"  LiteLLM adds {_spread(lite_adds, min)} ms to the median; MPC-API adds "
          f"{_spread(ours_adds, min)} ms more and keeps {_spread(kept, max)}% of LiteLLM's "
          f"throughput -> {'meets' if met else 'misses'} the target "
          f"(<= {TARGET_ADDED_MS:g} ms, >= {100 * TARGET_KEPT:.0f}%)")  # fmt: skip
    if COMPARED in runs[0]:
        adds = [r[COMPARED]["median"] - r[LITELLM]["median"] for r in runs]
        kept = [100 * r[COMPARED]["rps"] / r[LITELLM]["rps"] for r in runs]
        print(f"  the compared MPC-API adds {_spread(adds, min)} ms and keeps "
              f"{_spread(kept, max)}% of LiteLLM's throughput")  # fmt: skip
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per target and run")
    parser.add_argument("--block", type=int, default=40, help="requests per target and turn")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated levels")
    parser.add_argument("--repeat", type=int, default=3, help="runs per target, paired")
    parser.add_argument("--profile-api", metavar="FILE", help="run MPC-API under cProfile")
    parser.add_argument(
        "--compare-api", metavar="DIR", type=Path, help="also serve MPC-API from this tree"
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    servers = {name: "yes" if importlib.util.find_spec(name) else "no"
               for name in ("httptools", "uvloop")}  # fmt: skip
    print(f"{args.requests} requests per target and run in turns of {args.block}, "
          f"{args.repeat} repeat(s), model {MODEL}; "
          f"{os.cpu_count()} cores shared by client, servers and upstream; "
          f"httptools {servers['httptools']}, uvloop {servers['uvloop']}")  # fmt: skip
    if args.repeat > 1:
        print("figures: median over the repeats (best in brackets)")
    profiler = ("-m", "cProfile", "-o", args.profile_api) if args.profile_api else ()
    if args.compare_api is not None:
        print(f"compared MPC-API: mpc_lib from {args.compare_api}")
    with stack(profiler, args.compare_api) as (targets, pids):
        runs: dict[tuple[bool, int], list[dict[str, dict[str, float]]]] = {}
        for _repeat in range(args.repeat):
            for stream in (False, True):
                for level in levels:
                    one = run(targets, pids, args.requests, level, stream, args.block)
                    runs.setdefault((stream, level), []).append(one)
        met = [report(stream, level, runs[stream, level]) for stream, level in sorted(runs)]
    print(f"\ntarget met in {sum(met)} of {len(met)} cases")
    if args.profile_api:  # written when MPC-API exits
        print(f"MPC-API's profile (under cProfile, so slower): {args.profile_api}")


if __name__ == "__main__":
    main()
