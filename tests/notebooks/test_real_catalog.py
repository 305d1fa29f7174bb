"""The shipped examples and every notebook's defaults work on the real 2025 catalog and on the
sandbox: the ids they name exist in both, and on a registry synced from the real catalog (the
../shared seed snapshot, served by the sandbox: no network) `mpc pricing estimate` and every
workbook notebook succeed.

The gateway notebook has no run here: it needs a LiteLLM on that registry, and the one the
session shares serves the sandbox's.  What it depends on is covered all the same: its
defaults name no model (it tries the first chat model the gateway serves), the stack_bringup
run below starts a real LiteLLM and MPC-API on the real catalog's registry and chats through
them, and `test_the_gateway_config_of_the_real_catalog_serves_every_alias` checks that
config offline.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import mpc
from workbook import NOTEBOOKS_DIR, REPO_ROOT, WORKBOOK, HeadlessRun

from mpc_lib.aliases import load_aliases
from mpc_lib.config import Settings
from mpc_lib.gateway.config import GatewaySelection, write_live_config
from mpc_lib.pricing import example_job_mix, load_job_mix
from mpc_lib.registry import RegistryStore
from mpc_lib.runs import declared_parameters
from mpc_lib.sandbox import SandboxData

SEED = REPO_ROOT.parent / "shared" / "seed-data" / "model_registry.json"  # the real catalog
# Every workbook notebook but the one that needs the session's gateway (see the docstring).
REAL_RUNS = sorted(name for name, case in WORKBOOK.items() if "gateway" not in case.needs)


def _catalogs(seed_registry: Path) -> dict[str, dict[str, set[str]]]:
    """provider -> {"real": ids in the seed snapshot, "sandbox": ids the sandbox generates}."""
    records = json.loads(seed_registry.read_text(encoding="utf-8"))
    data = SandboxData.generate()
    return {
        "fal": {
            "real": {r["id"] for r in records if r["source"] == "fal"},
            "sandbox": {m["endpoint_id"] for m in data.fal_models},
        },
        "comet": {
            "real": {r["id"] for r in records if r["source"] == "comet"},
            "sandbox": {m["id"] for m in data.comet_models},
        },
    }


def _readme_models() -> set[str]:
    """The model ids README.md's examples name: `model: ID` lines and `provider:ID` keys."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"^\s*-?\s*model: ([\w./-]+)", text, flags=re.MULTILINE))
    named |= {f"{p}:{i}" for p, i in re.findall(r"\b(fal|comet):([a-z][\w./-]*\w)", text)}
    return named


def test_the_examples_name_ids_that_exist_in_both_catalogs(seed_registry: Path) -> None:
    catalogs = _catalogs(seed_registry)
    mix = [line.model for line in load_job_mix(example_job_mix()).lines]
    aliases = [key for alias in load_aliases().aliases.values() for key in alias.models]
    readme = sorted(_readme_models())
    assert "fal-ai/flux/dev" in readme and "comet:gpt-4o" in readme  # the regexes still match
    for model in [*mix, *aliases, *readme]:
        provider, _, model_id = model.partition(":") if ":" in model else ("", "", model)
        real = [name for name in catalogs if model_id in catalogs[name]["real"]]
        providers = [provider] if provider else real
        assert providers, f"{model}: not in the real 2025 catalog"
        for name in providers:
            for world, ids in catalogs[name].items():
                assert model_id in ids, f"{model}: not in the {world} catalog of {name}"


def test_the_notebook_defaults_name_categories_of_both_catalogs(seed_registry: Path) -> None:
    records = json.loads(seed_registry.read_text(encoding="utf-8"))
    real = {r["category"] for r in records if r["category"]}
    sandbox = {m["metadata"]["category"] for m in SandboxData.generate().fal_models}
    categories = declared_parameters(NOTEBOOKS_DIR / "pricing_analysis.ipynb")["categories"]
    assert categories.default and set(categories.default) <= real & sandbox  # type: ignore[arg-type]


def _workbook(real_catalog: Path, tmp_path: Path) -> dict[str, str]:
    """A copy of the real catalog's registry, and the variables that reach it offline."""
    outputs = tmp_path / "outputs"
    shutil.copytree(real_catalog, outputs)
    return {
        "MPC_SOURCE": "sandbox",
        "MPC_SANDBOX_SNAPSHOT": str(SEED),
        "MPC_OUTPUTS_DIR": str(outputs),
    }


def test_pricing_estimate_of_the_shipped_mix_on_the_real_catalog(
    real_catalog: Path, tmp_path: Path
) -> None:
    env = _workbook(real_catalog, tmp_path)
    done = mpc("pricing", "estimate", "--json", env=env)
    assert done.returncode == 0, done.stderr
    estimate = json.loads(done.stdout.splitlines()[-1])
    mix = load_job_mix(example_job_mix())
    assert [line["model_id"] for line in estimate["lines"]] == [
        line.model.split(":", 1)[-1] for line in mix.lines
    ]
    assert estimate["complete"] and estimate["missing"] == []
    assert all(line["cost"] > 0 for line in estimate["lines"])
    assert [c["status"] for c in estimate["checks"]] == ["agree", "agree"]
    # the prices are the sandbox's, made up over the real catalog's ids, and say so
    assert env["MPC_SANDBOX_SNAPSHOT"] in estimate["prices"]["fal"]["prices"]


def test_the_gateway_config_of_the_real_catalog_serves_every_alias(
    real_catalog: Path, tmp_path: Path
) -> None:
    """What `mpc gateway serve` and MPC-API build from the registry: every alias resolves."""
    env = _workbook(real_catalog, tmp_path)
    settings = Settings(outputs_dir=Path(env["MPC_OUTPUTS_DIR"]))
    registry = RegistryStore(settings.outputs_dir).load()
    assert registry is not None
    _, config = write_live_config(settings, GatewaySelection(), out=tmp_path / "litellm.yaml")
    resolved = load_aliases().resolve(registry["models"], config)
    assert set(resolved.by_name) == set(load_aliases().aliases)
    # every alias gets its first choice: the ids are real and the real catalog has them
    assert {name: r.model for name, r in resolved.by_name.items()} == {
        name: alias.models[0] for name, alias in load_aliases().aliases.items()
    }
    modes = {entry["model_info"].get("mode") for entry in config["model_list"]}
    assert "chat" in modes  # the gateway notebook's default: the first chat model served


@pytest.mark.parametrize("name", REAL_RUNS)
def test_every_notebook_runs_on_the_real_catalog(
    name: str, real_catalog_runs: Callable[[str], HeadlessRun]
) -> None:
    run = real_catalog_runs(name)
    assert run.result["status"] == "ok" and run.manifest["status"] == "ok"
    html = run.html_path.read_text(encoding="utf-8")
    if WORKBOOK[name].sources:  # the sandbox, serving the real catalog's snapshot
        assert set(run.result["sources"].values()) <= {"sandbox", f"snapshot {SEED}"}
    if name == "catalog_sync":
        assert "866" in html and "568" in html  # the real catalog's counts
    if name == "pricing_analysis":
        for line in load_job_mix(example_job_mix()).lines:
            assert line.model.split(":", 1)[-1] in html
        assert "agree (within a cent)" in html and "INCOMPLETE" not in html
    if name == "stack_bringup":
        assert "chat via MPC-API" in html and "mode: local" in html
