"""Schedules: cron checked by croniter, systemd calendars equal to cron, k8s schema, CI rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from croniter import croniter

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.kubernetes import K8S_VERSION, validate_manifest
from mpc_lib.schedule import (
    ScheduleSpec,
    cron_to_oncalendar,
    render_schedule,
    validate_cron,
    verify_systemd_units,
)

BASE = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
_ELAPSE = re.compile(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")
needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@pytest.mark.parametrize(
    ("expression", "normalised"),
    [
        ("0 6 * * *", "0 6 * * *"),
        ("  */15  6-8 1,15 *  mon-fri ", "*/15 6-8 1,15 * mon-fri"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
    ],
)
def test_cron_expressions_are_checked_and_normalised(expression: str, normalised: str) -> None:
    assert validate_cron(expression) == normalised


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 6 * * * *", "expected 5 fields"),
        ("0 6 * *", "expected 5 fields"),
        ("61 * * * *", "out of range"),
        ("0 6 * * funday", "--cron '0 6 \\* \\* funday'"),
        ("@reboot", "is not a time"),
    ],
)
def test_bad_cron_expressions_are_refused(expression: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_cron(expression)


@needs_systemd
@pytest.mark.parametrize(
    "expression",
    ["0 6 * * *", "*/20 6-8 * * mon-fri", "30 2 1,15 * *", "0 9 1 * sun", "5 4 * 2,8 6,0"],
)
def test_systemd_calendar_fires_exactly_when_cron_does(expression: str) -> None:
    count = 25
    calendars = cron_to_oncalendar(expression, "UTC")
    done = subprocess.run(
        ["systemd-analyze", "calendar", f"--iterations={count}",
         "--base-time=2026-01-01 00:00:00 UTC", *calendars],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    found = _ELAPSE.findall(done.stdout)
    systemd_times = sorted({datetime.fromisoformat(f"{t}+00:00") for t in found})
    cron = croniter(expression, BASE)
    cron_times = [cron.get_next(datetime) for _ in range(count)]
    assert systemd_times[:count] == cron_times


def test_day_of_month_or_week_becomes_two_calendars() -> None:
    assert cron_to_oncalendar("0 9 1 * sun") == ["Sun *-*-* 09:00:00", "*-*-01 09:00:00"]


@needs_systemd
def test_systemd_verify_rejects_a_broken_unit() -> None:
    with pytest.raises(ConfigError, match=r"systemd-analyze verify rejected .*x\.timer"):
        verify_systemd_units(
            {"x.timer": "[Timer]\nOnCalendar=*-*-* 25:00:00\nUnit=x.service\n",
             "x.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n"}
        )  # fmt: skip


def test_the_k8s_schema_rejects_an_unknown_or_wrong_field() -> None:
    good = yaml.safe_load(_render("k8s").split("\n", 2)[2])
    assert validate_manifest(good) == f"kubernetes-validate {K8S_VERSION} (strict): ok"
    typo = {**good, "spec": {**good["spec"], "concurencyPolicy": "Forbid"}}
    with pytest.raises(
        ConfigError,
        match=r"^CronJob/mpc-catalog-sync is not valid Kubernetes 1\.30\.0: spec: .*'concurencyPol",
    ):
        validate_manifest(typo)
    wrong = {**good, "spec": {**good["spec"], "successfulJobsHistoryLimit": "three"}}
    with pytest.raises(ConfigError, match=r"spec\.successfulJobsHistoryLimit: 'three' is not of"):
        validate_manifest(wrong)


def test_every_target_runs_mpc_run_with_the_parameters() -> None:
    for target in ("cron", "systemd", "ci"):
        text = _render(target, deadline_s=600)
        assert "mpc run catalog_sync -p providers fal --deadline 600" in text, (target, text)
    job = yaml.safe_load(_render("k8s", deadline_s=600).split("\n", 2)[2])
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert [*container["command"], *container["args"]] == [
        "mpc", "run", "catalog_sync", "-p", "providers", "fal", "--deadline", "600",
    ]  # fmt: skip


def test_the_k8s_job_mounts_outputs_and_takes_keys_from_a_secret() -> None:
    job = yaml.safe_load(_render("k8s", image="registry.example/mpc:1.2").split("\n", 2)[2])
    assert job["spec"]["schedule"] == "0 6 * * *" and job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/mpc:1.2"
    assert container["command"] == ["mpc"] and container["args"][:2] == ["run", "catalog_sync"]
    assert {"name": "MPC_OUTPUTS_DIR", "value": "/outputs"} in container["env"]
    assert container["volumeMounts"] == [{"name": "outputs", "mountPath": "/outputs"}]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "mpc-workbench-outputs"


def test_no_schedule_falls_back_to_the_sandbox() -> None:
    """Every target runs with live sources required (a missing key fails the run, exit 2
    naming it: tests/cli/test_run_cli.py), and the CronJob's Secret is not optional."""
    cron = _render("cron").splitlines()[-1]
    assert re.search(r" && MPC_SOURCE=live \S*mpc run catalog_sync ", cron), cron
    service = _render("systemd")
    assert "\nEnvironment=MPC_SOURCE=live\nExecStart=" in service
    workflow = yaml.safe_load(_render("ci"))
    assert workflow["jobs"]["run"]["env"] == {"MPC_SOURCE": "live"}
    text = _render("k8s")
    job = yaml.safe_load(text.split("\n", 3)[3])
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "MPC_SOURCE", "value": "live"} in container["env"]
    assert container["envFrom"] == [
        {"secretRef": {"name": "mpc-workbench-keys", "optional": False}}
    ]
    assert validate_manifest(job) == f"kubernetes-validate {K8S_VERSION} (strict): ok"
    for target in ("cron", "systemd", "k8s", "ci"):
        assert "optional: true" not in _render(target)


