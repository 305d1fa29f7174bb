"""`mpc stack doctor` under real conditions: this machine's engine, a port held open, a
missing env value, the real compose binary's verdict."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest
from cli_runner import mpc
from stackhelp import HAS_LITELLM, hide_compose

from mpc_lib.config import Settings
from mpc_lib.stack import StackPaths, init_env, probe_engine, run_doctor
from mpc_lib.stack.processes import port_holder

ALL = ("core", "dify", "langflow", "activepieces")


@pytest.fixture
def ready(paths: StackPaths, workbook: Path) -> StackPaths:
    """compose/.env written and the containers' gateway config in place (as `mpc stack init`
    writes it with a registry)."""
    init_env(paths.template, paths.env_file)
    config = workbook / "outputs" / "stack" / "litellm.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("model_list: []\n", encoding="utf-8")
    return paths


def _set(env_file: Path, name: str, value: str | None) -> None:
    text = env_file.read_text(encoding="utf-8")
    line = "" if value is None else f"{name}={value}\n"
    env_file.write_text(re.sub(rf"^{name}=.*\n", line, text, flags=re.M), encoding="utf-8")


def test_docker_mode_reports_this_machines_engine_and_passes_the_rest(
    settings: Settings, ready: StackPaths
) -> None:
    report = run_doctor(settings, ALL, "docker")
    rows = {row.check: row for row in report.rows}
    assert list(rows) == [
        "engine",
        "compose",
        "ports",
        "memory",
        "disk",
        "cpus",
        "env",
        "rules",
        "config",
        "gateway-config",
    ]
    probe = probe_engine("docker")
    if probe.reachable:
        assert rows["engine"].status == "pass"
    else:
        assert rows["engine"].status == "fail" and not report.ok
        if probe.installed:  # a CLI without a daemon, as on this machine
            assert "installed but the daemon does not answer" in rows["engine"].detail
            assert "start the daemon" in rows["engine"].hint
        else:
            assert "not installed" in rows["engine"].detail
    assert rows["compose"].status == "pass" and "Compose v2." in rows["compose"].detail
    assert "want 11.5 GiB" in rows["memory"].detail  # 1.5 + 4 + 2 + 4, the profiles together
    assert "want 22 GiB" in rows["disk"].detail
    for check in ("env", "rules", "config", "gateway-config"):
        assert rows[check].status == "pass", rows[check]
    assert "accepts core, dify, langflow, activepieces" in rows["config"].detail


def test_a_port_held_open_fails_the_ports_row(settings: Settings, ready: StackPaths) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        _set(ready.env_file, "LANGFLOW_PORT", str(port))
        row = run_doctor(settings, ["langflow"], "docker").row("ports")
        holder = port_holder(port)
    assert row.status == "fail"
    assert f"{port} (langflow) is in use" in row.detail
    if holder is not None:  # where the OS lets us see who holds it: this test process
        assert holder.startswith(f"pid {os.getpid()} ") and holder in row.detail
    assert "compose/.env" in row.hint
    assert run_doctor(settings, ["langflow"], "docker").row("ports").status == "pass"


def test_a_missing_env_value_fails_env_and_config(settings: Settings, ready: StackPaths) -> None:
    _set(ready.env_file, "AP_ENCRYPTION_KEY", None)
    _set(ready.env_file, "AP_JWT_SECRET", "")
    report = run_doctor(settings, ["activepieces"], "docker")
    env, config = report.row("env"), report.row("config")
    assert env.status == "fail" and not report.ok and report.exit_code == 1
    assert "missing AP_ENCRYPTION_KEY" in env.detail and "empty AP_JWT_SECRET" in env.detail
    assert "mpc stack init" in env.hint
    # compose names the first missing variable it meets (its order is its own)
    assert config.status == "fail" and "required variable" in config.detail
    assert "AP_ENCRYPTION_KEY" in config.detail or "AP_JWT_SECRET" in config.detail


def test_no_env_and_no_gateway_config_say_what_to_run(settings: Settings) -> None:
    report = run_doctor(settings, ["core"], "docker")
    assert report.row("env").hint == "mpc stack init"
    assert report.row("gateway-config").status == "fail"
    assert report.row("gateway-config").hint.startswith("mpc stack init")
    assert "outputs/stack/litellm.yaml" in report.row("gateway-config").detail


@pytest.mark.parametrize(
    ("api_base", "problem"),
    [
        ("http://127.0.0.1:40123/v1", "is the container itself"),
        ("http://localhost:8803/v1", "is the container itself"),
        ("http://mpc-sandbox:9999/v1", "mpc-sandbox opens no port 9999 (opens 8801, 8802"),
        ("http://langflow:7860", "service langflow is not in these profiles"),
        ("http://mpc-sandbox:8803/v1", None),
        ("https://api.cometapi.com/v1", None),
    ],
)
def test_the_mounted_gateway_config_must_point_where_the_container_reaches(
    settings: Settings, ready: StackPaths, workbook: Path, api_base: str, problem: str | None
) -> None:
    config = workbook / "outputs" / "stack" / "litellm.yaml"
    config.write_text(
        "model_list:\n- model_name: m\n  litellm_params: {model: openai/m, api_base: "
        + api_base + "}\n", encoding="utf-8",
    )  # fmt: skip
    row = run_doctor(settings, ["core"], "docker").row("gateway-config")
    if problem is None:
        assert row.status == "pass", row
    else:
        assert row.status == "fail" and problem in row.detail and "model m" in row.detail, row


def test_no_env_file_still_gives_the_ports_and_rules_rows(settings: Settings) -> None:
    report = run_doctor(settings, ["core"], "docker")
    assert report.row("rules").status == "pass"
    ports = report.row("ports")  # the defaults' ports, whether free here or not
    if ports.status == "pass":
        assert ports.detail.endswith(": 4000, 3000"), ports.detail
    else:
        assert "is in use" in ports.detail and "compose" not in ports.detail, ports.detail


def test_without_the_stack_extra_the_doctor_says_what_to_install(
    ready: StackPaths,
    cli_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hide_compose(monkeypatch, tmp_path)
    done = mpc("stack", "doctor", "--mode", "docker", "--json", env=cli_env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    rows = {row["check"]: row for row in json.loads(done.stdout)["rows"]}
    for check in ("compose", "ports", "rules", "config"):
        assert rows[check]["status"] == "fail", rows[check]
        assert "mpc-workbench[stack]" in rows[check]["detail"] + rows[check]["hint"], check


def test_local_mode_checks_the_local_prerequisites(settings: Settings) -> None:
    report = run_doctor(settings, ["core"], "local")
    rows = {row.check: row for row in report.rows}
    assert report.mode == "local" and "env" not in rows  # compose/.env is not needed locally
    assert rows["engine"].status == "pass" and "needs no engine" in rows["engine"].detail
    assert "want 1.5 GiB" in rows["memory"].detail
    if HAS_LITELLM:
        assert rows["local"].status == "pass"
        assert rows["local"].detail == (
            f"gateway on {settings.gateway_url}, MPC-API on {settings.api_url}"
        )
    else:
        assert rows["local"].status == "fail" and "[gateway]" in rows["local"].hint


def test_profiles_beyond_the_core_need_an_engine(settings: Settings, no_engine: None) -> None:
    report = run_doctor(settings, ["core", "dify"], "auto")
    engine = report.row("engine")
    assert report.mode == "local" and engine.status == "fail"
    assert "dify need a container engine" in engine.detail
    core_only = run_doctor(settings, ["core"], "auto").row("engine")
    assert core_only.status == "warn" and "runs the core locally" in core_only.detail


def test_the_cli_prints_one_row_per_check_and_exits_1_on_a_fail(
    ready: StackPaths, cli_env: dict[str, str], workbook: Path
) -> None:
    _set(ready.env_file, "DIFY_SECRET_KEY", "short")
    doctor = ("stack", "doctor", "-p", "dify", "--mode", "docker")
    done = mpc(*doctor, "--json", env=cli_env, cwd=workbook)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    env = next(row for row in report["rows"] if row["check"] == "env")
    assert env["status"] == "fail"
    assert "DIFY_SECRET_KEY (want 56 characters, base64)" in env["detail"]
    assert all(
        row["status"] in ("pass", "warn", "fail") and "hint" in row for row in report["rows"]
    )
    table = mpc(*doctor, env=cli_env, cwd=workbook)
    assert table.returncode == 1 and "FAILED" in table.stdout and "wrong format" in table.stdout
