"""The run index: concurrent appends, torn lines, queries, ids, pruning (no kernels)."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mpc_lib.errors import ConfigError
from mpc_lib.runs import RunIndex, RunRecord

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _record(runs: Path, run_id: str, *, started: datetime = T0, **fields: object) -> RunRecord:
    """A record whose output files exist under `runs`."""
    date, stem = run_id.split("/")
    outputs = {}
    for kind, suffix in (("notebook", ".ipynb"), ("html", ".html"), ("manifest", ".json")):
        path = runs / date / f"{stem}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        outputs[kind] = str(path)
    values: dict[str, object] = {
        "run_id": run_id, "notebook": stem.rsplit("-", 1)[0], "status": "ok",
        "started_at": started, "outputs": outputs, **fields,
    }  # fmt: skip
    return RunRecord.model_validate(values)


def _append_many(runs_dir: str, worker: int, count: int) -> None:
    index = RunIndex(Path(runs_dir))
    for n in range(count):
        index.append(
            RunRecord(
                run_id=f"2026-03-01/w{worker}-{n:06d}",
                notebook=f"w{worker}",
                status="ok",
                started_at=T0,
                parameters={"payload": "x" * 3000},  # bigger than a pipe's atomic write
            )
        )


def test_appends_from_processes_survive_concurrent_prunes(tmp_path: Path) -> None:
    """Writers append while this process keeps pruning (each prune rewrites the file)."""
    workers, each = 3, 40
    context = multiprocessing.get_context("spawn")
    procs = [
        context.Process(target=_append_many, args=(str(tmp_path), w, each)) for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    index = RunIndex(tmp_path)
    prunes = 0
    while any(proc.is_alive() for proc in procs) or prunes < 5:
        index.append(RunRecord(run_id=f"2020-01-01/old-{prunes}", notebook="old", status="ok",
                               started_at=datetime(2020, 1, 1, tzinfo=UTC)))  # fmt: skip
        assert [r.notebook for r in index.prune(1, now=T0).records] == ["old"]
        prunes += 1
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0

    lines = (tmp_path / "index.jsonl").read_text().splitlines()
    ids = [json.loads(line)["run_id"] for line in lines]
    assert len(ids) == len(set(ids)) == workers * each  # none lost, none doubled, no old left
    for w in range(workers):  # each writer's records stay in its own order
        mine = [i for i in ids if i.split("/")[1].startswith(f"w{w}-")]
        assert mine == sorted(mine) and len(mine) == each


def test_a_torn_last_line_is_skipped_and_never_glued_to_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = RunIndex(tmp_path)
    index.append(_record(tmp_path, "2026-03-01/a-120000"))
    with open(index.path, "a", encoding="utf-8") as handle:
        handle.write('{"run_id": "2026-03-01/torn-1200')  # a crash mid-append
    index.append(_record(tmp_path, "2026-03-01/b-120001"))

    assert [r.run_id for r in index.records()] == ["2026-03-01/a-120000", "2026-03-01/b-120001"]
    assert "skipping an unreadable index line" in caplog.text


def test_query_filters_by_notebook_status_and_time(tmp_path: Path) -> None:
    index = RunIndex(tmp_path)
    index.append(_record(tmp_path, "2026-03-01/sync-120000"))
    index.append(_record(tmp_path, "2026-03-02/sync-120000", started=T0 + timedelta(days=1),
                         status="failed", error={"cell_index": 3, "message": "boom"}))  # fmt: skip
    index.append(_record(tmp_path, "2026-03-02/pricing-130000", started=T0 + timedelta(days=1)))

    assert [r.run_id for r in index.query(notebook="sync")] == [
        "2026-03-01/sync-120000",
        "2026-03-02/sync-120000",
    ]
    failed = index.query(status="failed")
    assert [r.run_id for r in failed] == ["2026-03-02/sync-120000"]
    assert failed[0].failing_cell == 3
    later = index.query(since=T0 + timedelta(hours=1))
    assert [r.notebook for r in later] == ["sync", "pricing"]


def test_get_takes_an_id_a_unique_ending_or_latest(tmp_path: Path) -> None:
    index = RunIndex(tmp_path)
    index.append(_record(tmp_path, "2026-03-01/sync-120000"))
    index.append(_record(tmp_path, "2026-03-02/sync-120000"))
    index.append(_record(tmp_path, "2026-03-02/pricing-130000"))

    assert index.get("2026-03-01/sync-120000").run_id == "2026-03-01/sync-120000"
    assert index.get("pricing-130000").run_id == "2026-03-02/pricing-130000"
    assert index.get("latest").run_id == "2026-03-02/pricing-130000"
    with pytest.raises(ConfigError, match="ambiguous: 2026-03-01/sync-120000, 2026-03-02/sync"):
        index.get("sync-120000")
    with pytest.raises(ConfigError, match=r"no run 'nope' .*\(3 runs indexed\)"):
        index.get("nope")


def test_prune_drops_old_records_and_only_their_files(tmp_path: Path) -> None:
    index = RunIndex(tmp_path)
    old = _record(tmp_path, "2026-02-01/sync-120000", started=T0 - timedelta(days=28))
    new = _record(tmp_path, "2026-02-27/sync-120000", started=T0 - timedelta(days=2))
    index.append(old)
    index.append(new)
    stranger = tmp_path / "2026-02-01" / "not-indexed.txt"
    stranger.write_text("a file the index never knew")
    outside = tmp_path.parent / "outside.ipynb"
    outside.write_text("{}")
    index.append(_record(tmp_path, "2026-01-01/evil-000000", started=T0 - timedelta(days=60),
                         outputs={"notebook": str(outside)}))  # fmt: skip

    report = index.prune(7, now=T0)

    pruned = [r.run_id for r in report.records]
    assert pruned == ["2026-02-01/sync-120000", "2026-01-01/evil-000000"]
    assert report.kept == 1
    assert sorted(p.name for p in report.files) == [
        "sync-120000.html", "sync-120000.ipynb", "sync-120000.json",
    ]  # fmt: skip
    assert all(not Path(p).exists() for p in old.outputs.values())
    assert all(Path(p).exists() for p in new.outputs.values())
    assert stranger.exists() and outside.exists()  # never indexed here: never deleted
    assert [r.run_id for r in index.records()] == ["2026-02-27/sync-120000"]
    assert index.prune(7, now=T0).records == []
