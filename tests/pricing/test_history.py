"""Price history and changes over synthetic snapshot sequences written as syncs write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pricing_helpers import record

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError, RegistryError
from mpc_lib.pricing import price_changes, price_history, registry_snapshots
from mpc_lib.registry import RegistryStore


def _day(n: int) -> list[dict[str, Any]]:
    """Five syncs, one day apart: each model's price moves one way."""
    a = [0.10, 0.12, 0.12, 0.12, 0.12][n]  # up 20% on day 1
    b = [0.20, 0.20, 0.15, 0.15, 0.15][n]  # down 25% on day 2
    e = [0.30, 0.35, 0.30, 0.30, 0.30][n]  # up, then back: no net change
    models = [
        record("fal", "x/a", "image", a),
        record("fal", "x/b", "image", b),
        record("fal", "x/c") if n < 2 else record("fal", "x/c", "image", 0.05),  # newly priced
        record("fal", "x/d", "video_second", 0.5) if n < 2 else record("fal", "x/d", "video", 2.0),
        record("fal", "x/e", "image", e),
        record("fal", "x/f", "image", 0.4) if n < 4 else record("fal", "x/f"),  # unpriced on day 4
        record("comet", "chat", "1M tokens", 2.0, output=8.0 if n < 2 else 10.0),
    ]
    if n < 2:
        models.append(record("fal", "x/gone", "image", 1.0))  # removed on day 2
    else:
        models.append(record("fal", "x/new", "image", 0.07))  # a new model, priced
    if n == 3:
        models[0]["description"] = "only the description changed"
    return models


@pytest.fixture
def five_syncs(commit) -> list[Path]:
    return [commit(_day(n), day=n) for n in range(5)]


def _kinds(changes) -> dict[str, str]:
    return {change.key: change.kind for change in changes.changes}


def test_changes_since_a_date_cover_every_kind(settings: Settings, five_syncs) -> None:
    changes = price_changes(settings, "2026-11-01")  # the day of the first sync
    assert changes.base == five_syncs[0].name and changes.head == five_syncs[-1].name
    assert changes.snapshots == 5
    assert _kinds(changes) == {
        "fal:x/a": "up",
        "fal:x/b": "down",
        "comet:chat": "up",
        "fal:x/d": "unit changed",
        "fal:x/c": "newly priced",
        "fal:x/new": "newly priced",
        "fal:x/f": "no longer priced",
        "fal:x/gone": "no longer priced",
    }
    by_key = {change.key: change for change in changes.changes}
    assert by_key["fal:x/a"].pct == pytest.approx(20.0)
    assert by_key["fal:x/a"].when == ("2026-11-02T12:00:00.000000Z",)
    assert by_key["fal:x/b"].pct == pytest.approx(-25.0)
    assert by_key["fal:x/b"].old.unit_price == 0.20 and by_key["fal:x/b"].new.unit_price == 0.15
    assert by_key["fal:x/d"].old.unit == "video second" and by_key["fal:x/d"].new.unit == "video"
    assert by_key["fal:x/gone"].new.present is False
    assert by_key["fal:x/new"].old.present is False and by_key["fal:x/new"].new.priced
    assert by_key["fal:x/c"].old.present and not by_key["fal:x/c"].old.priced
    assert by_key["comet:chat"].pct == pytest.approx(25.0)  # the output price moved, 8 -> 10
    assert by_key["comet:chat"].new.output_unit_price == 10.0
    assert changes.reverted == 1  # x/e went up and came back
    assert changes.by_kind() == {
        "up": 2, "down": 1, "unit changed": 1, "newly priced": 2, "no longer priced": 2
    }  # fmt: skip
    text = changes.summary()
    assert "1 model(s) changed and changed back (not listed)" in text
    assert "fal:x/a" in text and "+20.0%" in text


def test_by_default_changes_are_what_the_last_sync_changed(settings: Settings, five_syncs) -> None:
    changes = price_changes(settings)
    assert (changes.base, changes.head) == (five_syncs[3].name, five_syncs[4].name)
    assert _kinds(changes) == {"fal:x/f": "no longer priced"}
    assert changes.changes[0].when == ("2026-11-05T12:00:00.000000Z",)


def test_since_a_snapshot_name_or_path(settings: Settings, five_syncs) -> None:
    by_name = price_changes(settings, five_syncs[1].name)
    by_path = price_changes(settings, str(five_syncs[1]))
    assert by_name.base == by_path.base == five_syncs[1].name
    assert _kinds(by_name) == _kinds(by_path)
    assert "fal:x/a" not in _kinds(by_name)  # its change happened before day 1's sync
    assert _kinds(by_name)["fal:x/e"] == "down"  # 0.35 on day 1 -> 0.30


