"""`mpc run` failures on stderr, and `mpc runs list|show|prune` over the index they leave."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_runner import Ran, mpc

from mpc_lib.runs import RunIndex, RunRecord

FIXTURES = Path(__file__).resolve().parents[1] / "notebooks" / "fixtures"


def _mpc(*args: str, cwd: Path, **env: str) -> Ran:
    return mpc(*args, env={"MPC_OUTPUTS_DIR": str(cwd / "out"), **env}, cwd=cwd)


def test_runs_are_indexed_listed_shown_and_pruned(tmp_path: Path) -> None:
    broken = _mpc("run", str(FIXTURES / "broken.ipynb"), "-p", "divisor", "0", cwd=tmp_path)
    assert broken.returncode == 6, broken.stderr
    # the failing cell's source and error are on stderr, with the report's path
    err = broken.stderr
    assert "failed in cell 2: ZeroDivisionError: division by zero" in err
    assert "failing cell 2:\n    result = 1 / divisor\nZeroDivisionError: division by zero" in err
    report = next(line for line in err.splitlines() if line.startswith("report:")).split()[-1]
    assert report.endswith(".html") and Path(report).is_file()
    ok = _mpc("run", str(FIXTURES / "ok.ipynb"), "-p", "count", "3", "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    done = json.loads(ok.stdout.splitlines()[-1])
    assert done["status"] == "ok" and re.fullmatch(r"\d{4}-\d\d-\d\d/ok-\d{6}", done["run_id"])

    listed = _mpc("runs", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert "broken-" in lines[0] and " failed " in lines[0] and lines[0].endswith("cell 2")
    assert done["run_id"] in lines[1] and " ok " in lines[1]

    failed = _mpc("runs", "list", "--status", "failed", "--json", cwd=tmp_path)
    records = [json.loads(line) for line in failed.stdout.splitlines()]
    assert [r["notebook"] for r in records] == ["broken"]
    assert records[0]["parameters"] == {"divisor": 0}
    assert records[0]["error"]["cell_index"] == 2
    assert records[0]["error"]["cell_source"] == "result = 1 / divisor"
    assert set(records[0]["outputs"]) == {"notebook", "html", "manifest"}
    assert (
        _mpc("runs", "list", "--notebook", "ok", "--since", "1d", cwd=tmp_path).stdout.count("\n")
        == 1
    )

    shown = _mpc("runs", "show", "latest", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"run id:      {done['run_id']}" in shown.stdout
    assert 'parameters:  {"count": 3}' in shown.stdout
    unknown = _mpc("runs", "show", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "no run 'nope'" in unknown.stderr

    refused = _mpc("runs", "prune", "--keep-days", "0", cwd=tmp_path)
    assert refused.returncode == 2 and "pass --yes to confirm" in refused.stderr
    looked = _mpc("runs", "prune", "--keep-days", "0", "--dry-run", cwd=tmp_path)
    assert looked.returncode == 0, looked.stderr
    assert [line.split()[2] for line in looked.stdout.splitlines()[:2]] == [
        record["run_id"] for record in [*records, done]
    ]
    assert looked.stdout.splitlines()[-1] == (
        "would remove 2 run(s) older than 0 day(s) (6 file(s)); 0 kept"
    )
    assert Path(report).is_file()
    assert len(_mpc("runs", "list", cwd=tmp_path).stdout.splitlines()) == 2
    pruned = _mpc("runs", "prune", "--keep-days", "0", "--yes", "--json", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    summary = json.loads(pruned.stdout)
    assert len(summary["removed"]) == 2 and len(summary["files"]) == 6 and summary["kept"] == 0
    assert summary["dry_run"] is False
    assert not Path(report).exists()
    assert _mpc("runs", "list", cwd=tmp_path).stdout.startswith("no runs in ")


def test_runs_commands_refuse_bad_input(tmp_path: Path) -> None:
    status = _mpc("runs", "list", "--status", "great", cwd=tmp_path)
    assert status.returncode == 2 and "expected ok, failed" in status.stderr
    since = _mpc("runs", "list", "--since", "yesterday", cwd=tmp_path)
    assert since.returncode == 2 and "--since 'yesterday'" in since.stderr
    prune = _mpc("runs", "prune", cwd=tmp_path)
    assert prune.returncode == 2 and "MPC_RUNS_KEEP_DAYS" in prune.stderr
    bad_setting = _mpc("runs", "prune", cwd=tmp_path, MPC_RUNS_KEEP_DAYS="0")
    assert bad_setting.returncode == 2 and "MPC_RUNS_KEEP_DAYS='0'" in bad_setting.stderr


def test_prune_dry_run_lists_what_would_go_and_deletes_nothing(tmp_path: Path) -> None:
    """Records written straight into the index (no kernel): one old run, one from a minute ago."""
    runs = tmp_path / "out" / "runs"
    now = datetime.now(UTC)
    index = RunIndex(runs)
    for run_id, started in (("2026-01-01/old-000000", now - timedelta(days=40)),
                            ("2026-01-02/new-000000", now - timedelta(minutes=1))):  # fmt: skip
        page = runs / f"{run_id}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("report")
        index.append(RunRecord(run_id=run_id, notebook="ok", status="ok", started_at=started,
                               outputs={"html": str(page)}))  # fmt: skip
    before = sorted(p for p in runs.rglob("*") if p.is_file())
    lines = index.path.read_bytes()

    looked = _mpc("runs", "prune", "--keep-days", "30", "--dry-run", "--json", cwd=tmp_path)
    assert looked.returncode == 0, looked.stderr
    assert json.loads(looked.stdout) == {
        "removed": ["2026-01-01/old-000000"], "files": [str(runs / "2026-01-01/old-000000.html")],
        "kept": 1, "dry_run": True,
    }  # fmt: skip
    everything = _mpc("runs", "prune", "--keep-days", "0", "--dry-run", cwd=tmp_path)
    assert everything.returncode == 0, everything.stderr
    assert "would remove 2026-01-02/new-000000 " in everything.stdout
    assert sorted(p for p in runs.rglob("*") if p.is_file()) == before
    assert index.path.read_bytes() == lines

    refused = _mpc("runs", "prune", "--keep-days", "0", cwd=tmp_path)
    assert refused.returncode == 2 and "--keep-days 0 deletes every run" in refused.stderr
    assert index.path.read_bytes() == lines
    kept = _mpc("runs", "prune", "--keep-days", "30", cwd=tmp_path)  # no --yes needed for N > 0
    assert kept.returncode == 0 and "removed 1 run(s) older than 30 day(s)" in kept.stdout
    assert [record.run_id for record in index.records()] == ["2026-01-02/new-000000"]
