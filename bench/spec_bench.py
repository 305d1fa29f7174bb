"""How fast the OpenAPI gate answers on a big spec: load, each stage, and `mpc spec check`.

The spec is the hub's own, its operations copied under numbered prefixes (each copy
served by its own host) until the file passes --megabytes (10 MB by default), as a hub
merging many services would grow.
Prints the size, the median time of each stage over --repeat runs, and the wall
time of the whole `mpc spec check --data none` command.

Usage: python bench/spec_bench.py [--megabytes 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mpc_lib.spec import check_upstream, lint_spec, load_spec, validate_spec

HUB_SPEC = Path(__file__).resolve().parents[1] / "openapi" / "api-hub.oas.json"


def grown_spec(megabytes: float) -> dict[str, Any]:
    """The hub spec with its operations copied under /copy<N> until it is big enough."""
    hub = json.loads(HUB_SPEC.read_text(encoding="utf-8"))
    spec = copy.deepcopy(hub)
    number = 0
    while len(json.dumps(spec, indent=1)) < megabytes * 1024 * 1024:
        for path, item in hub["paths"].items():
            clone = copy.deepcopy(item)
            clone["servers"] = [{"url": f"https://service{number}.example.com"}]
            for op in clone.values():
                if isinstance(op, dict) and "operationId" in op:
                    op["operationId"] = f"{op['operationId']}Copy{number}"
            spec["paths"][f"/copy{number}{path}"] = clone
        number += 1
    return spec


def median_s(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.oas.json"
        path.write_text(json.dumps(grown_spec(args.megabytes), indent=1), encoding="utf-8")
        size = path.stat().st_size
        document = load_spec(path)
        print(f"{path.name}: {size / 1e6:.1f} MB, {len(document.data['paths'])} paths")
        print(f"load:     {median_s(lambda: load_spec(path), args.repeat):.2f} s")
        for stage in (validate_spec, lint_spec, check_upstream):
            seconds = median_s(lambda stage=stage: stage(load_spec(path)), args.repeat)
            print(f"{stage.__name__ + ':':<15} {seconds:.2f} s (load included)")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "mpc_lib.cli", "spec", "check", str(path), "--data", "none",
             "--json"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
        verdict = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"mpc spec check (whole command): {wall:.2f} s, exit {done.returncode},"
              f" passed={verdict['passed']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
