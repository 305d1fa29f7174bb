"""`mpc health`: the morning check, in the monitoring-plugin exit-code convention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperCommand

from ..config import Settings
from ..errors import MpcError
from ..health import DEFAULT_HEALTH_RETRIES, MAX_HEALTH_RETRIES

if TYPE_CHECKING:
    from ..health import HealthReport
from ..upstreams import open_upstreams
from ._common import CliState, cli_settings, stderr

__all__ = ["HealthCommand", "health"]

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
# The one exception to the workbook's exit codes: Nagios/Icinga plugins expect 3 for "unknown".
_UNKNOWN = 3


class HealthCommand(TyperCommand):
    """`mpc health`'s command: a usage error (unknown option, a bad value) exits 3, UNKNOWN,
    as a monitoring plugin's must; click's own 2 would read as CRITICAL."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # click's Context
        try:
            return super().parse_args(ctx, args)
        except typer.TyperException as exc:  # typer's click errors: UsageError, BadParameter...
            if getattr(exc, "exit_code", None) == 2:
                exc.exit_code = _UNKNOWN
            raise


def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    prom: Annotated[
        Path | None,
        typer.Option("--prom", help="Also write Prometheus text exposition to FILE (atomically)."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds each check may take.", show_default="MPC_HEALTH_TIMEOUT_S"),
    ] = None,
    warn_ok: Annotated[
        bool, typer.Option("--warn-ok", help="Exit 0 when the worst row is a warning.")
    ] = False,
    retries: Annotated[
        int,
        typer.Option(
            help="Retries per call after a transient answer (429, 5xx, a dropped connection).",
            min=0,
            max=MAX_HEALTH_RETRIES,
        ),
    ] = DEFAULT_HEALTH_RETRIES,
) -> None:
    """Check providers, registry, gateway and MPC-API at once; one row per check.

    No check spends money: providers are asked for listings and prices only (FAL's
    estimate prices a hypothetical job and runs nothing), and the gateway for its
    liveliness, readiness and model list, never a completion or LiteLLM's
    token-spending /health.  Exit codes follow the monitoring-plugin convention:
    0 all ok, 1 a warning (0 with --warn-ok), 2 a failure, 3 the check could not run
    (a bad option or setting).
    """
    from ..health import check_prometheus_path, run_health, write_prometheus

    try:
        if prom is not None:
            check_prometheus_path(prom)  # before the checks: a typo costs no wait
        settings = cli_settings()
        with open_upstreams(settings) as upstreams:
            report = run_health(settings, upstreams, timeout_s=timeout, retries=retries)
        if prom is not None:
            write_prometheus(report, prom)
    except (MpcError, ValueError, OSError) as exc:
        if CliState.debug:
            stderr.print_exception()
        stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(_UNKNOWN) from None
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json")))
    else:
        _print_table(report, settings)
    raise typer.Exit(report.exit_code(warn_ok=warn_ok))


def _print_table(report: HealthReport, settings: Settings) -> None:
    from ..views import sources_banner

    table = Table(title=f"mpc health: {report.status.upper()} ({report.duration_s:.2f} s)")
    for column in ("check", "status", "latency", "reason"):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        latency = "" if row.latency_s is None else f"{row.latency_s * 1000:.0f} ms"
        style = _STYLE[row.status]
        table.add_row(row.check, f"[{style}]{row.status}[/]", latency, escape(row.reason))
    console = Console(width=120)
    console.print(table)
    console.print(f"sources: {sources_banner(report, settings)}", highlight=False)
