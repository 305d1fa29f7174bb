"""sync_catalog end to end over loopback: files, diffs, failure semantics, partial syncs."""

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from seam import sync

from mpc_lib.config import Secret, Settings
from mpc_lib.errors import (
    ConfigError,
    PaginationError,
    ProviderError,
    RegistryError,
    ServerError,
    StorageError,
    SyncError,
)
from mpc_lib.registry import RegistryDiff, RegistryStore, encode_registry, load_registry
from mpc_lib.sandbox import Fault, SandboxData
from mpc_lib.sandbox.modes import odd_comet, odd_fal


def _live(sandbox, outputs: Path, **changes) -> Settings:
    """Settings that reach the session sandbox the way they would reach the real APIs."""
    base = Settings(
        fal_key=Secret(sandbox.fal_key),
        comet_key=Secret(sandbox.comet_key),
        fal_base_url=sandbox.fal_url,
        comet_base_url=sandbox.comet_url,
        source="auto",
        outputs_dir=outputs,
        max_retries=1,
        retry_backoff_s=0.01,
    )
    return base.with_(**changes)


def _snapshot_state(outputs: Path) -> tuple[bytes, list[Path]]:
    store = RegistryStore(outputs)
    return store.path.read_bytes(), store.snapshots()


def test_full_sync_writes_registry_snapshot_and_diff(sandbox, tmp_path: Path) -> None:
    report = sync(_live(sandbox, tmp_path))
    n_fal, n_comet = len(sandbox.data.fal_models), len(sandbox.data.comet_models)
    assert report.status == "ok"
    assert report.sources == {"fal": "live", "comet": "live"}
    assert report.counts == {"fal": n_fal, "comet": n_comet}
    registry = load_registry(tmp_path / "registry" / "models.json")
    assert set(registry) == {"generated_at", "sources", "counts", "models"}
    assert registry["counts"] == {"fal": n_fal, "comet": n_comet}
    assert len(registry["models"]) == n_fal + n_comet
    assert registry["sources"]["fal"]["status"] == "ok"
    assert registry["sources"]["fal"]["prices"] == "live API"
    assert registry["sources"]["fal"]["priced"] == sum(
        1 for m in sandbox.data.fal_models if m["endpoint_id"] in sandbox.data.fal_prices
    )
    assert registry["sources"]["fal"]["unpriced"] == n_fal - registry["sources"]["fal"]["priced"]
    assert report.warnings == {"fal": [], "comet": []}
    assert registry["sources"]["comet"]["warnings"] == []
    assert "warning" not in report.summary() and report.model_dump(mode="json")["warnings"] == {}
    some = next(m for m in registry["models"] if m["provider"] == "fal" and m["pricing"])
    assert some["pricing"]["unit_price"] == sandbox.data.fal_prices[some["model_id"]]["unit_price"]
    assert report.snapshot_path is not None and report.snapshot_path.exists()
    assert json.loads(report.snapshot_path.read_text()) == registry
    assert len(report.diff.added) == n_fal + n_comet
    diff = json.loads((tmp_path / "registry" / "diff.json").read_text())
    assert len(diff["added"]) == n_fal + n_comet