def test_since_before_every_snapshot_says_so(settings: Settings, five_syncs) -> None:
    changes = price_changes(settings, "2020-01-01")
    assert changes.base == five_syncs[0].name
    assert changes.note is not None and "no snapshot as old as 2020-01-01" in changes.note


def test_a_bad_since_is_a_config_error(settings: Settings, five_syncs) -> None:
    with pytest.raises(ConfigError, match=r"--since 'last tuesday': expected a date") as info:
        price_changes(settings, "last tuesday")
    assert info.value.exit_code == 2


def test_a_model_history_is_a_timeline_of_runs(settings: Settings, five_syncs) -> None:
    history = price_history(settings, "x/a")
    assert history.key == "fal:x/a" and len(history.points) == 5
    runs = history.timeline()
    assert [(run["point"].unit_price, run["snapshots"], run["change"]) for run in runs] == [
        (0.10, 1, "first seen"),
        (0.12, 4, "up"),  # the description change on day 3 is not a price change
    ]
    assert runs[1]["pct"] == pytest.approx(20.0)
    assert runs[1]["from"].startswith("2026-11-02") and runs[1]["to"].startswith("2026-11-05")
    data = history.model_dump(mode="json")
    assert data["timeline"][1]["unit_price"] == 0.12 and data["snapshots"] == 5
    assert data["prices"]["fal"]["label"] == "live API"
    assert history.summary().endswith("prices: fal: live API, fetched 2026-11-05T12:00:00.000000Z")


def test_history_of_a_unit_change_and_of_a_removed_model(settings: Settings, five_syncs) -> None:
    unit = price_history(settings, "x/d").timeline()
    assert [(r["point"].unit, r["point"].unit_price, r["change"], r["pct"]) for r in unit] == [
        ("video second", 0.5, "first seen", None),
        ("video", 2.0, "unit changed", None),  # no % between a second and a video
    ]
    gone = price_history(settings, "x/gone")  # no longer in models.json: found in the snapshots
    assert [(r["point"].present, r["change"]) for r in gone.timeline()] == [
        (True, "first seen"),
        (False, "no longer priced"),
    ]
    assert "not listed" in gone.summary()


def test_an_unknown_model_id_gets_close_matches(settings: Settings, five_syncs) -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'x/nw'; did you mean x/new"):
        price_history(settings, "x/nw")


def test_snapshots_in_another_layout_give_the_same_answers(settings: Settings, five_syncs) -> None:
    expected = price_changes(settings, "2026-11-01").model_dump(mode="json")
    history = price_history(settings, "x/b").model_dump(mode="json")
    for path in five_syncs[1:3]:  # rewrite two in another layout: the answers are the same
        registry = json.loads(path.read_text())
        path.write_text(json.dumps(registry, indent=2, sort_keys=True, ensure_ascii=True))
    assert price_changes(settings, "2026-11-01").model_dump(mode="json") == expected
    assert price_history(settings, "x/b").model_dump(mode="json") == history


def test_a_broken_snapshot_is_a_registry_error_naming_the_place(
    settings: Settings, five_syncs
) -> None:
    text = five_syncs[2].read_text()
    five_syncs[2].write_text(text.replace('"model_id": "x/b"', '"model_id" "x/b"', 1))
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"x/b"' in row)
    with pytest.raises(RegistryError, match=rf"{five_syncs[2].name}:{line}:\d+: invalid JSON"):
        price_changes(settings, "2026-11-01")
    with pytest.raises(RegistryError, match=rf"{five_syncs[2].name}:{line}:\d+: invalid JSON"):
        price_history(settings, "x/a")


def test_a_restored_models_json_counts_as_the_newest_state(settings: Settings, five_syncs) -> None:
    RegistryStore(settings.outputs_dir).restore(five_syncs[0])
    assert [s.label for s in registry_snapshots(settings)][-1] == "models.json"
    changes = price_changes(settings)  # newest snapshot -> the restored day-0 registry
    assert _kinds(changes)["fal:x/a"] == "down"


def test_no_snapshots_yet(settings: Settings) -> None:
    with pytest.raises(RegistryError, match="no registry snapshots yet"):
        price_changes(settings)
    with pytest.raises(RegistryError, match="no registry snapshots yet"):
        price_history(settings, "x/a")


def test_one_snapshot_is_nothing_to_compare(settings: Settings, commit) -> None:
    commit(_day(0))
    changes = price_changes(settings)
    assert changes.changes == () and "only one snapshot" in str(changes.note)


def test_an_id_two_providers_list_must_be_qualified(settings: Settings, commit) -> None:
    commit([record("fal", "same", "image", 0.1), record("comet", "same", "request", 0.2)])
    with pytest.raises(
        ConfigError, match="listed by 2 providers; write one of comet:same, fal:same"
    ):
        price_history(settings, "same")
    assert price_history(settings, "comet:same").points[0].unit == "request"