def test_the_ci_workflow_takes_every_key_from_secrets_and_keeps_the_runs() -> None:
    workflow = yaml.safe_load(_render("ci"))
    assert workflow["on"]["schedule"] == [{"cron": "0 6 * * *"}]  # quoted: YAML 1.1 safe
    steps = workflow["jobs"]["run"]["steps"]
    run = next(step for step in steps if step.get("run", "").startswith("mpc run "))
    secrets = ("FAL_KEY", "COMETAPI_KEY", "MPC_API_KEY", "LITELLM_MASTER_KEY")
    secrets += ("APIDOG_ACCESS_TOKEN",)
    assert run["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in secrets}
    assert steps[-1]["with"]["path"] == "outputs/runs/" and steps[-1]["if"] == "always()"
    with pytest.raises(ConfigError, match="more often than every 5 minutes"):
        _render("ci", cron="*/2 * * * *")
    with pytest.raises(ConfigError, match="UTC only"):
        _render("ci", timezone="Europe/Paris")


def test_a_schedule_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    daily = "0 6 * * *"
    bad = [
        (ScheduleSpec(cron=daily, target="cron", notebook="nope"), "unknown notebook"),
        (ScheduleSpec(cron=daily, target="cron", notebook="catalog_sync",
                      parameters={"source": "sanbox"}), "parameter source='sanbox'"),
        (ScheduleSpec(cron=daily, target="cron", notebook_set="weekly"), "unknown notebook set"),
        (ScheduleSpec(cron=daily, target="cron"), "a notebook or --set"),
        (ScheduleSpec(cron=daily, target="airflow", notebook="catalog_sync"),  # type: ignore[arg-type]
         "unknown target 'airflow'"),
    ]  # fmt: skip
    for spec, message in bad:
        with pytest.raises(ConfigError, match=message):
            render_schedule(spec, settings)
    assert not (tmp_path / "schedules").exists()


def _render(target: str, cron: str = "0 6 * * *", **options: object) -> str:
    if target == "k8s":
        options.setdefault("image", "registry.example/mpc:1.0")
    spec = ScheduleSpec(
        cron=cron, target=target, notebook="catalog_sync",  # type: ignore[arg-type]
        parameters={"providers": "fal"}, **options,  # type: ignore[arg-type]
    )  # fmt: skip
    generated = render_schedule(spec, Settings())
    return "\n".join(generated.files.values())
