"""`mpc pricing` speed on a 1.4k-model registry with 30 snapshots.

Builds a throwaway workbook: one sandbox sync (about 1,430 models), then 29 more
snapshots a day apart in which about 2% of prices move and a few models come and go,
as a month of daily syncs would leave it.  Then, in the same run:
- each `mpc pricing` command as a user runs it (a fresh `python -m mpc_lib.cli`
  process; median of --repeat runs), against the process start-up floor (`mpc --help`);
- history and changes in-process, against the bare minimum (parse every snapshot whole
  with `load_registry`, look the model up / compare the records), so the ratio shows what
  PricePoint, the timeline and the report cost on top of parsing.

Target: every command answers in under 1 s.  Usage: python bench/pricing_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mpc_lib.catalog import sync_catalog
from mpc_lib.config import Settings
from mpc_lib.pricing import (
    cheapest_models,
    estimate_job_mix,
    gateway_drift,
    load_price_book,
    price_changes,
    price_history,
    write_cost_overrides,
)
from mpc_lib.registry import RegistryStore, diff_registries, load_registry
from mpc_lib.upstreams import open_upstreams

SNAPSHOTS = 30


def _checked_estimate(settings: Settings) -> str:
    """What `mpc pricing estimate` does: FAL through the seam (the sandbox, started here)."""
    with open_upstreams(settings, ("fal",)) as upstreams:
        return estimate_job_mix(settings, upstreams=upstreams).summary()


def build_workbook(root: Path, seed: int = 7) -> tuple[Settings, str]:
    """A sandbox sync plus 29 perturbed daily snapshots; returns settings and a moved model id."""
    settings = Settings(outputs_dir=root / "outputs", source="sandbox", snapshot_keep=SNAPSHOTS)
    with open_upstreams(settings) as upstreams:
        sync_catalog(settings, upstreams)
    store = RegistryStore(settings.outputs_dir, keep=SNAPSHOTS)
    current = store.load()
    assert current is not None
    rng = random.Random(seed)
    start = datetime.now(UTC)
    watched = next(m for m in current["models"] if m["pricing"])["model_id"]
    removed: list[dict[str, Any]] = []
    for day in range(1, SNAPSHOTS):
        models = json.loads(json.dumps(current["models"]))
        for model in models:
            pricing = model["pricing"]
            moves = model["model_id"] == watched and day % 7 == 0
            if pricing and pricing.get("unit_price") and (moves or rng.random() < 0.02):
                pricing["unit_price"] = round(pricing["unit_price"] * rng.uniform(0.7, 1.3), 6)
        if removed:
            models.append(removed.pop())  # a model comes back
        removed.append(models.pop(rng.randrange(len(models))))
        models.sort(key=lambda m: (m["provider"], m["model_id"]))
        moment = start + timedelta(days=day)
        nxt = {
            **current,
            "generated_at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "models": models,
        }
        store.commit(nxt, diff_registries(current["models"], models), moment=moment)
        current = nxt
    assert len(store.snapshots()) == SNAPSHOTS
    return settings, watched


def write_drift(book: Any, out: Path) -> Any:
    """What `mpc pricing drift` does: compare, then write the overrides."""
    report = gateway_drift(book)
    return report.with_overrides_path(write_cost_overrides(report, out))


def walls(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def median_wall(fn: Callable[[], Any], repeat: int) -> float:
    return statistics.median(walls(fn, repeat))


def cli(args: list[str], outputs: Path, pycache: Path) -> Callable[[], None]:
    """One `mpc ...` run in a fresh process, as a user starts it.

    Bytecode is cached (in `pycache`), as any normal install has it; a shell with
    PYTHONDONTWRITEBYTECODE=1 recompiles mpc_lib on every start instead.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MPC_", "FAL_", "COMET"))}
    clean.pop("PYTHONDONTWRITEBYTECODE", None)
    env = {**clean, "MPC_OUTPUTS_DIR": str(outputs), "MPC_SOURCE": "sandbox",
           "PYTHONPYCACHEPREFIX": str(pycache)}  # fmt: skip

    def run() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "mpc_lib.cli", *args],
            env=env, cwd=outputs.parent, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"mpc {' '.join(args)} failed ({done.returncode}): {done.stderr}")

    return run


def bare_history(snapshots: list[Path], model_id: str) -> list[Any]:
    """Every snapshot parsed whole, then the one model looked up."""
    found = []
    for path in snapshots:
        registry = load_registry(path)
        found.append(
            next((m["pricing"] for m in registry["models"] if m["model_id"] == model_id), None)
        )
    return found


