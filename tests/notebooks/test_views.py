"""mpc_lib.views on a small hand-written registry (no kernel, no sync)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from mpc_lib import views
from mpc_lib.catalog import SyncReport
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import ConfigError
from mpc_lib.registry import ModelChange, RegistryDiff


def _model(provider: str, model_id: str, category: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "model_id": model_id,
        "display_name": extra.get("display_name", model_id.split("/")[-1].title()),
        "category": category,
        "description": extra.get("description", f"{model_id} does things."),
        "status": "active",
        "owned_by": model_id.split("/")[0],
        "updated_at": "2025-01-01T00:00:00Z",
        "pricing": extra.get("pricing"),
        "stale": extra.get("stale", False),
        "meta": {},
    }


@pytest.fixture
def registry() -> dict[str, Any]:
    def usd(price: float) -> dict[str, Any]:
        return {
            "unit_price": price,
            "unit": "megapixels",
            "currency": "USD",
            "output_unit_price": None,
        }

    return {
        "generated_at": "2026-01-02T03:04:05Z",
        "sources": {
            "fal": {"source": "sandbox", "status": "ok"},
            "comet": {"source": "live", "status": "stale"},
        },
        "counts": {"fal": 3, "comet": 2},
        "models": [
            _model("fal", "fal-ai/flux/dev", "text-to-image", pricing=usd(0.025)),
            _model("fal", "fal-ai/kling/video", "image-to-video", description="Makes VIDEO."),
            _model("fal", "fal-ai/flux/schnell", "text-to-image", pricing=usd(0.003)),
            _model("comet", "gpt-4o", "text", display_name="GPT-4o", stale=True),
            _model("comet", "mystery", None),
        ],
    }


def test_models_frame_has_one_flat_row_per_model(registry: dict[str, Any]) -> None:
    frame = views.models_frame(registry)

    assert list(frame.columns) == list(views.MODEL_COLUMNS)
    assert len(frame) == 5
    assert list(frame["key"]) == [
        "comet:gpt-4o",
        "comet:mystery",
        "fal:fal-ai/flux/dev",
        "fal:fal-ai/flux/schnell",
        "fal:fal-ai/kling/video",
    ]
    dev = frame.set_index("key").loc["fal:fal-ai/flux/dev"]
    assert (dev["unit_price"], dev["unit"], dev["currency"]) == (0.025, "megapixels", "USD")
    assert frame.set_index("key").loc["comet:mystery", "category"] == "(none)"
    assert frame["unit_price"].isna().sum() == 3
    assert frame["stale"].tolist() == [True, False, False, False, False]


def test_models_frame_of_an_empty_registry_keeps_its_columns() -> None:
    frame = views.models_frame({"models": []})
    assert frame.empty and list(frame.columns) == list(views.MODEL_COLUMNS)
    assert views.counts_by_category({"models": []}).empty


def test_counts_by_category(registry: dict[str, Any]) -> None:
    counts = views.counts_by_category(registry)

    assert list(counts.columns) == ["provider", "category", "models"]
    assert counts.values.tolist() == [
        ["comet", "(none)", 1],
        ["comet", "text", 1],
        ["fal", "text-to-image", 2],
        ["fal", "image-to-video", 1],
    ]


def test_category_figure_is_a_bar_per_provider(registry: dict[str, Any]) -> None:
    figure = views.category_figure(registry)

    assert [trace.type for trace in figure.data] == ["bar", "bar"]
    by_name = {trace.name: dict(zip(trace.x, trace.y, strict=True)) for trace in figure.data}
    assert by_name == {
        "comet": {"(none)": 1, "text": 1},
        "fal": {"text-to-image": 2, "image-to-video": 1},
    }
    assert figure.layout.xaxis.categoryarray[0] == "text-to-image"  # biggest category first
    assert figure.layout.title.text == "Models per category"


def test_diff_tables_from_a_report_and_from_diff_json() -> None:
    diff = RegistryDiff(
        added=["fal:fal-ai/new"],
        removed=["comet:old-model", "comet:older"],
        changed=[
            ModelChange(
                key="fal:fal-ai/flux/dev",
                fields={"pricing.unit_price": (0.025, 0.03), "status": ("active", "deprecated")},
            )
        ],
    )
    report = SyncReport(
        status="ok",
        sources={"fal": "sandbox"},
        counts={"fal": 1},
        diff=diff,
        duration_s=0.1,
    )

    for source in (report, diff, diff.model_dump(mode="json")):
        tables = views.diff_tables(source)
        assert tables["added"].values.tolist() == [["fal", "fal-ai/new", "fal:fal-ai/new"]]
        assert tables["removed"]["model_id"].tolist() == ["old-model", "older"]
        assert tables["changed"].values.tolist() == [
            ["fal", "fal-ai/flux/dev", "fal:fal-ai/flux/dev", "pricing.unit_price", 0.025, 0.03],
            ["fal", "fal-ai/flux/dev", "fal:fal-ai/flux/dev", "status", "active", "deprecated"],
        ]


def test_diff_tables_of_an_empty_diff_have_columns() -> None:
    tables = views.diff_tables(RegistryDiff())
    assert list(tables["changed"].columns) == ["provider", "model_id", "key", "field", "old", "new"]
    assert all(table.empty for table in tables.values())


@pytest.mark.parametrize(
    ("provider", "category", "text", "expected"),
    [
        (None, None, None, 5),
        ("fal", None, None, 3),
        ("FAL", "(all)", "", 3),
        (views.ALL, "text-to-image", None, 2),
        (None, None, "flux", 2),
        (None, None, "video", 1),  # found in the description, case-insensitive
        (None, None, "gpt-4O", 1),  # display_name
        ("comet", None, "flux", 0),
        (None, None, "fal-ai/flux/d", 1),  # no regex surprises
        (None, None, ".*", 0),
    ],
)
def test_filter_models(
    registry: dict[str, Any],
    provider: str | None,
    category: str | None,
    text: str | None,
    expected: int,
) -> None:
    frame = views.models_frame(registry)
    assert len(views.filter_models(frame, provider, category, text)) == expected


def test_model_browser_re_renders_on_every_change(registry: dict[str, Any]) -> None:
    browser = views.model_browser(registry, max_rows=2)
    controls, summary, table = browser.children
    provider, category, text = controls.children

    assert provider.options == ("(all)", "comet", "fal")
    assert "<b>5</b> of 5 models (first 2 shown)" in summary.value
    assert table.value.count("</tr>") == 3  # header + 2 rows

    provider.value = "fal"
    assert category.options == ("(all)", "image-to-video", "text-to-image")
    assert "<b>3</b> of 5" in summary.value

    category.value = "text-to-image"
    text.value = "SCHNELL"
    assert "<b>1</b> of 5 models" in summary.value
    assert "fal-ai/flux/schnell" in table.value and "fal-ai/flux/dev" not in table.value

    provider.value = "comet"  # the chosen category does not exist there: back to all
    assert category.value == "(all)"
    assert "<b>0</b> of 5" in summary.value


def test_sources_banner_from_registry_report_and_json(registry: dict[str, Any]) -> None:
    assert views.sources_banner(registry) == (
        "fal: sandbox (emulator) | comet: live (STALE: previous records kept)"
    )
    report = SyncReport(
        status="ok",
        sources={"fal": "sandbox", "comet": "live"},
        counts={"fal": 1, "comet": 1},
        diff=RegistryDiff(),
        duration_s=0.1,
    )
    auto = Settings(comet_key=Secret("sk-x"))
    assert views.sources_banner(report, auto) == (
        "fal: sandbox (emulator, no FAL_KEY set) | comet: live"
    )
    shown = views.sources_banner(report.model_dump(mode="json"), Settings(source="sandbox"))
    assert shown.startswith("fal: sandbox (emulator, MPC_SOURCE=sandbox)")
    assert views.sources_banner({"models": []}) == "no providers synced yet"


def test_missing_pandas_gives_the_install_hint(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ConfigError, match=r"pip install 'mpc-workbench\[notebooks\]'"):
        views.models_frame(registry)


def test_importing_mpc_lib_views_stays_light(tmp_path: Path) -> None:
    import subprocess

    code = (
        "import sys, mpc_lib.views, mpc_lib.runs; "
        "heavy = {'pandas', 'plotly', 'ipywidgets', 'papermill', 'nbconvert'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "[]"


def test_provider_summary_counts_models_prices_and_categories(registry: dict[str, Any]) -> None:
    summary = views.provider_summary(registry)
    assert summary.loc["fal"].tolist() == [3, 2, 2]  # 3 models, 2 priced, 2 categories
    assert summary.loc["comet"].tolist() == [2, 0, 2]  # "text" and "(none)"


def test_a_record_priced_per_output_token_only_counts_as_priced() -> None:
    out_only = {"unit_price": None, "unit": "1M tokens", "currency": "USD", "output_unit_price": 2}
    registry = {
        "models": [_model("comet", "a", "llm", pricing=out_only), _model("comet", "b", None)]
    }
    assert views.provider_summary(registry).loc["comet"].tolist() == [2, 1, 2]
