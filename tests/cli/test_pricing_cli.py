"""`mpc pricing ...` as a user runs it: exit codes, JSON on stdout."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import Ran, mpc
from seam import sync

from mpc_lib.config import Secret, Settings
from mpc_lib.registry import RegistryStore, diff_registries


def _mpc(*args: str, outputs: Path, **env: str) -> Ran:
    return mpc("pricing", *args, env={"MPC_OUTPUTS_DIR": str(outputs), **env}, cwd=outputs.parent)


def _json(result: Ran) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox-synced registry plus a second snapshot a day later with two prices changed."""
    outputs = tmp_path_factory.mktemp("book") / "outputs"
    sync(Settings(outputs_dir=outputs, source="sandbox"))
    store = RegistryStore(outputs)
    registry = store.load()
    assert registry is not None
    later = json.loads(json.dumps(registry))
    images = [m for m in later["models"] if (m["pricing"] or {}).get("unit") == "image"]
    images[0]["pricing"]["unit_price"] *= 2
    images[1]["pricing"]["unit_price"] /= 2
    moment = datetime.now(UTC) + timedelta(days=1)
    later["generated_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store.commit(later, diff_registries(registry["models"], later["models"]), moment=moment)
    return outputs


def test_estimate_json_of_the_shipped_example(workbook: Path) -> None:
    data = _json(_mpc("estimate", "--json", outputs=workbook))
    assert data["complete"] is True and data["currency"] == "USD"
    assert data["total"] == pytest.approx(sum(line["cost"] for line in data["lines"]))
    assert {line["basis"] for line in data["lines"]} == {"per_unit", "per_token"}
    assert [(c["estimate_type"], c["asked"]) for c in data["checks"]] == [
        ("unit_price", "sandbox"),
        ("historical_api_price", "sandbox"),
    ]
    assert data["prices"]["fal"]["synthetic"] is True


def test_estimate_text_names_the_synthetic_prices(workbook: Path) -> None:
    result = _mpc("estimate", "--no-check", outputs=workbook)
    assert result.returncode == 0, result.stderr
    assert "total: " in result.stdout and "FAL estimate" not in result.stdout
    assert "prices: fal: sandbox: SYNTHETIC prices (generated), not the provider's" in result.stdout


def test_a_bad_mix_exits_2_with_nothing_on_stdout(workbook: Path) -> None:
    mix = workbook.parent / "bad.yaml"
    mix.write_text("lines:\n  - model: gpt-4o\n    input_tokens: -3\n")
    result = _mpc("estimate", str(mix), "--json", outputs=workbook)
    assert result.returncode == 2
    assert result.stdout == ""  # no partial report
    assert "bad.yaml:3: lines[0].input_tokens: must be a number > 0, got -3" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_model_exits_2_with_close_matches(workbook: Path) -> None:
    mix = workbook.parent / "typo.yaml"
    mix.write_text("lines:\n  - model: gpt-4oo\n    input_tokens: 10\n")
    result = _mpc("estimate", str(mix), outputs=workbook)
    assert result.returncode == 2 and result.stdout == ""
    assert (
        "typo.yaml:2: lines[0].model: unknown model 'gpt-4oo'; did you mean gpt-4o" in result.stderr
    )


def test_cheapest_json(workbook: Path) -> None:
    data = _json(_mpc("cheapest", "--category", "llm", "--top", "2", "--json", outputs=workbook))
    (llm,) = data["categories"]
    assert llm["category"] == "llm"
    units = {group["unit"] for group in llm["groups"]}
    assert "1M input tokens" in units
    for group in llm["groups"]:
        prices = [m["unit_price"] for m in group["cheapest"]]
        assert len(prices) <= 2 and prices == sorted(prices)


def test_history_and_changes_json(workbook: Path) -> None:
    changes = _json(_mpc("changes", "--json", outputs=workbook))
    assert changes["counts"] == {"up": 1, "down": 1}
    up = next(c for c in changes["changes"] if c["kind"] == "up")
    assert up["pct"] == pytest.approx(100.0)
    history = _json(_mpc("history", up["model"], "--json", outputs=workbook))
    assert history["model"] == up["model"] and history["snapshots"] == 2
    assert [run["change"] for run in history["timeline"]] == ["first seen", "up"]


def test_history_of_an_unknown_model_exits_2(workbook: Path) -> None:
    result = _mpc("history", "gpt-4oo", outputs=workbook)
    assert result.returncode == 2 and "did you mean gpt-4o" in result.stderr


def test_without_a_registry_every_command_says_run_sync(tmp_path: Path) -> None:
    result = _mpc("cheapest", outputs=tmp_path / "outputs")
    assert result.returncode == 5
    assert "no registry yet; run `mpc sync` first" in result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("litellm") is None,
    reason="litellm is not installed (the `gateway` extra): no bundled cost map to compare with",
)
def test_drift_json_writes_the_overrides(workbook: Path) -> None:
    out = workbook.parent / "overrides.yaml"
    data = _json(_mpc("drift", "--tolerance", "0.1", "--out", str(out), "--json", outputs=workbook))
    assert data["tolerance"] == 0.1 and data["cost_map"]["litellm_version"] == "1.108.7"
    assert data["overrides_path"] == str(out)
    document = yaml.safe_load(out.read_text())
    assert len(document["overrides"]) == data["overrides"] > 0
    assert data["counts"]["missing"] >= 1  # no cometapi/ entries ship in the map
    default = _mpc("drift", outputs=workbook)
    assert default.returncode == 0, default.stderr
    assert (workbook / "gateway" / "cost_overrides.yaml").is_file()
    assert "overrides for" in default.stdout and "LiteLLM 1.108.7 cost map" in default.stdout


