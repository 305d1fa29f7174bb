"""What openapi-spec-validator (as shipped) costs per spec, against our lint of the same spec.

The specs: the hub's own (openapi/api-hub.oas.json), the old hub's and FAL's published spec
from ../shared/seed-data (skipped when absent), the hub grown to --megabytes the way
bench/spec_bench.py grows it, and the synthetic spec of tests/spec/test_spec_big_spec.py at
--megabytes.  For each: the median time, over --repeat runs, of `load_spec`, of `lint_spec`
(the baseline: the gate's own walk over every operation and schema) and of the gate's
validator step (`run_validator`: every error of the stock validator, as findings), and the
ratio validator / lint.

Before the validator ran as shipped, a patched walk did this step; on the same specs it
was 1.1x, 1.1x, 5x, 2.3x and 33x faster (the last: 60 s -> 1.8 s at 10 MB), which the
commit that dropped it records.

Usage: python bench/validator_bench.py [--megabytes 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from spec_bench import grown_spec, median_s

from mpc_lib.spec import lint_spec, load_spec
from mpc_lib.spec._oas_validator import run_validator

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seed-data"
sys.path.insert(0, str(ROOT / "tests" / "spec"))
from test_spec_big_spec import big_spec  # noqa: E402  (the test's own generator, not a twin)


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
        run_validator(load_spec(specs[0]), set())  # warm (imports, meta-schemas) before timing
        print(f"{'spec':<28} {'MB':>6} {'load s':>7} {'lint s':>7} {'validator s':>12}"
              f" {'validator/lint':>15}")  # fmt: skip
        for path in specs:
            load_s = median_s(lambda p=path: load_spec(p), args.repeat)
            document = load_spec(path)
            lint_s = median_s(lambda d=document: lint_spec(d), args.repeat)
            validator_s = median_s(lambda d=document: run_validator(d, set()), args.repeat)
            print(f"{path.name:<28} {path.stat().st_size / 1e6:>6.2f} {load_s:>7.3f} {lint_s:>7.2f}"
                  f" {validator_s:>12.2f} {validator_s / lint_s:>14.1f}x", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
