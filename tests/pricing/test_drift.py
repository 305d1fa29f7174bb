"""Gateway drift against LiteLLM's real bundled cost map, and the overrides file it writes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pricing_helpers import record, registry

from mpc_lib.errors import ConfigError, CostMapError
from mpc_lib.pricing import (
    FAL_PIXELS_PER_MEGAPIXEL,
    CostMap,
    PriceBook,
    gateway_drift,
    load_cost_map,
    write_cost_overrides,
)


@pytest.fixture(scope="module")
def real_map() -> CostMap:
    if importlib.util.find_spec("litellm") is None:
        pytest.skip("litellm is not installed (the `gateway` extra): no bundled cost map to read")
    return load_cost_map()


def _fal(
    cost_map: CostMap, want: str, without: str | None = None, skip: int = 0
) -> tuple[str, Any]:
    """A FAL endpoint id from the real map with field `want` (and not `without`), and its value."""
    found = [
        (key.removeprefix("fal_ai/"), entry[want])
        for key, entry in sorted(cost_map.entries.items())
        if key.startswith("fal_ai/") and isinstance(entry.get(want), float | int)
        and entry[want] > 0 and (without is None or without not in entry)
    ]  # fmt: skip
    assert len(found) > skip, f"the bundled map has no fal_ai entry with {want}"
    return found[skip]


def test_the_bundled_map_is_read_without_importing_litellm(real_map: CostMap) -> None:
    assert real_map.path.name == "model_prices_and_context_window_backup.json"
    assert real_map.version == "1.108.7"  # the pin the gateway extra uses
    assert sum(key.startswith("fal_ai/") for key in real_map.entries) > 100
    assert not any(key.startswith("cometapi/") for key in real_map.entries)
    assert "litellm" not in sys.modules or sys.modules["litellm"] is None


def test_drift_against_the_real_map(real_map: CostMap, tmp_path: Path) -> None:
    image, image_price = _fal(real_map, "output_cost_per_image", without="output_cost_per_pixel")
    dear, dear_price = _fal(real_map, "output_cost_per_image", "output_cost_per_pixel", skip=1)
    close, close_price = _fal(real_map, "output_cost_per_image", "output_cost_per_pixel", skip=2)
    mp, per_pixel = _fal(real_map, "output_cost_per_pixel")
    video, per_second = _fal(real_map, "output_cost_per_second")
    gpt = real_map.entries["gpt-4o"]
    models = [
        record("fal", image, "image", image_price),  # agrees exactly
        record("fal", dear, "image", dear_price * 1.25),  # the map is 20% under FAL's price
        record("fal", close, "image", close_price * 1.03),  # within 5%
        record("fal", mp, "megapixels", per_pixel * FAL_PIXELS_PER_MEGAPIXEL),
        record("fal", image + "-mp", "megapixels", 0.01),  # not in the map at all
        record("fal", video, "video_second", per_second * 2),
        record("fal", "fal-ai/not-in-the-map", "image", 0.01),
        record("fal", "fal-ai/three-d", "generation", 0.3),  # no LiteLLM field for it
        record("fal", "fal-ai/unpriced"),
        record("comet", "gpt-4o", "1M tokens", gpt["input_cost_per_token"] * 1e6,
               output=gpt["output_cost_per_token"] * 1e6),
        record("comet", "sparkdesk-x", "1M tokens", 2.0, output=6.0),
    ]  # fmt: skip
    book = PriceBook(registry(models), tmp_path / "models.json")
    report = gateway_drift(book, tolerance=0.05, cost_map=real_map)

    status = {row.price.key: row.status for row in report.rows}
    assert status == {
        f"fal:{image}": "agree",
        f"fal:{dear}": "drift",
        f"fal:{close}": "agree",
        f"fal:{mp}": "agree",
        f"fal:{image}-mp": "missing",
        f"fal:{video}": "drift",
        "fal:fal-ai/not-in-the-map": "missing",
        "fal:fal-ai/three-d": "unsupported_unit",
        "comet:gpt-4o": "agree",  # via the bare name, as an OpenAI-compatible deployment
        "comet:sparkdesk-x": "missing",
    }
    rows = {row.price.key: row for row in report.rows}
    assert rows[f"fal:{dear}"].worst_pct == pytest.approx(-20.0)
    assert rows[f"fal:{video}"].worst_pct == pytest.approx(-50.0)
    assert rows["comet:gpt-4o"].map_key == "gpt-4o"
    assert rows["comet:sparkdesk-x"].map_key == "cometapi/sparkdesk-x"
    assert [p.key for p in book.unpriced] == ["fal:fal-ai/unpriced"]
    assert report.counts() == {
        "drift": 2, "unit_mismatch": 0, "missing": 3, "unsupported_unit": 1, "agree": 4
    }  # fmt: skip
    assert list(report.overrides()) == sorted([
        f"fal:{dear}", f"fal:{video}", f"fal:{image}-mp", "fal:fal-ai/not-in-the-map",
        "comet:sparkdesk-x",
    ])  # fmt: skip
    text = report.summary()
    assert "drift: 2, unit_mismatch: 0, missing: 3, unsupported_unit: 1, agree: 4" in text
    assert "no LiteLLM cost field for 1 model(s) priced per 'generation'" in text


def test_a_megapixel_price_against_a_per_image_entry_is_a_unit_mismatch(real_map: CostMap) -> None:
    image, price = _fal(real_map, "output_cost_per_image", without="output_cost_per_pixel")
    book = PriceBook(registry([record("fal", image, "megapixels", price)]))
    (row,) = gateway_drift(book, cost_map=real_map).rows
    assert row.status == "unit_mismatch" and row.needs_override
    assert row.ours == {"output_cost_per_pixel": pytest.approx(price / FAL_PIXELS_PER_MEGAPIXEL)}
    assert row.theirs["output_cost_per_image"] == price


def test_the_overrides_file_is_valid_litellm_model_info(real_map: CostMap, tmp_path: Path) -> None:
    dear, dear_price = _fal(real_map, "output_cost_per_image", "output_cost_per_pixel", skip=1)
    video, per_second = _fal(real_map, "output_cost_per_second")
    book = PriceBook(
        registry([
            record("fal", dear, "image", dear_price * 2),
            record("fal", video, "video_second", per_second * 3),
            record("fal", "fal-ai/new/mp", "megapixels", 0.03),
            record("comet", "sparkdesk-x", "1M tokens", 2.0, output=6.0),
            record("comet", "emb-only", "1M tokens", 0.1),
        ]),
        tmp_path / "models.json",
    )  # fmt: skip
    report = gateway_drift(book, cost_map=real_map)
    target = tmp_path / "gateway" / "cost_overrides.yaml"
    assert write_cost_overrides(report, target) == target

    text = target.read_text(encoding="utf-8")
    assert text.startswith("# LiteLLM model_info cost overrides, written by `mpc pricing drift`.")
    document = yaml.safe_load(text)
    assert document["version"] == 1 and document["tolerance"] == 0.05
    assert document["cost_map"]["litellm_version"] == real_map.version
    assert document["prices"] == {"fal": "live API", "comet": "live API"}
    overrides = document["overrides"]
    assert overrides[f"fal:{dear}"] == {
        "provider": "fal",
        "model_id": dear,
        "cost_map_key": f"fal_ai/{dear}",
        "reason": "drift",
        "model_info": {"output_cost_per_image": dear_price * 2},
    }
    assert overrides[f"fal:{video}"]["model_info"] == {
        "output_cost_per_second": pytest.approx(per_second * 3)
    }
    assert overrides["fal:fal-ai/new/mp"]["model_info"] == {
        "output_cost_per_pixel": pytest.approx(0.03 / 1_048_576)
    }
    assert overrides["comet:sparkdesk-x"]["model_info"] == {
        "input_cost_per_token": pytest.approx(2e-06),
        "output_cost_per_token": pytest.approx(6e-06),
    }
    # A missing output price is left out, never written as 0.
    assert overrides["comet:emb-only"]["model_info"] == {
        "input_cost_per_token": pytest.approx(1e-07)
    }
    # Every field is one LiteLLM's own cost map uses.
    vocabulary = {name for entry in real_map.entries.values() for name in entry}
    for entry in overrides.values():
        assert set(entry["model_info"]) <= vocabulary
        assert all(isinstance(v, float) and v > 0 for v in entry["model_info"].values())
    assert [p.name for p in target.parent.iterdir()] == ["cost_overrides.yaml"]  # no temp files


def test_a_small_cost_map_file_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({
        "sample_spec": {"input_cost_per_token": 0},
        "fal_ai/x/img": {"output_cost_per_image": 0.04, "litellm_provider": "fal_ai"},
    }))  # fmt: skip
    cost_map = load_cost_map(path)
    assert cost_map.version is None and "fal_ai/x/img" in cost_map.entries
    report = gateway_drift(
        PriceBook(registry([record("fal", "x/img", "image", 0.05)])), cost_map=cost_map
    )
    assert report.rows[0].status == "drift" and report.rows[0].worst_pct == pytest.approx(-20.0)

    path.write_text("{not json")
    with pytest.raises(CostMapError, match=r"map\.json: the cost map is not valid JSON") as info:
        load_cost_map(path)
    assert info.value.exit_code == 5
    path.write_text("[1, 2]")
    with pytest.raises(CostMapError, match="not a JSON object of models"):
        load_cost_map(path)
    with pytest.raises(ConfigError, match="no such cost map file"):
        load_cost_map(tmp_path / "none.json")


def test_without_litellm_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"LiteLLM is not installed.*mpc-workbench\[gateway\]"):
        load_cost_map()


def test_a_bad_tolerance_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"tolerance -0\.1: expected a fraction"):
        gateway_drift(PriceBook(registry([])), tolerance=-0.1, cost_map=CostMap({}, Path("x")))
