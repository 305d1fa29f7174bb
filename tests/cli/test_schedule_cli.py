"""`mpc schedule add|list` writes validated targets; `mpc run-all` runs a set, stops on failure."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from cli_runner import Ran, mpc

from mpc_lib.config import Settings
from mpc_lib.errors import NotebookError
from mpc_lib.runs import RunIndex
from mpc_lib.schedule import NOTEBOOK_SETS, run_set

FIXTURES = Path(__file__).resolve().parents[1] / "notebooks" / "fixtures"


def _mpc(*args: str, home: Path, **env: str) -> Ran:
    return mpc(*args, env={"MPC_HOME": str(home), "MPC_OUTPUTS_DIR": str(home / "out"), **env},
               cwd=home)  # fmt: skip


def test_every_target_is_written_validated_and_listed(tmp_path: Path) -> None:
    made = {}
    for target in ("cron", "systemd", "k8s", "ci"):
        done = _mpc("schedule", "add", "catalog_sync", "--cron", "30 5 * * 1-5", "--target",
                    target, "-p", "providers", "fal", "--json", home=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        made[target] = json.loads(done.stdout)
    for target, result in made.items():
        assert result["checks"]["cron"] == "croniter: ok"
        files = [Path(path) for path in result["files"]]
        assert all(p.is_file() and p.is_relative_to(tmp_path / "schedules") for p in files)
        text = "\n".join(p.read_text() for p in files)
        assert "run catalog_sync" in text or "- catalog_sync" in text, target
    assert "(strict): ok" in made["k8s"]["checks"]["k8s"]
    assert made["k8s"]["checks"]["pod-security"] == "restricted Pod Security (1.30.0): ok"
    if shutil.which("systemd-analyze"):
        assert made["systemd"]["checks"]["systemd"] == "systemd-analyze verify: ok"
    assert sorted(Path(p).name for p in made["systemd"]["files"]) == [
        "mpc-catalog_sync.service", "mpc-catalog_sync.timer",
    ]  # fmt: skip

    out = tmp_path / "ops" / "daily.crontab"
    out.parent.mkdir()
    cron = _mpc("schedule", "add", "--set", "daily", "--cron", "@daily", "--out", str(out),
                home=tmp_path)  # fmt: skip
    assert cron.returncode == 0, cron.stderr
    line = out.read_text().splitlines()[-1]
    assert line.startswith("0 0 * * * cd ") and "mpc run-all --set daily >> " in line

    listed = _mpc("schedule", "list", "--json", home=tmp_path)
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(e["name"], e["target"]) for e in entries] == [
        ("mpc-catalog_sync", "cron"), ("mpc-catalog_sync", "systemd"),
        ("mpc-catalog_sync", "k8s"), ("mpc-catalog_sync", "ci"), ("mpc-set-daily", "cron"),
    ]  # fmt: skip
    assert entries[0]["command"] == "mpc run catalog_sync -p providers fal"
    text = _mpc("schedule", "list", home=tmp_path).stdout
    assert "mpc-set-daily" in text and str(out) in text


def test_a_bad_schedule_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    done = _mpc("schedule", "add", "catalog_sync", "--cron", "0 25 * * *", home=tmp_path)
    assert done.returncode == 2 and "--cron '0 25 * * *'" in done.stderr
    missing = _mpc("schedule", "add", "catalog_sync", home=tmp_path)
    assert missing.returncode == 2 and "--cron is required" in missing.stderr
    assert not (tmp_path / "schedules").exists()


def test_run_all_runs_the_daily_set(tmp_path: Path) -> None:
    assert NOTEBOOK_SETS["daily"][0] == "catalog_sync"
    done = _mpc("run-all", "--set", "daily", home=tmp_path, MPC_SOURCE="sandbox")
    assert done.returncode == 0, done.stderr
    ran = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("run:")]
    assert ran == list(NOTEBOOK_SETS["daily"])
    records = RunIndex(tmp_path / "out" / "runs").records()
    assert [r.notebook for r in records] == list(NOTEBOOK_SETS["daily"])
    assert all(r.status == "ok" for r in records)


def test_run_set_stops_at_the_first_failure(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "out", source="sandbox")
    started: list[str] = []

    with pytest.raises(NotebookError) as caught:
        run_set("t", settings=settings, sets={"t": ("ok", "broken", "sysexit0")},
                notebooks_dir=FIXTURES, on_start=started.append)  # fmt: skip

    assert caught.value.notebook == "broken"
    assert started == ["ok", "broken"]
    records = RunIndex(tmp_path / "out" / "runs").records()
    assert [(r.notebook, r.status) for r in records] == [("ok", "ok"), ("broken", "failed")]


def test_the_cronjob_runs_the_workbook_image_unless_a_pinned_one_is_given(tmp_path: Path) -> None:
    """No --image: the image the repo builds (compose/Dockerfile.workbook), tagged with the
    package version; --image overrides it, and a moving one exits 2 before anything is written."""
    tag = version("mpc-workbench")
    default = _mpc("schedule", "add", "catalog_sync", "--cron", "@daily", "--target", "k8s",
                   "--json", home=tmp_path)  # fmt: skip
    assert default.returncode == 0, default.stderr
    (path,) = json.loads(default.stdout)["files"]
    job = yaml.safe_load(Path(path).read_text())
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"mpc-workbench/workbook:{tag}"
    assert (
        f"# Image mpc-workbench/workbook:{tag} (compose/Dockerfile.workbook);"
        in Path(path).read_text()
    )
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["fsGroup"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"},
                                      "limits": {"cpu": "1", "memory": "2Gi"}}  # fmt: skip

    pinned = _mpc("schedule", "add", "catalog_sync", "--cron", "@daily", "--target", "k8s",
                  "--image", "registry.example/mpc:1.0", "--json", home=tmp_path)  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr
    (path,) = json.loads(pinned.stdout)["files"]
    assert "image: registry.example/mpc:1.0\n" in Path(path).read_text()

    moving = _mpc("schedule", "add", "catalog_sync", "--cron", "@daily", "--target", "k8s",
                  "--image", "registry.example/mpc", "--out", str(tmp_path / "x.yaml"),
                  home=tmp_path)  # fmt: skip
    assert moving.returncode == 2
    assert moving.stderr.startswith("error: --image 'registry.example/mpc' has no tag ")
    assert not (tmp_path / "x.yaml").exists()
