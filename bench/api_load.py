"""Bounded load through MPC-API against LiteLLM direct, in one run (issue 17).

The same processes as `gateway_bench.py` (the sandbox's OpenAI-compatible upstream,
LiteLLM, `mpc api serve` with a bearer key, each its own process).  At each concurrency
(`--concurrency`, default 1, 8, 32, 64), plain and streamed, each target gets `--requests`
chats from that many client threads, the two targets taking turns; the report gives per
cell the throughput, p50 and p99 of the time to the whole answer, the errors (anything
but a 200 with a whole body), and MPC-API's RSS before and after the run.  `--soak S`
then keeps MPC-API at the highest concurrency, streams and plain calls alternating, for
S seconds (180 for the README's soak), and reports its RSS before and after.

Usage: python bench/api_load.py [--requests 400] [--concurrency 1,8,32,64] [--soak 180]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
from gateway_bench import BODY, LITELLM, MPC_API, stack

TARGETS = (LITELLM, MPC_API)


def _one(client: httpx.Client, url: str, stream: bool) -> float | None:
    """Seconds to the whole answer, or None for an error."""
    body = {**BODY, "stream": True} if stream else BODY
    started = time.perf_counter()
    try:
        if stream:
            with client.stream("POST", url, json=body) as answer:
                done = any(line == "data: [DONE]" for line in answer.iter_lines())
                ok = answer.status_code == 200 and done
        else:
            answer = client.post(url, json=body)
            ok = answer.status_code == 200 and bool(answer.json().get("choices"))
    except (httpx.HTTPError, ValueError):
        return None
    return time.perf_counter() - started if ok else None


def load(url: str, key: str, concurrency: int, requests: int, stream: bool) -> dict[str, float]:
    """`requests` chats from `concurrency` threads: throughput, p50/p99 (ms) and errors."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(headers=headers, timeout=60, limits=limits) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        started = time.perf_counter()
        times = list(pool.map(lambda _: _one(client, url, stream), range(requests)))
        wall = time.perf_counter() - started
    good = sorted(t for t in times if t is not None)
    quantiles = statistics.quantiles(good, n=100) if len(good) > 1 else good * 99
    return {
        "rps": len(good) / wall,
        "p50_ms": statistics.median(good) * 1000 if good else float("nan"),
        "p99_ms": quantiles[98] * 1000 if good else float("nan"),
        "errors": float(len(times) - len(good)),
    }


def soak(url: str, key: str, concurrency: int, seconds: float, pid: int) -> None:
    """Streams and plain calls alternating at `concurrency` for `seconds`; RSS before/after."""
    rss = psutil.Process(pid).memory_info().rss
    stop = time.monotonic() + seconds
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {key}"}

    def worker(index: int) -> None:
        with httpx.Client(headers=headers, timeout=60) as client:
            stream = bool(index % 2)
            while time.monotonic() < stop:
                ok = _one(client, url, stream) is not None
                with lock:
                    counts["ok" if ok else "errors"] += 1
                stream = not stream

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = psutil.Process(pid).memory_info().rss
    print(f"\nsoak: {seconds:.0f} s at c={concurrency}: {counts['ok']} calls, "
          f"{counts['errors']} errors; MPC-API RSS {rss / 2**20:.0f} -> "
          f"{after / 2**20:.0f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds (0: no soak)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    with stack() as (targets, pids):
        api = psutil.Process(pids[MPC_API])
        for name in TARGETS:  # warm-up: each code path once
            for stream in (False, True):
                load(targets[name][0], targets[name][1], 2, 20, stream)
        rss_before = api.memory_info().rss
        print(f"{'mode':<9}{'c':>4}  {'target':<20}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'errors':>8}")  # fmt: skip
        for stream in (False, True):
            for concurrency in levels:
                order = TARGETS if concurrency % 2 else TARGETS[::-1]  # turns alternate
                for name in order:
                    url, key = targets[name]
                    cell = load(url, key, concurrency, args.requests, stream)
                    print(f"{'streamed' if stream else 'plain':<9}{concurrency:>4}  {name:<20}"
                          f"{cell['rps']:>8.0f}{cell['p50_ms']:>9.1f}{cell['p99_ms']:>9.1f}"
                          f"{cell['errors']:>8.0f}", flush=True)  # fmt: skip
        rss_after = api.memory_info().rss
        print(f"\nMPC-API RSS: {rss_before / 2**20:.0f} MB before the load, "
              f"{rss_after / 2**20:.0f} MB after")  # fmt: skip
        if args.soak:
            url, key = targets[MPC_API]
            soak(url, key, max(levels), args.soak, pids[MPC_API])


if __name__ == "__main__":
    main()
