"""Job-mix estimates: the local maths, and FAL's estimate endpoint agreeing over loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pricing_helpers import record, registry
from seam import estimate_mix, sync

from mpc_lib.config import Secret, Settings
from mpc_lib.pricing import (
    JobMix,
    PriceBook,
    estimate_lines,
    example_job_mix,
    load_price_book,
)
from mpc_lib.sandbox import Fault


def _mix(*lines: dict[str, Any], currency: str = "USD") -> JobMix:
    return JobMix.from_data({"currency": currency, "lines": list(lines)})


# --- local maths (no network) --------------------------------------------------------


@pytest.fixture
def book() -> PriceBook:
    return PriceBook(
        registry([
            record("fal", "f/img", "image", 0.025),
            record("fal", "f/mp", "megapixels", 0.01),
            record("fal", "f/llm", "1M tokens", 0.5),
            record("fal", "f/tts", "character", 0.00002),
            record("fal", "f/gpu", "GPU-H100 hour", 2.0),
            record("fal", "f/none"),
            record("comet", "chat", "1M tokens", 2.0, output=8.0),
            record("comet", "emb", "1M tokens", 0.1),
            record("comet", "img", "request", 0.04),
        ])
    )  # fmt: skip


def test_local_estimate_is_prices_times_quantities_on_both_bases(book: PriceBook) -> None:
    estimate = estimate_lines(
        book,
        _mix(
            {"model": "f/img", "units": 1, "calls": 200},
            {"model": "f/mp", "units": 4, "calls": 50},
            {"model": "f/llm", "input_tokens": 1000, "output_tokens": 1000, "calls": 500},
            {"model": "f/tts", "units": 120},  # in 1K characters, the unit shown for it
            {"model": "chat", "input_tokens": 1200, "output_tokens": 300, "calls": 1000},
            {"model": "emb", "input_tokens": 800, "calls": 5000},
            {"model": "img", "units": 1, "calls": 30},
        ),
    )
    costs = [line.cost for line in estimate.lines]
    assert costs == pytest.approx([
        200 * 0.025,
        200 * 0.01,
        1.0 * 0.5,  # 1M tokens at one rate for every token
        120 * 0.02,
        1.2 * 2.0 + 0.3 * 8.0,
        4.0 * 0.1,
        30 * 0.04,
    ])  # fmt: skip
    assert estimate.complete and estimate.total == pytest.approx(sum(costs))
    subtotals = estimate.subtotals()
    assert subtotals["per_token"] == pytest.approx(0.5 + 4.8 + 0.4)
    assert subtotals["per_unit"] == pytest.approx(5 + 2 + 2.4 + 1.2)
    assert [line.fal_units for line in estimate.lines[:4]] == pytest.approx(
        [200, 200, 1.0, 120_000]
    )
    text = estimate.summary()
    assert "per_token subtotal: 5.7000 USD" in text and "total: 16.3000 USD" in text
    assert "INCOMPLETE" not in text


def test_a_missing_price_leaves_the_line_out_and_says_so(book: PriceBook) -> None:
    estimate = estimate_lines(
        book,
        _mix(
            {"model": "f/img", "units": 10},
            {"model": "f/none", "units": 3},
            {"model": "emb", "input_tokens": 100, "output_tokens": 50},  # no output price
        ),
    )
    assert [line.cost for line in estimate.lines][1:] == [None, None]
    assert [line.missing for line in estimate.lines][1:] == [
        "no price in the registry",
        "no output-token price",
    ]
    assert not estimate.complete and estimate.total == pytest.approx(0.25)
    assert "INCOMPLETE: 2 line(s) without a price are left out: #2 fal:f/none, #3 comet:emb" in (
        estimate.summary()
    )
    data = estimate.model_dump(mode="json")
    assert data["complete"] is False and [m["line"] for m in data["missing"]] == [2, 3]


def test_an_unknown_unit_is_priced_in_its_own_unit_with_a_note(book: PriceBook) -> None:
    estimate = estimate_lines(book, _mix({"model": "f/gpu", "units": 1.5}))
    line = estimate.lines[0]
    assert line.cost == pytest.approx(3.0)
    assert line.note is not None and "'GPU-H100 hour' is not one we know" in line.note


# --- against FAL's estimate endpoint (the sandbox, over loopback) ---------------------


def _live(sandbox, outputs: Path, **changes: Any) -> Settings:
    """Settings that reach the session sandbox as if it were the real APIs."""
    return Settings(
        fal_key=Secret(sandbox.fal_key),
        comet_key=Secret(sandbox.comet_key),
        fal_base_url=sandbox.fal_url,
        comet_base_url=sandbox.comet_url,
        outputs_dir=outputs,
        max_retries=1,
        retry_backoff_s=0.01,
    ).with_(**changes)


def _first(data: Any, unit: str) -> str:
    return next(i for i, p in sorted(data.fal_prices.items()) if p["unit"] == unit)


def _comet(data: Any, kind: str) -> tuple[str, dict[str, Any]]:
    for entry in sorted(data.comet_catalog, key=lambda e: e["id"]):
        pricing = entry.get("pricing") or {}
        if kind == "tokens" and pricing.get("input") and pricing.get("output"):
            return entry["id"], pricing
        if kind == "request" and pricing.get("per_request"):
            return entry["id"], pricing
    raise AssertionError(kind)


def test_a_live_registry_estimate_is_the_sum_of_its_prices_and_fal_agrees(
    sandbox, tmp_path: Path
) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    data = sandbox.data
    image, mp, llm = (_first(data, u) for u in ("image", "megapixels", "1M tokens"))
    chat, chat_price = _comet(data, "tokens")
    per_request, request_price = _comet(data, "request")
    mix = _mix(
        {"model": image, "units": 1, "calls": 120},
        {"model": mp, "units": 250},
        {
            "model": llm,
            "input_tokens": 80_000,
            "output_tokens": 20_000,
        },  # no calls: no per-call check
        {"model": chat, "input_tokens": 1000, "output_tokens": 250, "calls": 400},
        {"model": per_request, "units": 1, "calls": 12},
    )
    estimate = estimate_mix(settings, mix)

    fal = {i: data.fal_prices[i]["unit_price"] for i in (image, mp, llm)}
    expected_fal = 120 * fal[image] + 250 * fal[mp] + 0.1 * fal[llm]
    expected = (
        expected_fal
        + 0.4 * chat_price["input"]
        + 0.1 * chat_price["output"]
        + 12 * request_price["per_request"]
    )
    assert estimate.total == pytest.approx(expected, rel=1e-12)
    assert estimate.sources["fal"].source == "live" and estimate.sources["fal"].label == "live API"
    units, calls = estimate.checks
    assert (units.estimate_type, units.status, units.asked) == ("unit_price", "agree", "live FAL")
    assert units.api_total == pytest.approx(expected_fal, abs=1e-6) and units.endpoints == 3
    assert (calls.estimate_type, calls.status) == ("historical_api_price", "agree")
    assert calls.api_total == pytest.approx(120 * fal[image], abs=1e-6)
    estimates = [r for r in sandbox.requests("fal") if r.path == "/v1/models/pricing/estimate"]
    assert len(estimates) == 2  # one per type: no per-endpoint calls when the totals agree


def test_a_disagreement_is_located_endpoint_by_endpoint(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    a, b = sorted(i for i, p in sandbox.data.fal_prices.items() if p["unit"] == "image")[:2]
    sandbox.data.fal_prices[b]["unit_price"] *= 2  # FAL changed a price since the sync

    estimate = estimate_mix(
        settings, _mix({"model": a, "units": 100}, {"model": b, "units": 100})
    )

    check = estimate.checks[0]
    assert check.status == "disagree"
    local_b = 100 * sandbox.data.fal_prices[b]["unit_price"] / 2
    assert check.difference == pytest.approx(local_b, abs=1e-6)
    wrong = check.model_dump(mode="json")["disagreeing"]
    assert [item["endpoint_id"] for item in wrong] == [b]
    assert wrong[0]["api"] == pytest.approx(2 * local_b, abs=1e-6)
    assert f"  {b}: FAL" in check.summary() and "DISAGREE by" in check.summary()


def test_calls_compare_at_fals_historical_price_per_call(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    clip = _first(sandbox.data, "video_second")
    estimate = estimate_mix(settings, _mix({"model": clip, "units": 5, "calls": 10}))
    units, calls = estimate.checks
    assert units.status == "agree"  # 50 seconds either way
    # The sandbox's history prices a call at one unit, not five: the check says so.
    assert calls.status == "disagree"
    assert calls.api_total == pytest.approx(calls.local_total / 5, rel=1e-6)


def test_a_failing_check_is_reported_not_dropped(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    image = _first(sandbox.data, "image")
    sandbox.faults.add(
        Fault(kind="server_error", provider="fal", path="/v1/models/pricing/estimate", times=None)
    )
    estimate = estimate_mix(settings, _mix({"model": image, "units": 1, "calls": 3}))
    assert estimate.total == pytest.approx(3 * sandbox.data.fal_prices[image]["unit_price"])
    failed = estimate.check_failed
    assert failed is not None and failed.status == "error" and failed.exit_code == 3
    assert "fal: 500 POST /models/pricing/estimate" in str(failed.reason)
    assert "ERROR: fal: 500" in estimate.summary()


def test_no_check_against_a_fal_that_does_not_serve_the_registrys_prices(
    sandbox, tmp_path: Path
) -> None:
    sandboxed = Settings(outputs_dir=tmp_path, source="sandbox")
    sync(sandboxed)
    book = load_price_book(sandboxed)
    mix = load_example()
    # A FAL key is set now, but the registry holds the sandbox's models: FAL would not know them.
    estimate = estimate_mix(_live(sandbox, tmp_path), mix, book=book)
    assert {check.status for check in estimate.checks} == {"skipped"}
    assert "FAL would not know these models" in str(estimate.checks[0].reason)
    # A sandbox serving other data (a snapshot) is not asked either.
    other = sandboxed.with_(sandbox_snapshot=tmp_path / "registry" / "models.json")
    estimate = estimate_mix(other, mix, book=book)
    assert {check.status for check in estimate.checks} == {"skipped"}
    assert "the sandbox here serves 'snapshot" in str(estimate.checks[0].reason)
    assert not [r for r in sandbox.requests("fal") if r.path.endswith("/estimate")]


def load_example() -> JobMix:
    from mpc_lib.pricing import load_job_mix

    return load_job_mix(example_job_mix())


def test_the_shipped_example_agrees_with_the_sandbox_end_to_end(tmp_path: Path) -> None:
    """As `mpc pricing estimate` runs on a fresh sandbox workbook: its own sandbox, both checks."""
    settings = Settings(outputs_dir=tmp_path, source="sandbox")
    sync(settings)
    book = load_price_book(settings)
    assert not book.unknown_units  # every unit either provider's sandbox sends is known
    estimate = estimate_mix(settings)
    assert estimate.complete and len(estimate.lines) == len(load_example().lines)
    assert [(c.estimate_type, c.status, c.asked) for c in estimate.checks] == [
        ("unit_price", "agree", "sandbox"),
        ("historical_api_price", "agree", "sandbox"),
    ]
    assert {line.price.basis for line in estimate.lines} == {"per_unit", "per_token"}
    assert "SYNTHETIC" in estimate.summary()  # sandbox prices are never passed off as real


def test_a_mix_without_fal_lines_asks_fal_nothing(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    chat, _ = _comet(sandbox.data, "tokens")
    sandbox.state.log.clear()
    estimate = estimate_mix(settings, _mix({"model": chat, "input_tokens": 10}))
    assert [(c.status, c.reason) for c in estimate.checks] == [("skipped", "no priced FAL lines")]
    assert sandbox.requests("fal") == []


def test_a_quantity_under_fals_minimum_is_not_sent(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    llm = _first(sandbox.data, "1M tokens")
    sandbox.state.log.clear()
    estimate = estimate_mix(settings, _mix({"model": llm, "input_tokens": 0.5}))
    units = estimate.checks[0]
    assert units.status == "skipped" and "unit_quantity must be >= 1e-06" in str(units.reason)
    assert estimate.check_failed is None and estimate.lines[0].cost is not None
    assert not [r for r in sandbox.requests("fal") if r.path.endswith("/estimate")]