def test_a_failed_fal_check_prints_the_report_and_exits_with_its_code(
    sandbox, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs"
    live = Settings(
        fal_key=Secret(sandbox.fal_key),
        fal_base_url=sandbox.fal_url,
        source="auto",
        outputs_dir=outputs,
    )
    sync(live, providers=["fal"])
    image = next(i for i, p in sorted(sandbox.data.fal_prices.items()) if p["unit"] == "image")
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"lines": [{"model": image, "units": 10}]}))
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = _mpc(
        "estimate", str(mix), outputs=outputs, FAL_KEY="canary-key-123",
        MPC_FAL_BASE_URL=f"http://127.0.0.1:{closed}/v1", MPC_MAX_RETRIES="0",
    )  # fmt: skip
    assert result.returncode == 4  # no answer
    assert "total: " in result.stdout and "ERROR: fal: no answer" in result.stdout
    assert "error: FAL's estimate failed" in result.stderr
    assert "canary-key-123" not in result.stdout + result.stderr


def _usage_line(model: str, cost: float | None, units: float | None, when: datetime,
                rid: str) -> Any:  # fmt: skip
    from mpc_lib.pricing import UsageLine

    return UsageLine(time=when, request_id=rid, model=model, route="images", served="sandbox",
                     unit="image", units=units, unit_price=0.025, cost_usd=cost,
                     unpriced=None if cost is not None else "no image")  # fmt: skip


def test_spend_sums_the_usage_log_per_model_and_beside_a_job_mix(
    workbook: Path, tmp_path: Path
) -> None:
    from mpc_lib.pricing import record_usage

    outputs = Path(shutil.copytree(workbook, tmp_path / "outputs"))
    now = datetime.now(UTC)
    for i, (model, cost, units, age) in enumerate([
        ("fal:fal-ai/flux/dev", 0.05, 2, timedelta(hours=1)),
        ("fal:fal-ai/flux/dev", 0.025, 1, timedelta(hours=2)),
        ("fal:fal-ai/flux/schnell", None, None, timedelta(hours=3)),
        ("fal:fal-ai/flux/dev", 1.0, 40, timedelta(days=9)),  # outside --since 7d
    ]):  # fmt: skip
        record_usage(outputs, _usage_line(model, cost, units, now - age, f"r{i}"))
    usage_files = sorted((outputs / "usage").glob("*.jsonl"))
    assert usage_files and all(path.stat().st_mode & 0o777 == 0o600 for path in usage_files)
    with usage_files[-1].open("a") as handle:
        handle.write("not json\n")
    report = _json(_mpc("spend", "--since", "7d", "--json", outputs=outputs))
    rows = {row["model"]: row for row in report["models"]}
    assert rows["fal:fal-ai/flux/dev"]["calls"] == 2
    assert rows["fal:fal-ai/flux/dev"]["cost_usd"] == pytest.approx(0.075)
    assert rows["fal:fal-ai/flux/dev"]["units"] == 3
    assert rows["fal:fal-ai/flux/schnell"]["unpriced_calls"] == 1
    assert report["total_usd"] == pytest.approx(0.075) and report["calls"] == 3
    assert [p.endswith(": not a usage line (Expecting value: line 1 column 1 (char 0))")
            for p in report["problems"]] == [True]  # fmt: skip
    everything = _json(_mpc("spend", "--json", outputs=outputs))
    assert everything["total_usd"] == pytest.approx(1.075)
    text = _mpc("spend", "--since", "7d", outputs=outputs)
    assert text.returncode == 0
    assert "fal:fal-ai/flux/dev: 2 call(s), 3 image(s), 0.0750 USD" in text.stdout
    assert "1 call(s) have no known cost" in text.stdout
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"name": "two images", "lines": [
        {"model": "fal-ai/flux/dev", "units": 2}]}))  # fmt: skip
    compared = _json(_mpc("spend", "--since", "7d", "--mix", str(mix), "--json", outputs=outputs))
    estimated = {row["model"]: row["estimated_usd"] for row in compared["models"]}
    assert estimated["fal:fal-ai/flux/dev"] is not None and compared["estimate_label"]
    bad = _mpc("spend", "--since", "seven days", outputs=outputs)
    assert bad.returncode == 2 and "--since 'seven days'" in bad.stderr