def bare_changes(snapshots: list[Path]) -> int:
    """Every snapshot parsed whole, every consecutive pair compared model by model."""
    changed = 0
    previous = None
    for path in snapshots:
        models = {
            (m["provider"], m["model_id"]): m.get("pricing") for m in load_registry(path)["models"]
        }
        if previous is not None:
            changed += sum(
                1 for key in previous.keys() | models.keys() if previous.get(key) != models.get(key)
            )
        previous = models
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpc-pricing-bench-") as tmp:
        root = Path(tmp)
        settings, watched = build_workbook(root)
        store = RegistryStore(settings.outputs_dir)
        snapshots = store.snapshots()
        registry = store.load() or {}
        size_mb = statistics.mean(p.stat().st_size for p in snapshots) / 1e6
        print(f"registry: {len(registry.get('models', []))} models, {len(snapshots)} snapshots "
              f"({size_mb:.1f} MB each); {args.repeat} run(s) per figure, median")  # fmt: skip

        outputs = settings.outputs_dir
        oldest = snapshots[0].name
        book = lambda: load_price_book(settings)  # noqa: E731 - each run reads the registry
        drift_out = root / "overrides.yaml"
        commands: list[tuple[str, list[str], Callable[[], Any] | None]] = [
            ("--help (start-up floor)", ["--help"], None),
            ("pricing estimate  (+ FAL check)", ["pricing", "estimate"],
             lambda: _checked_estimate(settings)),
            ("pricing estimate --no-check", ["pricing", "estimate", "--no-check"],
             lambda: estimate_job_mix(settings).summary()),
            ("pricing cheapest", ["pricing", "cheapest"],
             lambda: cheapest_models(book()).summary()),
            ("pricing cheapest --category llm --json",
             ["pricing", "cheapest", "--category", "llm", "--json"],
             lambda: json.dumps(
                 cheapest_models(book(), categories=["llm"]).model_dump(mode="json"))),
            ("pricing history MODEL", ["pricing", "history", watched],
             lambda: price_history(settings, watched).summary()),
            ("pricing changes  (last sync)", ["pricing", "changes"],
             lambda: price_changes(settings).summary()),
            ("pricing changes --since OLDEST --json",
             ["pricing", "changes", "--since", oldest, "--json"],
             lambda: json.dumps(price_changes(settings, oldest).model_dump(mode="json"))),
            ("pricing drift --json  (+ overrides)", ["pricing", "drift", "--json"],
             lambda: json.dumps(write_drift(book(), drift_out).model_dump(mode="json"))),
        ]  # fmt: skip
        pycache = root / "pycache"
        cli(["--help"], outputs, pycache)()  # fill the bytecode cache once
        # On a shared machine the median carries other people's load; the best run is
        # what the command costs when it has a core to itself.
        print(
            "\n" + f"{'command':<42} {'fresh process: median':>22} {'best':>7} {'in-process':>11}"
        )
        worst = worst_best = 0.0
        for label, argv, call in commands:
            runs = walls(cli(argv, outputs, pycache), args.repeat)
            wall, best = statistics.median(runs), min(runs)
            inside = f"{median_wall(call, args.repeat) * 1000:8.1f} ms" if call else ""
            if call is not None:
                worst, worst_best = max(worst, wall), max(worst_best, best)
            print(f"mpc {label:<38} {wall:20.3f} s {best:6.3f} s {inside:>11}")
        verdict = "OK" if worst < 1 else "SLOW"
        print(f"slowest pricing command: median {worst:.3f} s, best {worst_best:.3f} s "
              f"(target < 1 s): {verdict}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip

        print("\nin-process, against parsing every snapshot whole and nothing more:")
        pairs = [
            ("history of one model", lambda: price_history(settings, watched),
             lambda: bare_history(snapshots, watched)),
            (f"changes over {len(snapshots)}", lambda: price_changes(settings, oldest),
             lambda: bare_changes(snapshots)),
        ]  # fmt: skip
        for label, ours_fn, bare_fn in pairs:
            ours, bare = median_wall(ours_fn, args.repeat), median_wall(bare_fn, args.repeat)
            print(f"  {label:<22} ours {ours * 1000:7.1f} ms   bare {bare * 1000:7.1f} ms   "
                  f"{ours / bare:5.2f}x the bare parse")  # fmt: skip
        found = price_changes(settings, oldest)
        print(f"  ({len(found.changes)} models changed price over the month; {found.reverted} "
              "changed and back)")  # fmt: skip


if __name__ == "__main__":
    main()
