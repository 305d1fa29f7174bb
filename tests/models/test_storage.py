"""Atomic writes: whole files or nothing, readable modes, no temp files left behind."""

import json
import os
import stat
from pathlib import Path

import pytest

from mpc_lib.storage import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_many,
    read_json,
    update_text,
)


def test_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "models.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"b": [1, 2]})
    assert read_json(target) == {"b": [1, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["models.json"]


def test_new_files_are_0644_and_existing_modes_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "run.html"
    atomic_write_bytes(target, b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.chmod(target, 0o600)
    atomic_write_bytes(target, b"y")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"y"


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "models.json"
    atomic_write_json(target, {"good": True})
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "str is not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert json.loads(target.read_text()) == {"good": True}
    assert [p.name for p in tmp_path.iterdir()] == ["models.json"]


def test_read_json_names_file_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "models.json"
    broken.write_text('{\n  "models": [,]\n}')
    with pytest.raises(ValueError, match=r"models\.json:2:\d+: invalid JSON"):
        read_json(broken)


def test_write_many_renames_in_order_or_not_at_all(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    second.write_text("old")
    assert atomic_write_many([(first, b"1"), (second, b"2")]) == [first, second]
    assert (first.read_text(), second.read_text()) == ("1", "2")

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(OSError):
        atomic_write_many([(first, b"new"), (blocked / "c.json", b"3")])
    assert first.read_text() == "1"  # nothing renamed when one write failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "not-a-dir"]


def test_a_refused_write_names_the_target_not_the_temp_file(tmp_path: Path) -> None:
    folder = tmp_path / "remote.oas.json"
    folder.mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(IsADirectoryError) as refused:
        atomic_write_bytes(folder, b"{}")
    assert refused.value.filename == str(folder) and ".tmp" not in str(refused.value)
    assert [p.name for p in tmp_path.iterdir()] == ["remote.oas.json"]
    assert list(folder.iterdir()) == []


def test_update_text_writes_only_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "conf"
    assert update_text(path, "a\n") is True and path.read_text() == "a\n"
    os.utime(path, (1, 1))
    assert update_text(path, "a\n") is False and path.stat().st_mtime == 1  # left alone
    assert update_text(path, "b\n") is True and path.read_text() == "b\n"
