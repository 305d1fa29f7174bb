"""`mpc schedule add|list` (cron, systemd, Kubernetes, CI) and `mpc run-all --set NAME`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._common import cli_settings, reported_errors
from .runs import ParametersCommand, notebook_parameters, run_errors

__all__ = ["run_all", "schedule_app"]

_HIDE_CODE = "Hide code cells in the reports."

schedule_app = typer.Typer(
    no_args_is_help=True, help="Generate scheduled runs (cron, systemd, k8s CronJob, CI)."
)


@schedule_app.command("add", cls=ParametersCommand)
def schedule_add(
    ctx: typer.Context,
    notebook: Annotated[
        str | None, typer.Argument(help="The notebook to run (or --set NAME).")
    ] = None,
    cron: Annotated[
        str, typer.Option("--cron", help="Five cron fields, e.g. '0 6 * * *' (or @daily).")
    ] = "",
    target: Annotated[str, typer.Option(help="cron, systemd, k8s or ci.")] = "cron",
    notebook_set: Annotated[
        str | None, typer.Option("--set", help="Run a notebook set (mpc run-all --set NAME).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="File to write (a folder for systemd's two units).",
            show_default="schedules/<target>/",
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            help="The CronJob's image (k8s), pinned to a version: no :latest, no untagged.",
            show_default="mpc-workbench/workbook:<package version>",
        ),
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="Time zone of the cron times (an IANA name, e.g. Europe/Paris).")
    ] = "UTC",
    timeout: Annotated[float | None, typer.Option(help="Per-cell timeout (s).", min=0.001)] = None,
    deadline: Annotated[
        float | None, typer.Option(help="Whole-run deadline (s).", min=0.001)
    ] = None,
    report_only: Annotated[bool, typer.Option("--report-only", help=_HIDE_CODE)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line on stdout.")] = False,
) -> None:
    """Write a schedule that runs `mpc run NOTEBOOK` (or `mpc run-all --set NAME`), validated.

    Pass notebook parameters as -p NAME VALUE (repeatable).
    """
    from ..schedule import ScheduleSpec, add_schedule

    with reported_errors():
        if not cron:
            raise ValueError("--cron is required, e.g. --cron '0 6 * * *'")
        spec = ScheduleSpec(
            cron=cron, target=target, notebook=notebook, notebook_set=notebook_set,  # type: ignore[arg-type]
            parameters=notebook_parameters(ctx), timeout_s=timeout, deadline_s=deadline,
            report_only=report_only, image=image, timezone=timezone,
        )  # fmt: skip
        generated, written = add_schedule(spec, cli_settings(), out)
    if as_json:
        typer.echo(json.dumps({
            "name": spec.name, "target": spec.target, "cron": generated.spec.cron,
            "files": [str(p) for p in written], "checks": generated.checks,
            "install": generated.install,
        }))  # fmt: skip
        return
    for path in written:
        typer.echo(f"wrote:    {path}")
    for name, result in generated.checks.items():
        typer.echo(f"checked:  {name}: {result}")
    typer.echo(f"install:  {generated.install}")


@schedule_app.command("list")
def schedule_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show the schedules generated so far (schedules/schedules.json)."""
    from ..schedule import list_schedules

    with reported_errors():
        entries = list_schedules(cli_settings())
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(entry))
        return
    if not entries:
        typer.echo("no schedules yet: mpc schedule add NOTEBOOK --cron '0 6 * * *' --target cron")
        return
    for entry in entries:
        name, target, cron = entry["name"], entry["target"], entry["cron"]
        typer.echo(f"{name:<24} {target:<8} {cron:<16} {entry['command']}")
        for path in entry.get("files", []):
            typer.echo(f"    {path}")


def run_all(
    notebook_set: Annotated[str, typer.Option("--set", help="The notebook set to run.")] = "daily",
    timeout: Annotated[float | None, typer.Option(help="Per-cell timeout (s).", min=0.001)] = None,
    deadline: Annotated[
        float | None, typer.Option(help="Deadline of each run (s).", min=0.001)
    ] = None,
    report_only: Annotated[bool, typer.Option("--report-only", help=_HIDE_CODE)] = False,
) -> None:
    """Run every notebook of a set in order; stop at the first failure with its exit code."""
    from ..schedule import run_set

    def started(notebook: str) -> None:
        typer.echo(f"run:      {notebook}")

    with run_errors():
        results = run_set(
            notebook_set, settings=cli_settings(), on_start=started,
            timeout_s=timeout, deadline_s=deadline, report_only=report_only,
        )  # fmt: skip
    for result in results:
        typer.echo(f"ok:       {result.run_id} ({result.duration_s:.1f}s) {result.html_path}")
