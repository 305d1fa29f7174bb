"""The shipped catalog_sync notebook on the sandbox: the session's headless run, whose data is
checked here (the notebook itself stays thin); and strict nbval over every workbook notebook,
each compared as run once by the session (`headless_runs`), not run again.

When a notebook or the sandbox data changes on purpose, refresh its stored outputs with:

    MPC_SOURCE=sandbox MPC_OUTPUTS_DIR=$(mktemp -d) .venv/bin/jupyter nbconvert --to notebook \
        --execute --inplace --ExecutePreprocessor.store_widget_state=False \
        --ExecutePreprocessor.record_timing=False notebooks/NAME.ipynb
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import mpc, mpc_env
from seam import sync
from stored_outputs import differences
from workbook import NOTEBOOKS_DIR, SANITIZE, WORKBOOK, HeadlessRun

from mpc_lib import views
from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.runs import SHIPPED_NOTEBOOKS_DIR, run_notebook
from mpc_lib.sandbox import Sandbox, SandboxData

NOTEBOOK = SHIPPED_NOTEBOOKS_DIR / "catalog_sync.ipynb"


def test_catalog_sync_runs_headless_against_the_sandbox(
    headless_runs: Callable[[str], HeadlessRun],
) -> None:
    run = headless_runs("catalog_sync")  # `-p allow_partial false`, in a fresh workbook

    registry_path = run.outputs / "registry" / "models.json"
    registry = json.loads(registry_path.read_text(encoding="utf-8"))
    assert {entry["source"] for entry in registry["sources"].values()} == {"sandbox"}
    assert run.notebook_path.is_file()
    html = run.html_path.read_text(encoding="utf-8")
    for provider, count in registry["counts"].items():
        assert f"{provider}: {count} models from sandbox" in html
    assert "Plotly.newPlot" in html  # drawn by ../_assets/plotly-*.min.js, offline
    manifest = run.manifest
    assert manifest["status"] == "ok"
    assert manifest["parameters"] == {"allow_partial": False}
    assert manifest["sources"] == run.result["sources"] == {"fal": "sandbox", "comet": "sandbox"}
    # the data checks that used to sit in the notebook, against the sandbox's own data
    served = SandboxData.generate()
    assert registry["counts"] == {
        "fal": len({m["endpoint_id"] for m in served.fal_models}),
        "comet": len({m["id"] for m in served.comet_models}),
    }
    frame = views.models_frame(registry)
    assert frame["key"].is_unique
    for name, count in registry["counts"].items():
        rows = frame[frame["provider"] == name]
        assert len(rows) == count and rows["key"].str.startswith(f"{name}:").all()
    fal_ids = frame.loc[frame["provider"] == "fal", "model_id"]
    assert fal_ids.str.fullmatch(r"[\w.-]+/\S+").all(), "a FAL endpoint id without owner/"


def test_opened_from_notebooks_it_uses_the_workbook_env_and_outputs(tmp_path: Path) -> None:
    """As JupyterLab runs it: kernel in notebooks/, no MPC_* variables, only the workbook's .env."""
    book = tmp_path / "book"
    (book / "notebooks").mkdir(parents=True)
    (book / "pyproject.toml").write_text('[project]\nname = "my-ops"\n\n[tool.mpc]\n')
    (book / ".env").write_text("MPC_SOURCE=sandbox\nMPC_OUTPUTS_DIR=ops-outputs\n")
    (book / "notebooks" / "catalog_sync.ipynb").write_bytes(NOTEBOOK.read_bytes())
    env = mpc_env({"FAL_KEY": "would-go-live-without-the-env-file"})  # no MPC_HOME either
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--output", str(tmp_path / "executed.ipynb"), "catalog_sync.ipynb"],
        cwd=book / "notebooks", env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    registry = json.loads((book / "ops-outputs" / "registry" / "models.json").read_text())
    assert {entry["source"] for entry in registry["sources"].values()} == {"sandbox"}
    assert not (book / "notebooks" / "outputs").exists()
    assert not (book / "notebooks" / "ops-outputs").exists()


def test_a_refused_sync_is_a_failed_step_and_replace_true_allows_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """On the sandbox over a live registry, the sync cell fails (exit 2) naming what to pass;
    `-p replace true` replaces the records."""
    out = tmp_path / "out"
    live = Settings(
        outputs_dir=out, comet_key=sandbox.key("comet"), comet_base_url=sandbox.url("comet")
    )
    assert sync(live, providers=["comet"]).sources == {"comet": "live"}
    before = (out / "registry" / "models.json").read_bytes()
    env = {"MPC_OUTPUTS_DIR": str(out), "MPC_SOURCE": "sandbox"}
    refused = mpc("run", "catalog_sync", "-p", "providers", "comet", env=env, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert re.search(
        r"failed in cell \d+: ConfigError: sync refused, registry left untouched\. comet: the "
        r"registry holds live records, this sync fetched sandbox ones\. Pass --replace to "
        r"replace them \(the catalog_sync notebook: -p replace true\)",
        refused.stderr,
    ), refused.stderr
    assert (out / "registry" / "models.json").read_bytes() == before
    replaced = mpc(
        "run", "catalog_sync", "-p", "providers", "comet", "-p", "replace", "true", "--json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout.splitlines()[-1])["sources"] == {"comet": "sandbox"}
    registry = json.loads((out / "registry" / "models.json").read_text(encoding="utf-8"))
    assert registry["sources"]["comet"]["kind"] == "sandbox"


def test_a_misspelt_source_is_refused_before_the_kernel_starts(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs")
    with pytest.raises(ConfigError, match="parameter source='sanbox': expected one of"):
        run_notebook("catalog_sync", {"source": "sanbox"}, settings=settings)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("name", sorted(WORKBOOK))
def test_notebook_passes_strict_nbval_on_the_sandbox(
    name: str, headless_runs: Callable[[str], HeadlessRun]
) -> None:
    """The session's run matches the stored outputs, as `pytest --nbval` with
    notebooks/nbval_sanitize.cfg compares them."""
    run = headless_runs(name)
    found = differences(NOTEBOOKS_DIR / f"{name}.ipynb", run.notebook_path, SANITIZE)
    assert found == [], "\n\n".join(found)


def test_strict_nbval_catches_a_changed_count(
    tmp_path: Path, headless_runs: Callable[[str], HeadlessRun]
) -> None:
    """The stored outputs are compared, not just run: one changed count fails the check."""
    stored = NOTEBOOK.read_text(encoding="utf-8")
    fal = json.loads(stored)
    summary = next(c for c in fal["cells"] if "".join(c["source"]) == "print(report.summary())")
    text = "".join(summary["outputs"][0]["text"])
    count = int(text.split("fal: ")[1].split()[0])
    summary["outputs"][0]["text"] = text.replace(f"fal: {count} ", f"fal: {count + 1} ")
    tampered = tmp_path / "catalog_sync.ipynb"
    tampered.write_text(json.dumps(fal), encoding="utf-8")

    found = differences(tampered, headless_runs("catalog_sync").notebook_path, SANITIZE)

    assert len(found) == 1 and f"fal: {count + 1} models" in found[0]
    assert found[0].startswith("Cell 6: outputs differ")
