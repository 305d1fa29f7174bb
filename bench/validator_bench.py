"""openapi-spec-validator as shipped vs our patched walk (spec/_oas_validator.py), per spec.

The specs: the hub's own (openapi/api-hub.oas.json), the old hub's and FAL's published spec
from ../shared/seed-data (skipped when absent), the hub grown to --megabytes the way
bench/spec_bench.py grows it, and the synthetic spec of tests/spec/test_spec_big_spec.py at
--megabytes.  For each: the median time of a full error listing by the stock validator and by
the patched one, over --repeat runs, and the ratio stock / patched (above 1: the patch is
faster).

Usage: python bench/validator_bench.py [--megabytes 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from spec_bench import grown_spec

from mpc_lib.spec import SpecDocument, load_spec
from mpc_lib.spec._oas_validator import run_validator

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seed-data"
sys.path.insert(0, str(ROOT / "tests" / "spec"))
from test_spec_big_spec import big_spec  # noqa: E402  (the test's own generator, not a twin)


def median_s(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def stock(document: SpecDocument) -> list[Any]:
    """Every error openapi-spec-validator reports, called as its README shows."""
    cls = OpenAPIV30SpecValidator if document.minor == "3.0" else OpenAPIV31SpecValidator
    return list(cls(document.data).iter_errors())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        specs = [ROOT / "openapi" / "api-hub.oas.json"]
        specs += [p for p in (SEED / "api-hub.oas.json", SEED / "fal_platform_openapi.json")
                  if p.is_file()]  # fmt: skip
        for name, spec in (
            (f"hub-grown-{args.megabytes:g}mb.json", grown_spec(args.megabytes)),
            (f"synthetic-{args.megabytes:g}mb.json", big_spec(int(args.megabytes * 1024**2))),
        ):
            path = Path(folder) / name
            path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
            specs.append(path)
        print(f"{'spec':<28} {'MB':>6} {'stock s':>8} {'patched s':>10} {'stock/patched':>14}")
        hub = load_spec(specs[0])
        stock(hub)  # warm both (imports, meta-schema compilation) before timing anything
        run_validator(hub, set())
        for path in specs:
            document = load_spec(path)
            stock_s = median_s(lambda d=document: stock(d), args.repeat)
            patched_s = median_s(lambda d=document: run_validator(d, set()), args.repeat)
            print(f"{path.name:<28} {path.stat().st_size / 1e6:>6.2f} {stock_s:>8.2f}"
                  f" {patched_s:>10.2f} {stock_s / patched_s:>13.1f}x", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
