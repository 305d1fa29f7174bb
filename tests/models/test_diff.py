"""Registry diffs: added, removed, and changed fields with old -> new values."""

from typing import Any

from mpc_lib.registry import RegistryDiff, diff_registries


def _record(model_id: str, price: float | None = 0.025, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "provider": "fal",
        "model_id": model_id,
        "display_name": model_id.upper(),
        "category": "text-to-image",
        "description": "d",
        "status": "active",
        "owned_by": "fal-ai",
        "updated_at": "2026-01-01T00:00:00Z",
        "pricing": None
        if price is None
        else {"unit_price": price, "unit": "image", "currency": "USD", "output_unit_price": None},
        "stale": False,
        "meta": {"tags": ["fast"]},
    }
    record.update(extra)
    return record


def test_first_sync_adds_everything() -> None:
    diff = diff_registries(None, [_record("a"), _record("b")])
    assert diff.added == ["fal:a", "fal:b"]
    assert diff.removed == [] and diff.changed == []


def test_identical_registries_have_no_diff() -> None:
    diff = diff_registries([_record("a")], [_record("a")])
    assert diff == RegistryDiff()  # nothing added, removed or changed


def test_added_removed_and_changed_fields() -> None:
    old = [_record("a"), _record("b"), _record("c", price=None)]
    new = [
        _record("a", price=0.03),
        _record("c", price=0.5, status="deprecated", meta={"tags": ["fast", "new"]}),
        _record("d"),
    ]
    diff = diff_registries(old, new)
    assert diff.added == ["fal:d"]
    assert diff.removed == ["fal:b"]
    changes = {change.key: change.fields for change in diff.changed}
    assert changes["fal:a"] == {"pricing.unit_price": (0.025, 0.03)}
    assert changes["fal:c"]["status"] == ("active", "deprecated")
    assert changes["fal:c"]["pricing.unit_price"] == (None, 0.5)
    assert changes["fal:c"]["meta.tags"] == (["fast"], ["fast", "new"])
    assert diff.price_changes() == [("fal:a", 0.025, 0.03), ("fal:c", None, 0.5)]


def test_stale_flag_alone_is_not_a_change() -> None:
    diff = diff_registries([_record("a")], [_record("a", stale=True)])
    assert diff == RegistryDiff()  # nothing added, removed or changed


def test_same_id_under_two_providers_are_different_models() -> None:
    diff = diff_registries([_record("x")], [_record("x"), {**_record("x"), "provider": "comet"}])
    assert diff.added == ["comet:x"]


def test_to_json_shape() -> None:
    diff = diff_registries([_record("a")], [_record("a", price=1.0)])
    assert diff.model_dump(mode="json") == {
        "added": [],
        "removed": [],
        "changed": [{"key": "fal:a", "fields": {"pricing.unit_price": {"old": 0.025, "new": 1.0}}}],
    }
