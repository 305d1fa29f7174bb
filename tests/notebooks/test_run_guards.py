"""What stops or fails a run: the per-notebook lock, --deadline, and the secret guard."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runner import mpc, mpc_env, mpc_script

from mpc_lib.config import Settings
from mpc_lib.errors import NotebookError, SecretLeaked
from mpc_lib.runs import RunIndex, RunRecord, run_notebook

FIXTURES = Path(__file__).parent / "fixtures"
CANARY = "fal-canary-key-5b1e2f9a7c3d"


@contextlib.contextmanager
def _release_when_a_run_waits(lock: Path, release: Path) -> Iterator[list[str]]:
    """Create `release` the moment a run in this process finds `lock` taken and starts waiting
    (filelock says so in a debug record): no guessing how long to sleep.  Yields the records."""
    seen: list[str] = []

    class _Waiting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "not acquired" in message and str(lock) in message:
                seen.append(message)
                release.touch()

    logger = logging.getLogger("filelock")
    handler, saved = _Waiting(), (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # its debug lines are not the command's stderr
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = saved


def test_a_second_run_of_the_same_notebook_waits_then_gives_up(tmp_path: Path) -> None:
    outputs = tmp_path / "out"
    env = {"MPC_OUTPUTS_DIR": str(outputs), "MPC_SOURCE": "sandbox"}
    waiter = str(FIXTURES / "waiter.ipynb")
    release = tmp_path / "release"
    # The first run is another process (as a cron job would be); it holds the notebook's lock
    # until `release` exists.
    first = subprocess.Popen(
        [mpc_script(), "run", waiter, "-p", "release", str(release)],
        env=mpc_env(env), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lock = outputs / "runs" / ".locks" / "waiter.owner.json"
        deadline = time.monotonic() + 120
        while not lock.exists():  # until the first run holds the lock
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        owner = json.loads(lock.read_text())
        impatient = mpc("run", waiter, env={**env, "MPC_RUN_LOCK_TIMEOUT_S": "0.5"}, cwd=tmp_path)
        with _release_when_a_run_waits(lock.with_name("waiter.lock"), release) as waited:
            patient = mpc("run", waiter, "-p", "seconds", "0", cwd=tmp_path,
                          env={**env, "MPC_RUN_LOCK_TIMEOUT_S": "120"})  # fmt: skip
    finally:
        release.touch()
        _out, first_err = first.communicate(timeout=120)

    assert impatient.returncode == 1, impatient.stderr
    assert "notebook waiter is already running" in impatient.stderr
    assert f"pid {owner['pid']}" in impatient.stderr
    assert "gave up after waiting 0.5s" in impatient.stderr
    assert first.returncode == 0, first_err
    assert waited, "the patient run never waited for the lock"
    assert patient.returncode == 0, patient.stderr

    records = RunIndex(outputs / "runs").records()
    assert sorted(r.status for r in records) == ["blocked", "ok", "ok"]
    done = sorted((r for r in records if r.status == "ok"), key=lambda r: r.started_at)
    assert done[0].parameters == {"release": str(release)}
    assert done[1].parameters == {"seconds": 0.0}
    assert done[0].finished_at is not None and done[1].started_at >= done[0].finished_at.replace(
        microsecond=0
    )  # never overlapped
    assert not lock.exists()


def test_a_run_past_its_deadline_is_stopped_and_recorded(
    fixtures_dir: Path, settings: Settings
) -> None:
    with pytest.raises(NotebookError) as caught:
        run_notebook("slow", settings=settings, notebooks_dir=fixtures_dir, deadline_s=3)

    error = caught.value
    assert error.ename == "DeadlineExceeded"
    assert "deadline of 3s" in error.evalue
    assert error.cell_index == 0 and "time.sleep(30)" in (error.cell_source or "")
    assert error.output_path is not None and error.output_path.with_suffix(".html").is_file()
    record = RunIndex(settings.outputs_dir / "runs").get("latest")
    assert record.status == "failed" and record.failing_cell == 0
    assert record.error and record.error["ename"] == "DeadlineExceeded"


def test_a_secret_written_by_a_run_fails_it_and_is_redacted_everywhere(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs", source="sandbox", fal_key=CANARY)

    with pytest.raises(SecretLeaked) as caught:
        run_notebook("leaky", settings=settings, notebooks_dir=fixtures_dir)

    message = str(caught.value)
    assert CANARY not in message
    assert "leaky-" in message and ".ipynb (FAL_KEY)" in message
    assert "leak/notes.txt (FAL_KEY)" in message  # a file the notebook wrote itself
    assert caught.value.exit_code == 7
    leaked = list((tmp_path / "outputs").rglob("*"))
    assert [p for p in leaked if p.is_file() and CANARY.encode() in p.read_bytes()] == []
    notes = tmp_path / "outputs" / "leak" / "notes.txt"
    assert notes.read_text() == "key=[redacted:FAL_KEY]\n"
    record = RunIndex(tmp_path / "outputs" / "runs").get("latest")
    assert record.status == "failed"
    assert record.error and record.error["type"] == "SecretLeaked"
    manifest = json.loads(Path(record.outputs["manifest"]).read_text())
    assert {hit["variable"] for hit in manifest["secrets_redacted"]} == {"FAL_KEY"}
    html = Path(record.outputs["html"]).read_text()
    assert "leaky: failed" in html and "[redacted:FAL_KEY]" in html


def test_runs_older_than_the_keep_days_setting_are_pruned_after_a_run(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs", runs_keep_days=30)
    old_file = tmp_path / "outputs" / "runs" / "2020-01-01" / "ok-000000.ipynb"
    old_file.parent.mkdir(parents=True)
    old_file.write_text("{}")
    index = RunIndex(tmp_path / "outputs" / "runs")
    index.append(RunRecord(run_id="2020-01-01/ok-000000", notebook="ok", status="ok",
                           started_at=datetime(2020, 1, 1, tzinfo=UTC),
                           outputs={"notebook": str(old_file)}))  # fmt: skip

    result = run_notebook("ok", settings=settings, notebooks_dir=fixtures_dir)

    assert [r.run_id for r in index.records()] == [result.run_id]
    assert not old_file.exists() and not old_file.parent.exists()
    assert result.output_path.is_file()
