"""`mpc health` speed: all checks at once against one at a time, healthy and with a hung check.

The emulators run in their own process with added latency per request.  Both runs
use the same settings and registry:
- baseline: each check run on its own, one after the other (what a script that
  probes in turn costs);
- ours: `run_health`, every check at once, each bounded by the timeout.
Then one provider hangs (a latency fault far beyond the timeout): the concurrent run
costs about one timeout, where checks in turn would pay it once per hung check.
Usage: python bench/health_bench.py [--latency-ms 100] [--timeout 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from emulators import serve

from mpc_lib.catalog import sync_catalog
from mpc_lib.config import Secret, Settings
from mpc_lib.health import CHECKS, run_health
from mpc_lib.upstreams import open_upstreams


def _best(runs: int, action: object) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with serve(args.latency_ms) as emulators, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            fal_key=Secret("bench-fal-key"), comet_key=Secret("bench-comet-key"),
            fal_base_url=emulators.fal_url, comet_base_url=emulators.comet_url,
            outputs_dir=Path(tmp),
        )  # fmt: skip
        upstreams = open_upstreams(settings)  # live keys on the emulators: nothing starts
        sync_catalog(settings, upstreams)

        def in_turn() -> None:
            for check in CHECKS:
                run_health(
                    settings, upstreams, checks=[check], history=False, timeout_s=args.timeout
                )

        def at_once() -> None:
            report = run_health(settings, upstreams, history=False, timeout_s=args.timeout)
            assert report.status == "ok", [(r.check, r.reason) for r in report.rows]

        base, base_median = _best(args.repeat, in_turn)
        ours, ours_median = _best(args.repeat, at_once)

        fault = {"kind": "latency", "provider": "comet", "latency_ms": 30_000, "times": None}
        httpx.post(f"{emulators.comet_url}/_sandbox/faults", json=fault).raise_for_status()
        hung, _ = _best(
            1, lambda: run_health(settings, upstreams, history=False, timeout_s=args.timeout)
        )
        hung_checks = sum(check.name.startswith("comet.") for check in CHECKS)

    print(
        f"sandbox latency {args.latency_ms:.0f} ms/request, {len(CHECKS)} checks, "
        f"timeout {args.timeout:g} s, best of {args.repeat}"
    )
    print(f"baseline (checks in turn): {base:.3f} s  (median {base_median:.3f} s)")
    print(f"run_health (at once):      {ours:.3f} s  (median {ours_median:.3f} s)")
    print(f"speed-up:                  {base / ours:.1f}x")
    print(
        f"with comet hung:           {hung:.3f} s  (in turn it would pay the "
        f"{args.timeout:g} s timeout {hung_checks}x: >= {hung_checks * args.timeout:.1f} s)"
    )


if __name__ == "__main__":
    main()
