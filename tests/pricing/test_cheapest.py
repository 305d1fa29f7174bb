"""Cheapest models per category: like units only, and what is left out is named."""

from __future__ import annotations

import pytest
from pricing_helpers import record, registry

from mpc_lib.errors import ConfigError
from mpc_lib.pricing import PriceBook, cheapest_models


@pytest.fixture
def book() -> PriceBook:
    t2i, t2v = "text-to-image", "text-to-video"
    return PriceBook(
        registry([
            record("fal", "i/cheap", "image", 0.003, category=t2i),
            record("fal", "i/mid", "image", 0.02, category=t2i),
            record("fal", "i/dear", "image", 0.08, category=t2i),
            record("fal", "i/mp", "megapixels", 0.001, category=t2i),  # cheaper number, other unit
            record("fal", "i/eur", "image", 0.001, category=t2i, currency="EUR"),
            record("fal", "i/gpu", "GPU-H100 hour", 0.0001, category=t2i),
            record("fal", "i/none", category=t2i),
            record("fal", "v/sec", "second", 0.1, category=t2v),
            record("fal", "v/vid", "video", 0.5, category=t2v),
            record("comet", "a", "1M tokens", 1.0, output=4.0, category="llm"),
            record("comet", "b", "1M tokens", 1.0, output=2.0, category="llm"),
            record("comet", "c", "1M tokens", 0.5, output=9.0, category="llm"),
            record("comet", "d", "1M tokens", None, output=1.0, category="llm"),
            record("fal", "f/llm", "1M tokens", 0.2, category="llm"),
        ])
    )  # fmt: skip


def _groups(report, category: str) -> dict[tuple[str, str], list[str]]:
    ranking = next(r for r in report.categories if r.category == category)
    return {(g.unit, g.currency): [p.key for p in g.ranked] for g in ranking.groups}


def test_only_like_units_are_ranked_together(book: PriceBook) -> None:
    report = cheapest_models(book, categories=["text-to-image"])
    assert _groups(report, "text-to-image") == {
        ("image", "USD"): ["fal:i/cheap", "fal:i/mid", "fal:i/dear"],
        ("megapixel", "USD"): ["fal:i/mp"],
        ("image", "EUR"): ["fal:i/eur"],
    }
    ranking = report.categories[0]
    assert ranking.groups[0].unit == "image"  # the biggest group first
    assert [(p.key, p.unit) for p in ranking.unknown_units] == [("fal:i/gpu", "GPU-H100 hour")]
    assert [p.key for p in ranking.unpriced] == ["fal:i/none"]
    text = report.summary()
    assert "left out, unit not known: fal:i/gpu ('GPU-H100 hour')" in text
    assert "no price: 1 model(s)" in text
    data = report.model_dump(mode="json")["categories"][0]
    assert data["left_out_unknown_unit"] == [
        {"model": "fal:i/gpu", "unit": "GPU-H100 hour", "unit_price": 0.0001}
    ]


def test_seconds_and_videos_are_never_compared(book: PriceBook) -> None:
    report = cheapest_models(book, categories=["text-to-video"])
    assert _groups(report, "text-to-video") == {
        ("second", "USD"): ["fal:v/sec"],
        ("video", "USD"): ["fal:v/vid"],
    }


def test_token_models_rank_by_input_then_output_and_name_the_unrankable(book: PriceBook) -> None:
    report = cheapest_models(book, categories=["llm"], basis="per_token")
    assert _groups(report, "llm") == {
        ("1M input tokens", "USD"): ["comet:c", "comet:b", "comet:a"],
        ("1M tokens", "USD"): ["fal:f/llm"],  # one rate for all tokens: its own group
    }
    group = report.categories[0].groups[0]
    assert [p.key for p in group.unranked] == ["comet:d"]
    assert "not ranked (no input price): comet:d" in report.summary()


def test_top_and_basis_filter(book: PriceBook) -> None:
    report = cheapest_models(book, top=2, basis="per_unit")
    assert "llm" not in [r.category for r in report.categories]
    image = report.model_dump(mode="json")["categories"][0]["groups"][0]
    assert image["models"] == 3 and [m["model"] for m in image["cheapest"]] == [
        "fal:i/cheap",
        "fal:i/mid",
    ]


def test_bad_arguments(book: PriceBook) -> None:
    with pytest.raises(ConfigError, match=r"unknown category: 'text-to-imag' \(did you mean"):
        cheapest_models(book, categories=["text-to-imag"])
    with pytest.raises(ConfigError, match="basis 'tokens': expected one of per_unit, per_token"):
        cheapest_models(book, basis="tokens")
    with pytest.raises(ConfigError, match="at least 1"):
        cheapest_models(book, top=0)


def test_categories_take_commas_and_any_case(book: PriceBook) -> None:
    report = cheapest_models(book, categories=["LLM,text-to-video"])
    assert [r.category for r in report.categories] == ["llm", "text-to-video"]
