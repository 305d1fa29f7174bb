"""sync_catalog end to end over loopback: files, diffs, failure semantics, partial syncs."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mpc_lib.catalog import sync_catalog
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import (
    ConfigError,
    PaginationError,
    RegistryError,
    ServerError,
    StorageError,
    SyncError,
)
from mpc_lib.registry import RegistryStore, load_registry
from mpc_lib.sandbox import Fault


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
    report = sync_catalog(_live(sandbox, tmp_path))
    n_fal, n_comet = len(sandbox.data.fal_models), len(sandbox.data.comet_models)
    assert report.status == "ok"
    assert report.sources == {"fal": "live", "comet": "live"}
    assert report.counts == {"fal": n_fal, "comet": n_comet}
    registry = load_registry(tmp_path / "registry" / "models.json")
    assert set(registry) == {"generated_at", "sources", "counts", "models"}
    assert registry["counts"] == {"fal": n_fal, "comet": n_comet}
    assert len(registry["models"]) == n_fal + n_comet
    assert registry["sources"]["fal"]["status"] == "ok"
    assert registry["sources"]["fal"]["priced"] == sum(
        1 for m in sandbox.data.fal_models if m["endpoint_id"] in sandbox.data.fal_prices
    )
    some = next(m for m in registry["models"] if m["provider"] == "fal" and m["pricing"])
    assert some["pricing"]["unit_price"] == sandbox.data.fal_prices[some["model_id"]]["unit_price"]
    assert report.snapshot_path is not None and report.snapshot_path.exists()
    assert json.loads(report.snapshot_path.read_text()) == registry
    assert len(report.diff.added) == n_fal + n_comet
    diff = json.loads((tmp_path / "registry" / "diff.json").read_text())
    assert len(diff["added"]) == n_fal + n_comet


def test_second_sync_reports_price_change_addition_and_removal(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync_catalog(settings)
    priced_id = next(
        m["endpoint_id"]
        for m in sandbox.data.fal_models
        if m["endpoint_id"] in sandbox.data.fal_prices
    )
    old_price = sandbox.data.fal_prices[priced_id]["unit_price"]
    sandbox.data.fal_prices[priced_id]["unit_price"] = old_price + 1.0
    removed = sandbox.data.comet_models.pop()
    sandbox.data.comet_models.append({**removed, "id": "brand-new-model"})

    report = sync_catalog(settings)
    assert report.diff.added == ["comet:brand-new-model"]
    assert report.diff.removed == [f"comet:{removed['id']}"]
    assert [(c.key, c.fields) for c in report.diff.changed] == [
        (f"fal:{priced_id}", {"pricing.unit_price": (old_price, old_price + 1.0)})
    ]
    assert f"price fal:{priced_id}: {old_price} -> {old_price + 1.0}" in report.summary()


def test_failed_provider_fails_the_sync_and_touches_nothing(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync_catalog(settings)
    before = _snapshot_state(tmp_path)
    sandbox.faults.add(Fault(kind="server_error", provider="comet", status=503, times=None))
    with pytest.raises(SyncError) as info:
        sync_catalog(settings)
    assert set(info.value.failures) == {"comet"}
    assert isinstance(info.value.failures["comet"], ServerError)
    assert "comet failed: comet: 503 GET" in str(info.value)
    assert _snapshot_state(tmp_path) == before


def test_first_sync_failing_writes_nothing(sandbox, tmp_path: Path) -> None:
    sandbox.faults.add(Fault(kind="repeat_cursor", provider="fal", times=None))
    with pytest.raises(SyncError) as info:
        sync_catalog(_live(sandbox, tmp_path))
    assert isinstance(info.value.failures["fal"], PaginationError)
    assert not (tmp_path / "registry" / "models.json").exists()
    assert RegistryStore(tmp_path).snapshots() == []


def test_allow_partial_keeps_previous_records_marked_stale(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync_catalog(settings)
    sandbox.faults.add(Fault(kind="drop", provider="fal", times=None))
    report = sync_catalog(settings, allow_partial=True)
    assert report.status == "ok"
    assert report.stale == ["fal"]
    assert "fal" in (report.error or "")
    assert report.diff.is_empty
    registry = load_registry(report.registry_path)
    fal = [m for m in registry["models"] if m["provider"] == "fal"]
    assert len(fal) == len(sandbox.data.fal_models) and all(m["stale"] for m in fal)
    assert not any(m["stale"] for m in registry["models"] if m["provider"] == "comet")
    assert registry["sources"]["fal"]["status"] == "stale"
    assert "RemoteProtocolError" in registry["sources"]["fal"]["error"]
    assert report.to_json()["stale"] == ["fal"]


def test_single_provider_sync_carries_the_other_over(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync_catalog(settings)
    sandbox.data.comet_models.clear()  # would remove every comet model if comet were synced
    report = sync_catalog(settings, providers=["fal"])
    assert report.counts == {"fal": len(sandbox.data.fal_models)}
    registry = load_registry(report.registry_path)
    assert registry["counts"]["comet"] > 500
    assert report.diff.is_empty


def test_snapshots_keep_the_newest_n(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path, snapshot_keep=2)
    paths = [sync_catalog(settings, providers=["comet"]).snapshot_path for _ in range(3)]
    assert RegistryStore(tmp_path).snapshots() == paths[1:]


def test_no_keys_means_the_in_process_sandbox(tmp_path: Path) -> None:
    report = sync_catalog(Settings(outputs_dir=tmp_path))
    assert report.sources == {"fal": "sandbox", "comet": "sandbox"}
    assert report.counts["fal"] > 800 and report.counts["comet"] > 500
    registry = load_registry(report.registry_path)
    assert registry["sources"]["fal"]["source"] == "sandbox"
    assert registry["sources"]["comet"]["data"] == "generated"
    assert "emulator" in report.summary()


def test_unknown_provider_or_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown provider"):
        sync_catalog(Settings(outputs_dir=tmp_path), providers=["openai"])
    with pytest.raises(ConfigError, match="source 'sanbox': expected one of auto, live, sandbox"):
        sync_catalog(Settings(outputs_dir=tmp_path), source="sanbox")
    assert not (tmp_path / "registry").exists()


def test_real_2025_snapshot_served_by_the_sandbox(seed_registry: Path, tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, source="sandbox", sandbox_snapshot=seed_registry)
    report = sync_catalog(settings)
    assert report.counts == {"fal": 866, "comet": 568}
    registry = load_registry(report.registry_path)
    assert registry["sources"]["fal"]["data"] == f"snapshot {seed_registry}"
    fal = {m["model_id"]: m for m in registry["models"] if m["provider"] == "fal"}
    assert len({m["category"] for m in fal.values()}) == 21
    assert all(m["display_name"] for m in fal.values())


def test_an_emptied_catalog_never_replaces_the_previous_one(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    had = sync_catalog(settings).counts["comet"]
    before = _snapshot_state(tmp_path)
    sandbox.data.comet_models.clear()  # a valid answer with no models: the old hub wrote this
    with pytest.raises(SyncError) as info:
        sync_catalog(settings)
    assert str(info.value.failures["comet"]) == (
        f"comet: empty catalog from /v1/models: 0 models where the previous sync had "
        f"{had}; not replacing them"
    )
    assert _snapshot_state(tmp_path) == before
    partial = sync_catalog(settings, allow_partial=True)
    assert partial.stale == ["comet"]
    assert partial.counts["comet"] == had > 500


def test_a_corrupt_registry_is_named_and_left_alone(sandbox, tmp_path: Path) -> None:
    registry = tmp_path / "registry" / "models.json"
    registry.parent.mkdir(parents=True)
    registry.write_text('{"models": [\n  {"provider": "fal",,}\n]}\n')
    with pytest.raises(RegistryError, match=r"registry/models\.json:2:\d+: invalid JSON"):
        sync_catalog(_live(sandbox, tmp_path))
    assert registry.read_text() == '{"models": [\n  {"provider": "fal",,}\n]}\n'


def test_an_unwritable_outputs_dir_is_named(sandbox, tmp_path: Path) -> None:
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the outputs folder should be")
    with pytest.raises(StorageError, match=r"outputs/registry: cannot write the registry here"):
        sync_catalog(_live(sandbox, blocker))


def test_a_sync_that_lands_during_the_fetch_becomes_the_baseline(sandbox, tmp_path: Path) -> None:
    """The lock is not held while fetching; the registry is re-read before the commit."""
    settings = _live(sandbox, tmp_path)
    sync_catalog(settings, providers=["comet"])
    sandbox.faults.add(Fault("latency", provider="fal", latency_ms=800))  # a slow first page
    sandbox.data.comet_models.append({**sandbox.data.comet_models[0], "id": "landed-meanwhile"})
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(sync_catalog, settings, providers=["fal"])
        time.sleep(0.2)  # the FAL sync is fetching now; a comet sync commits meanwhile
        meanwhile = sync_catalog(settings, providers=["comet"])
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
    first = sync_catalog(settings, providers=["comet"]).snapshot_path
    second = sync_catalog(settings, providers=["comet"]).snapshot_path
    store = RegistryStore(tmp_path)
    good = store.path.read_bytes()
    second.write_text("{broken")  # the newest snapshot is damaged too
    store.path.write_text('{"models": [\n  {"provider": "fal",,}\n]}\n')
    with pytest.raises(RegistryError, match=r"restore the newest snapshot \(models-.*\) with"):
        store.load()
    assert store.restore() == first
    assert load_registry(store.path)["counts"] == json.loads(good)["counts"]
    assert (store.root / "models.json.broken").read_text().startswith('{"models": [')


def test_a_held_lock_times_out_with_a_clear_error(tmp_path: Path) -> None:
    from filelock import FileLock

    from mpc_lib.errors import RegistryLocked

    store = RegistryStore(tmp_path, lock_timeout_s=0.1)
    store.root.mkdir(parents=True)
    with FileLock(store.root / ".lock"), pytest.raises(RegistryLocked) as caught:
        sync_catalog(Settings(outputs_dir=tmp_path, lock_timeout_s=0.1), providers=["comet"])
    assert "another sync holds the lock (waited 0.1 s)" in str(caught.value)
    assert caught.value.exit_code == 1
    assert not store.path.exists()
