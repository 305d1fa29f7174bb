"""Catalog sync speed against the sandbox with added latency per request.

The emulators run in their own process (`mpc sandbox serve`), as a remote API
would, so they do not share this process's GIL.  Both runs talk to them over loopback:
- baseline: the plain sequential walk (FAL page after page, then price batch
  after price batch, then Comet's two calls), fetch only;
- ours: `sync_catalog` (FAL pages ahead, prices as ids arrive, both providers at
  once), including normalise + diff + atomic writes.

Prints wall times (best and median of --repeat runs), the ratio of the bests, and
the CPU time of the normalise + diff + write phase.  The first sync of a run has no
previous registry to size its look-ahead from; it is reported on its own line (cold),
and the repeats after it are the steady state an operator sees every day.
Usage: python bench/sync_bench.py [--latency-ms 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from emulators import Emulators, serve

from mpc_lib.catalog import CometClient, FalClient, sync_catalog
from mpc_lib.config import DEFAULT_CONCURRENCY, Secret, Settings
from mpc_lib.upstreams import open_upstreams


def sequential_baseline(emulators: Emulators, settings: Settings) -> tuple[float, int]:
    """Seconds and models for the one-request-at-a-time walk."""
    started = time.perf_counter()
    with FalClient(emulators.fal_url, settings.key_for("fal"), settings=settings) as fal:
        models = fal.list_models_sequential()
        prices = fal.get_all_prices([m.endpoint_id for m in models])
    with CometClient(emulators.comet_url, settings.key_for("comet"), settings=settings) as comet:
        comet_models = comet.list_models()
        comet.list_catalog()
    elapsed = time.perf_counter() - started
    assert prices, "baseline fetched no prices"
    return elapsed, len(models) + len(comet_models)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args()

    with serve(args.latency_ms) as emulators, tempfile.TemporaryDirectory() as tmp:
        cold = None
        settings = Settings(
            fal_key=Secret("bench-fal-key"),
            comet_key=Secret("bench-comet-key"),
            fal_base_url=emulators.fal_url,
            comet_base_url=emulators.comet_url,
            outputs_dir=Path(tmp),
            concurrency=args.concurrency,
        )
        base_times, ours_times, cpu_times, base_requests, our_requests = [], [], [], 0, 0
        models = 0
        for index in range(args.repeat + 1):
            before = emulators.request_count()
            seconds, models = sequential_baseline(emulators, settings)
            base_times.append(seconds)
            base_requests = emulators.request_count() - before - 1  # less the count call

            before = emulators.request_count()
            started = time.perf_counter()
            with open_upstreams(settings) as upstreams:  # live keys: nothing starts
                report = sync_catalog(settings, upstreams)
            elapsed = time.perf_counter() - started
            if index == 0:
                cold = elapsed  # no previous registry yet
                base_times.pop()
                continue
            ours_times.append(elapsed)
            our_requests = emulators.request_count() - before - 1
            cpu_times.append(report.timings["process_cpu_s"])
            assert sum(report.counts.values()) == models, (report.counts, models)

    base, ours = min(base_times), min(ours_times)
    print(
        f"sandbox latency {args.latency_ms:.0f} ms/request, {models} models, "
        f"concurrency {args.concurrency}, best of {args.repeat}"
    )
    print(
        f"baseline (sequential): {base:.3f} s  (median {statistics.median(base_times):.3f} s, "
        f"{base_requests} requests)"
    )
    print(
        f"sync_catalog:          {ours:.3f} s  (median {statistics.median(ours_times):.3f} s, "
        f"{our_requests} requests, incl. normalise+diff+write)"
    )
    print(f"sync_catalog, cold:    {cold:.3f} s  (first sync: no previous registry)")
    print(f"speed-up:              {base / ours:.1f}x")
    print(f"normalise+diff+write:  {statistics.median(cpu_times) * 1000:.0f} ms CPU")


if __name__ == "__main__":
    main()