def test_second_sync_reports_price_change_addition_and_removal(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    priced_id = next(
        m["endpoint_id"]
        for m in sandbox.data.fal_models
        if m["endpoint_id"] in sandbox.data.fal_prices
    )
    old_price = sandbox.data.fal_prices[priced_id]["unit_price"]
    sandbox.data.fal_prices[priced_id]["unit_price"] = old_price + 1.0
    removed = sandbox.data.comet_models.pop()
    sandbox.data.comet_models.append({**removed, "id": "brand-new-model"})

    report = sync(settings)
    assert report.diff.added == ["comet:brand-new-model"]
    assert report.diff.removed == [f"comet:{removed['id']}"]
    assert [(c.key, c.fields) for c in report.diff.changed] == [
        (f"fal:{priced_id}", {"pricing.unit_price": (old_price, old_price + 1.0)})
    ]
    assert f"price fal:{priced_id}: {old_price} -> {old_price + 1.0}" in report.summary()


def test_failed_provider_fails_the_sync_and_touches_nothing(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    before = _snapshot_state(tmp_path)
    sandbox.faults.add(Fault(kind="server_error", provider="comet", status=503, times=None))
    with pytest.raises(SyncError) as info:
        sync(settings)
    assert set(info.value.failures) == {"comet"}
    assert isinstance(info.value.failures["comet"], ServerError)
    assert "comet failed: comet: 503 GET" in str(info.value)
    assert _snapshot_state(tmp_path) == before


def test_first_sync_failing_writes_nothing(sandbox, tmp_path: Path) -> None:
    sandbox.faults.add(Fault(kind="repeat_cursor", provider="fal", times=None))
    with pytest.raises(SyncError) as info:
        sync(_live(sandbox, tmp_path))
    assert isinstance(info.value.failures["fal"], PaginationError)
    assert not (tmp_path / "registry" / "models.json").exists()
    assert RegistryStore(tmp_path).snapshots() == []


def test_allow_partial_keeps_previous_records_marked_stale(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    first = load_registry(sync(settings).registry_path)["sources"]["fal"]
    sandbox.faults.add(Fault(kind="drop", provider="fal", times=None))
    report = sync(settings, allow_partial=True)
    assert report.status == "ok"
    assert report.stale == ["fal"]
    assert (report.error or "").startswith("fal: no answer for GET /models")  # named once
    assert "fal: fal:" not in (report.error or "")
    assert report.diff == RegistryDiff()
    registry = load_registry(report.registry_path)
    fal = [m for m in registry["models"] if m["provider"] == "fal"]
    assert len(fal) == len(sandbox.data.fal_models) and all(m["stale"] for m in fal)
    assert not any(m["stale"] for m in registry["models"] if m["provider"] == "comet")
    kept = registry["sources"]["fal"]
    assert kept["status"] == "stale"
    assert "RemoteProtocolError" in kept["error"]
    # the kept records keep the label of the sync that fetched them
    assert (kept["source"], kept["fetched_at"], kept["prices"]) == (
        first["source"],
        first["fetched_at"],
        first["prices"],
    )
    assert kept["failed_attempt"]["source"] == "live"
    assert kept["failed_attempt"]["at"] > first["fetched_at"]
    assert report.model_dump(mode="json")["stale"] == ["fal"]


def test_prices_that_vanish_never_replace_the_previous_ones(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    had = load_registry(sync(settings).registry_path)["sources"]["fal"]["priced"]
    before = _snapshot_state(tmp_path)
    sandbox.data.fal_prices.clear()  # every pricing batch now answers 404
    with pytest.raises(SyncError) as info:
        sync(settings)
    assert str(info.value.failures["fal"]) == (
        f"fal: empty catalog from pricing: no price for any of {len(sandbox.data.fal_models)} "
        f"models where the previous sync had {had}; not replacing them"
    )
    assert _snapshot_state(tmp_path) == before


def test_single_provider_sync_carries_the_other_over(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    n_comet = len(sandbox.data.comet_models)
    sync(settings)
    sandbox.data.comet_models.clear()  # would remove every comet model if comet were synced
    report = sync(settings, providers=["fal"])
    assert report.counts == {"fal": len(sandbox.data.fal_models)}
    registry = load_registry(report.registry_path)
    assert registry["counts"]["comet"] == n_comet
    assert report.diff == RegistryDiff()


def test_snapshots_keep_the_newest_n(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path, snapshot_keep=2)
    paths = [sync(settings, providers=["comet"]).snapshot_path for _ in range(3)]
    assert RegistryStore(tmp_path).snapshots() == paths[1:]


def test_no_keys_means_the_in_process_sandbox(tmp_path: Path) -> None:
    report = sync(Settings(outputs_dir=tmp_path))
    generated = SandboxData.generate()
    assert report.sources == {"fal": "sandbox", "comet": "sandbox"}
    assert report.counts == {
        "fal": len(generated.fal_models),
        "comet": len(generated.comet_models),
    }
    registry = load_registry(report.registry_path)
    assert registry["sources"]["fal"]["source"] == "sandbox"
    assert registry["sources"]["comet"]["data"] == "generated"
    assert registry["sources"]["fal"]["prices"] == "generated"
    assert "emulator" in report.summary()


def test_unknown_provider_or_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown provider"):
        sync(Settings(outputs_dir=tmp_path), providers=["openai"])
    with pytest.raises(ConfigError, match="source 'sanbox': expected one of auto, live, sandbox"):
        sync(Settings(outputs_dir=tmp_path), source="sanbox")
    assert not (tmp_path / "registry").exists()


def test_real_2025_snapshot_served_by_the_sandbox(seed_registry: Path, tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, source="sandbox", sandbox_snapshot=seed_registry)
    report = sync(settings)
    assert report.counts == {"fal": 866, "comet": 568}
    registry = load_registry(report.registry_path)
    assert registry["sources"]["fal"]["data"] == f"snapshot {seed_registry}"
    # the seed's raw items carry no price: what the sandbox served is made up, and says so
    for name in ("fal", "comet"):
        assert (
            registry["sources"][name]["prices"] == f"synthetic prices over snapshot {seed_registry}"
        )
    fal = {m["model_id"]: m for m in registry["models"] if m["provider"] == "fal"}
    assert len({m["category"] for m in fal.values()}) == 21
    assert all(m["display_name"] for m in fal.values())


def test_an_emptied_catalog_never_replaces_the_previous_one(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    had = sync(settings).counts["comet"]
    before = _snapshot_state(tmp_path)
    sandbox.data.comet_models.clear()  # a valid answer with no models: the old hub wrote this
    with pytest.raises(SyncError) as info:
        sync(settings)
    assert str(info.value.failures["comet"]) == (
        f"comet: empty catalog from /v1/models: 0 models where the previous sync had "
        f"{had}; not replacing them"
    )
    assert _snapshot_state(tmp_path) == before
    partial = sync(settings, allow_partial=True)
    assert partial.stale == ["comet"]
    assert partial.counts["comet"] == had == len(SandboxData.generate().comet_models)


def test_a_corrupt_registry_is_named_and_left_alone(sandbox, tmp_path: Path) -> None:
    registry = tmp_path / "registry" / "models.json"
    registry.parent.mkdir(parents=True)
    registry.write_text('{"models": [\n  {"provider": "fal",,}\n]}\n')
    with pytest.raises(RegistryError, match=r"registry/models\.json:2:\d+: invalid JSON"):
        sync(_live(sandbox, tmp_path))
    assert registry.read_text() == '{"models": [\n  {"provider": "fal",,}\n]}\n'


def test_an_unwritable_outputs_dir_is_named(sandbox, tmp_path: Path) -> None:
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the outputs folder should be")
    with pytest.raises(StorageError, match=r"outputs/registry: cannot write the registry here"):
        sync(_live(sandbox, blocker))


def test_a_sync_that_lands_during_the_fetch_becomes_the_baseline(sandbox, tmp_path: Path) -> None:
    """The lock is not held while fetching; the registry is re-read before the commit."""
    settings = _live(sandbox, tmp_path)
    sync(settings, providers=["comet"])
    sandbox.faults.add(Fault("latency", provider="fal", latency_ms=800))  # a slow first page
    sandbox.data.comet_models.append({**sandbox.data.comet_models[0], "id": "landed-meanwhile"})
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(sync, settings, providers=["fal"])
        time.sleep(0.2)  # the FAL sync is fetching now; a comet sync commits meanwhile
        meanwhile = sync(settings, providers=["comet"])
        report = slow.result()
    assert meanwhile.diff.added == ["comet:landed-meanwhile"]
    keys = {
        f"{m['provider']}:{m['model_id']}" for m in load_registry(report.registry_path)["models"]
    }
    assert "comet:landed-meanwhile" in keys  # not lost by the slower sync's commit
    assert "comet:landed-meanwhile" not in report.diff.added
    assert len(report.diff.added) == len(sandbox.data.fal_models)


def test_restore_puts_the_newest_parsing_snapshot_back(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    first = sync(settings, providers=["comet"]).snapshot_path
    second = sync(settings, providers=["comet"]).snapshot_path
    store = RegistryStore(tmp_path)
    good = store.path.read_bytes()
    second.write_text("{broken")  # the newest snapshot is damaged too
    store.path.write_text('{"models": [\n  {"provider": "fal",,}\n]}\n')
    with pytest.raises(RegistryError, match=r"restore the newest snapshot \(models-.*\) with"):
        store.load()
    restored = store.restore()
    assert restored.snapshot == first
    assert load_registry(store.path)["counts"] == json.loads(good)["counts"]
    assert restored.replaced is not None and restored.replaced.parent == store.root / "replaced"
    assert restored.replaced.read_text().startswith('{"models": [\n  {"provider": "fal",,}')


def test_a_held_lock_times_out_with_a_clear_error(tmp_path: Path) -> None:
    from filelock import FileLock

    from mpc_lib.errors import RegistryLocked

    store = RegistryStore(tmp_path, lock_timeout_s=0.1)
    store.root.mkdir(parents=True)
    with FileLock(store.root / ".lock"), pytest.raises(RegistryLocked) as caught:
        sync(Settings(outputs_dir=tmp_path, lock_timeout_s=0.1), providers=["comet"])
    assert "another sync holds the lock (waited 0.1 s)" in str(caught.value)
    assert caught.value.exit_code == 1
    assert not store.path.exists()


# --- answers the real APIs can give ----------------------------------------------------


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _comet_prices_stated(catalog: list[dict[str, Any]]) -> dict[str, tuple | None]:
    """Per catalog id and code: (unit, unit price, output price) as numbers the entry states."""
    stated: dict[str, tuple | None] = {}
    for entry in catalog:
        price = entry.get("pricing") or {}
        tokens = (_number(price.get("input")), _number(price.get("output")))
        if tokens != (None, None):
            value: tuple | None = ("1M tokens", *tokens)
        elif _number(price.get("per_request")) is not None:
            value = ("request", price["per_request"], None)
        elif _number(price.get("per_second")) is not None:
            value = ("second", price["per_second"], None)
        else:
            value = None
        for key in (entry.get("id"), entry.get("code")):
            if key:
                stated.setdefault(key, value)
    return stated


def _pricing_requests(sandbox) -> list[tuple[list[str], int]]:
    return [
        (parse_qs(r.query)["endpoint_id"], r.status)
        for r in sandbox.requests("fal")
        if r.path == "/v1/models/pricing"
    ]


def test_strict_pricing_and_odd_comet_entries_keep_every_price(sandbox, tmp_path: Path) -> None:
    """Done-when of issue 5: a 404 per batch naming an unpriced id, and odd Comet entries."""
    sandbox.set_modes(fal_pricing="strict", comet_odd_entries=True)
    report = sync(_live(sandbox, tmp_path))
    assert report.status == "ok" and report.errors == {}
    registry = load_registry(report.registry_path)
    records = {(m["provider"], m["model_id"]): m for m in registry["models"]}

    prices = sandbox.data.fal_prices
    fal_ids = [m["endpoint_id"] for m in sandbox.data.fal_models]
    assert {i: records["fal", i]["pricing"] for i in fal_ids} == {
        i: (
            {
                "unit_price": prices[i]["unit_price"],
                "unit": prices[i]["unit"],
                "currency": prices[i]["currency"],
                "output_unit_price": None,
            }
            if i in prices
            else None
        )
        for i in fal_ids
    }
    unpriced = {i for i in fal_ids if i not in prices}
    assert unpriced  # the strict 404s really happened
    calls = _pricing_requests(sandbox)
    assert sorted(ids[0] for ids, status in calls if status == 404 and len(ids) == 1) == sorted(
        unpriced
    )
    batches = [fal_ids[start : start + 50] for start in range(0, len(fal_ids), 50)]
    bound = sum(
        1 + 2 * len(set(batch) & unpriced) * math.ceil(math.log2(len(batch))) for batch in batches
    )
    assert len(batches) < len(calls) <= bound

    odd_catalog, _ = odd_comet(sandbox.data.comet_catalog, sandbox.data.comet_models)
    stated = _comet_prices_stated(odd_catalog)
    for model in sandbox.data.comet_models:
        pricing = records["comet", model["id"]]["pricing"]
        got = pricing and (pricing["unit"], pricing["unit_price"], pricing["output_unit_price"])
        assert got == stated.get(model["id"]), model["id"]  # no price invented, none lost
    output_only = [
        m for m in registry["models"] if m["pricing"] and m["pricing"]["unit_price"] is None
    ]
    assert len(output_only) == 2  # "free" was dropped, not read as 0; and the output-only entry
    assert all(m["pricing"]["output_unit_price"] > 0 for m in output_only)

    assert report.warnings["fal"] == []
    comet_warnings = report.warnings["comet"]
    assert len(comet_warnings) == 5
    assert sum("dropped" in w for w in comet_warnings) == 3
    assert sum("no usable id" in w for w in comet_warnings) == 2
    source = registry["sources"]["comet"]
    assert (source["warnings"], source["warnings_count"]) == (comet_warnings, 5)
    shown = report.model_dump(mode="json")["warnings"]
    assert shown == {"comet": {"count": 5, "first": comet_warnings[:3]}}
    assert "comet: 5 warning(s)" in report.summary()


def _fal_prices_stated(prices: dict[str, dict[str, Any]]) -> dict[str, tuple]:
    """Per endpoint id: (unit price, unit, currency) of the price items that state all of them."""
    return {
        endpoint_id: (item["unit_price"], item["unit"], item["currency"])
        for endpoint_id, item in prices.items()
        if item.get("endpoint_id") == endpoint_id
        and _number(item.get("unit_price")) is not None
        and item["unit_price"] >= 0
        and isinstance(item.get("unit"), str)
        and isinstance(item.get("currency"), str)
    }


@pytest.mark.parametrize("pricing", ["lenient", "strict"])
def test_odd_fal_and_comet_entries_are_kept_and_reported(
    sandbox, tmp_path: Path, pricing: str
) -> None:
    """Done-when of issue 15: one odd entry, of either provider, never rejects the others."""
    sandbox.set_modes(fal_odd_entries=True, comet_odd_entries=True, fal_pricing=pricing)
    report = sync(_live(sandbox, tmp_path))
    assert report.status == "ok" and report.errors == {}
    registry = load_registry(report.registry_path)
    records = {(m["provider"], m["model_id"]): m for m in registry["models"]}

    # FAL: every model with an id is kept, every price that parses is kept, none is made up
    odd_models, odd_prices = odd_fal(sandbox.data.fal_models, sandbox.data.fal_prices)
    fal_ids = [m["endpoint_id"] for m in sandbox.data.fal_models]
    assert sorted(i for provider, i in records if provider == "fal") == sorted(fal_ids)
    stated = _fal_prices_stated(odd_prices)
    got = {
        i: (r["pricing"]["unit_price"], r["pricing"]["unit"], r["pricing"]["currency"])
        for (provider, i), r in records.items()
        if provider == "fal" and r["pricing"]
    }
    assert got == stated
    lost = sorted(set(sandbox.data.fal_prices) - set(stated))
    assert len(lost) == 3  # the three odd price entries, and nothing else
    pairs = zip(sandbox.data.fal_models, odd_models, strict=False)
    odd_listed = [new["endpoint_id"] for old, new in pairs if old != new]
    assert len(odd_listed) == 2
    for endpoint_id in odd_listed:  # an odd field costs that field, not the record or its price
        record = records["fal", endpoint_id]
        assert record["pricing"] is not None and "tags" not in record["meta"]
        original = next(m for m in sandbox.data.fal_models if m["endpoint_id"] == endpoint_id)
        assert record["display_name"] == original["metadata"]["display_name"]
        assert record["category"] == original["metadata"]["category"]

    fal_warnings = report.warnings["fal"]
    assert len(fal_warnings) == 6
    for endpoint_id in odd_listed:
        assert sum(f"entry {endpoint_id!r}: dropped metadata.tags:" in w for w in fal_warnings) == 1
    named = [i for i in lost if odd_prices[i].get("endpoint_id") == i]
    assert len(named) == 2  # the third odd price has no id to name
    for endpoint_id in named:
        assert sum(f"entry {endpoint_id!r}: skipped: unit_price:" in w for w in fal_warnings) == 1
    assert sum("skipped: no usable endpoint_id (missing)" in w for w in fal_warnings) == 2
    assert any('(metadata.display_name "No Id Model")' in w for w in fal_warnings)

    # Comet: every stated price kept, as stated; `pricing: null` and output-only kept as sent
    odd_catalog, _ = odd_comet(sandbox.data.comet_catalog, sandbox.data.comet_models)
    comet_stated = _comet_prices_stated(odd_catalog)
    for model in sandbox.data.comet_models:
        price = records["comet", model["id"]]["pricing"]
        got_comet = price and (price["unit"], price["unit_price"], price["output_unit_price"])
        assert got_comet == comet_stated.get(model["id"]), model["id"]
    comet_warnings = report.warnings["comet"]
    assert [w.split(": dropped ")[1].split(": ")[0] for w in comet_warnings if "dropped" in w] == [
        "features",
        "context_length",
        "pricing.input",
    ]
    assert all(w.startswith("/api/models entry '") for w in comet_warnings if "dropped" in w)
    assert sum("no usable id" in w for w in comet_warnings) == 2

    # the registry keeps them, the summary shows the count and the first few
    for name, found in report.warnings.items():
        source = registry["sources"][name]
        assert (source["warnings"], source["warnings_count"]) == (found, len(found))
        assert source["status"] == "ok"
    shown = report.model_dump(mode="json")["warnings"]
    assert shown == {
        "fal": {"count": 6, "first": fal_warnings[:3]},
        "comet": {"count": 5, "first": comet_warnings[:3]},
    }
    summary = report.summary()
    assert "fal: 6 warning(s)" in summary and "comet: 5 warning(s)" in summary
    assert f"  {fal_warnings[0]}" in summary and "  ... 3 more in the registry" in summary


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            Fault("malformed", provider="fal", path="/v1/models$", times=None),
            "fal: malformed answer from /models: body is not valid JSON",
        ),
        (
            Fault("wrong_shape", provider="fal", path="/v1/models$", times=None),
            "fal: malformed answer from /models: models: Field required",
        ),
        (
            Fault("wrong_shape", provider="fal", path="/v1/models/pricing", times=None),
            "fal: malformed answer from /models/pricing: prices: Field required",
        ),
        (
            Fault("repeat_cursor", provider="fal", times=None),
            "fal: broken pagination from /models: cursor",
        ),
    ],
    ids=["listing-not-json", "listing-without-models", "pricing-without-prices", "looping-cursor"],
)
def test_a_malformed_envelope_fails_the_provider_and_touches_nothing(
    sandbox, tmp_path: Path, fault: Fault, message: str
) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    before = _snapshot_state(tmp_path)
    sandbox.set_modes(fal_odd_entries=True)  # odd entries alone would not fail it
    sandbox.faults.add(fault)
    with pytest.raises(SyncError) as info:
        sync(settings)
    assert set(info.value.failures) == {"fal"}
    assert str(info.value.failures["fal"]).startswith(message)
    assert _snapshot_state(tmp_path) == before


def test_comet_records_keep_created_and_type_in_meta(sandbox, tmp_path: Path) -> None:
    registry = load_registry(sync(_live(sandbox, tmp_path)).registry_path)
    comet = [m for m in registry["models"] if m["provider"] == "comet"]
    assert all(m["updated_at"] is None for m in comet)
    created = {m["id"]: m["created"] for m in sandbox.data.comet_models}
    assert all(m["meta"]["created"] == created[m["model_id"]] for m in comet)
    assert {m["category"] for m in comet} == {"llm", None}  # FAL's vocabulary only
    assert all((m["category"] == "llm") == (m["meta"].get("model_type") == "text") for m in comet)


def test_warnings_are_capped_in_the_registry(sandbox, tmp_path: Path) -> None:
    for entry in sandbox.data.comet_catalog[:60]:
        entry["context_length"] = "128k"
    report = sync(_live(sandbox, tmp_path))
    found = report.warnings["comet"]
    assert len(found) == 60 and all('dropped context_length: "128k"' in w for w in found)
    source = load_registry(report.registry_path)["sources"]["comet"]
    assert (source["warnings"], source["warnings_count"]) == (found[:50], 60)
    assert report.model_dump(mode="json")["warnings"]["comet"] == {"count": 60, "first": found[:3]}
    summary = report.summary()
    assert "comet: 60 warning(s)" in summary and "... 57 more in the registry" in summary


def test_has_more_on_pricing_is_reported_not_silently_partial(sandbox, tmp_path: Path) -> None:
    sandbox.set_modes(fal_pricing_page_size=45)
    report = sync(_live(sandbox, tmp_path))
    prices = sandbox.data.fal_prices
    fal_ids = [m["endpoint_id"] for m in sandbox.data.fal_models]
    batches = [fal_ids[start : start + 50] for start in range(0, len(fal_ids), 50)]
    served = {i for batch in batches for i in [i for i in batch if i in prices][:45]}
    cut = sum(len([i for i in batch if i in prices]) > 45 for batch in batches)
    assert cut > 0
    assert len(report.warnings["fal"]) == cut
    assert all("has_more=true" in w for w in report.warnings["fal"])
    registry = load_registry(report.registry_path)
    priced = {m["model_id"] for m in registry["models"] if m["provider"] == "fal" and m["pricing"]}
    assert priced == served  # the rest stay unpriced: nothing made up
    assert registry["sources"]["fal"]["warnings_count"] == cut


def test_a_non_404_client_error_on_pricing_fails_the_sync(sandbox, tmp_path: Path) -> None:
    sandbox.faults.add(
        Fault("server_error", provider="fal", path="/v1/models/pricing", status=400, times=None)
    )
    with pytest.raises(SyncError) as info:
        sync(_live(sandbox, tmp_path))
    failure = info.value.failures["fal"]
    assert isinstance(failure, ProviderError) and failure.status == 400
    assert not (tmp_path / "registry" / "models.json").exists()


def test_a_registry_snapshot_serves_its_own_prices(sandbox, tmp_path: Path) -> None:
    first = sync(_live(sandbox, tmp_path / "first"))
    assert first.registry_path is not None
    settings = Settings(
        outputs_dir=tmp_path / "second", source="sandbox", sandbox_snapshot=first.registry_path
    )
    second = load_registry(sync(settings).registry_path)
    for name in ("fal", "comet"):
        assert second["sources"][name]["prices"] == f"snapshot {first.registry_path}"
    before = load_registry(first.registry_path)
    fal_prices = {m["model_id"]: m["pricing"] for m in before["models"] if m["provider"] == "fal"}
    assert {
        m["model_id"]: m["pricing"] for m in second["models"] if m["provider"] == "fal"
    } == fal_prices


def test_the_registry_head_gives_the_counts_without_a_full_parse(sandbox, tmp_path: Path) -> None:
    report = sync(_live(sandbox, tmp_path))
    store = RegistryStore(tmp_path)
    assert store.peek_counts() == report.counts
    store.path.write_text("{not json\n")
    assert store.peek_counts() == {}
    assert RegistryStore(tmp_path / "none").peek_counts() == {}


# --- the sandbox never taken for the world: one kind of source per provider -----------------


def test_the_registry_records_the_kind_of_source_per_provider(sandbox, tmp_path: Path) -> None:
    live = load_registry(sync(_live(sandbox, tmp_path / "live")).registry_path)
    assert {name: entry["kind"] for name, entry in live["sources"].items()} == {
        "fal": "live", "comet": "live",
    }  # fmt: skip
    mixed = load_registry(sync(_live(sandbox, tmp_path / "mixed", fal_key=None)).registry_path)
    assert mixed["sources"]["fal"]["kind"] == "sandbox"  # no FAL key: the in-process sandbox
    assert mixed["sources"]["comet"]["kind"] == "live"


def test_a_sandbox_sync_over_live_records_is_refused_and_touches_nothing(
    sandbox, tmp_path: Path
) -> None:
    sync(_live(sandbox, tmp_path))
    before = _snapshot_state(tmp_path)
    diff_before = (tmp_path / "registry" / "diff.json").read_bytes()
    on_sandbox = Settings(outputs_dir=tmp_path, source="sandbox")
    with pytest.raises(ConfigError) as refused:
        sync(on_sandbox)
    message = str(refused.value)
    assert message.startswith("sync refused, registry left untouched. ")
    assert "fal: the registry holds live records, this sync fetched sandbox ones" in message
    assert "comet: the registry holds live records" in message
    assert "--replace" in message and "-p replace true" in message
    assert refused.value.exit_code == 2
    # one provider alone is refused the same; an empty registry for it would not be
    with pytest.raises(ConfigError, match="comet: the registry holds live records"):
        sync(on_sandbox, providers=["comet"])
    with pytest.raises(ConfigError, match="fal: the registry holds live records"):
        sync(on_sandbox, allow_partial=True)  # allow_partial is about failures, not kinds
    assert _snapshot_state(tmp_path) == before
    assert (tmp_path / "registry" / "diff.json").read_bytes() == diff_before


def test_replace_keeps_the_replaced_registry_in_the_snapshots(sandbox, tmp_path: Path) -> None:
    """Even with one snapshot kept, the registry a replace replaced stays restorable."""
    live = sync(_live(sandbox, tmp_path, snapshot_keep=1))
    live_bytes = (tmp_path / "registry" / "models.json").read_bytes()
    on_sandbox = Settings(outputs_dir=tmp_path, source="sandbox", snapshot_keep=1)
    report = sync(on_sandbox, providers=["fal"], replace=True)
    assert report.replaced == {"fal": "live"}
    assert report.replaced_snapshot == live.snapshot_path
    assert report.replaced_snapshot is not None
    assert report.replaced_snapshot.read_bytes() == live_bytes
    assert f"fal: replaced its live records (the registry before: {live.snapshot_path}" in (
        report.summary()
    )
    assert report.model_dump(mode="json")["replaced"] == {"fal": "live"}
    registry = load_registry(report.registry_path)
    assert (registry["sources"]["fal"]["kind"], registry["sources"]["comet"]["kind"]) == (
        "sandbox", "live",
    )  # fmt: skip
    assert RegistryStore(tmp_path).snapshots() == [live.snapshot_path, report.snapshot_path]
    # and back: the live sync over the sandbox's records is refused in turn
    with pytest.raises(ConfigError, match="fal: the registry holds sandbox records, this sync "
                                          "fetched live ones"):  # fmt: skip
        sync(_live(sandbox, tmp_path))
    # a sync of the same kind needs nothing
    assert sync(on_sandbox, providers=["fal"]).replaced == {}


def test_a_replaced_registry_that_is_no_snapshot_is_copied_first(sandbox, tmp_path: Path) -> None:
    sync(_live(sandbox, tmp_path))
    store = RegistryStore(tmp_path)
    for snapshot in store.snapshots():
        snapshot.unlink()  # e.g. a registry copied in by hand
    live_bytes = store.path.read_bytes()
    report = sync(Settings(outputs_dir=tmp_path, source="sandbox"), replace=True)
    assert report.replaced == {"fal": "live", "comet": "live"}
    assert report.replaced_snapshot is not None
    assert report.replaced_snapshot.read_bytes() == live_bytes
    assert store.snapshots() == [report.replaced_snapshot, report.snapshot_path]


def test_records_of_unknown_kind_are_not_replaced_unasked(sandbox, tmp_path: Path) -> None:
    """A registry from before kinds were recorded, synced through the gateway: unknown."""
    sync(_live(sandbox, tmp_path))
    store = RegistryStore(tmp_path)
    old = load_registry(store.path)
    for entry in old["sources"].values():
        entry["source"], entry["data"] = "gateway", "gateway http://127.0.0.1:4000"
        del entry["kind"]
    store.path.write_bytes(encode_registry(old))
    with pytest.raises(ConfigError, match="the registry holds unknown records, this sync fetched "
                                          "live ones"):  # fmt: skip
        sync(_live(sandbox, tmp_path))
    assert sync(_live(sandbox, tmp_path), replace=True).replaced == {
        "fal": "unknown", "comet": "unknown",
    }  # fmt: skip
