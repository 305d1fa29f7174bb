"""`mpc run` (execute a notebook headless, as papermill's CLI does) and `mpc runs ...`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperOption

from ..errors import MpcError, NotebookError, SecretLeaked
from ..extras import install_hint
from ._common import cli_settings, fail, reported_errors, stderr

__all__ = [
    "ParametersCommand",
    "notebook_parameters",
    "print_failure",
    "run",
    "run_errors",
    "runs_app",
]

runs_app = typer.Typer(no_args_is_help=True, help="The run index: list, show, prune; assets.")

_CELL_LINES_SHOWN = 30


_PARAMETERS_KEY = "mpc_notebook_parameters"


class ParametersCommand(TyperCommand):
    """A command that takes notebook parameters as `-p NAME VALUE` (papermill's spelling,
    repeatable), listed in its help with the other options.

    typer has no type for a repeated option of two values (a list of tuples is refused), so
    the option is added here; the command reads what it parsed with
    `notebook_parameters(ctx)`.  `TyperOption`'s constructor changed after typer 0.27,
    hence the `typer<0.28` pin in pyproject.toml.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.insert(
            0,
            TyperOption(
                param_decls=["-p", "--parameter", _PARAMETERS_KEY],
                nargs=2,
                multiple=True,
                metavar="NAME VALUE",
                expose_value=False,
                callback=_keep_parameters,
                help="A notebook parameter, read as its declared type (repeatable).",
            ),
        )


def _keep_parameters(ctx: Any, _param: Any, pairs: tuple[tuple[str, str], ...]) -> None:
    ctx.meta[_PARAMETERS_KEY] = {name: value for name, value in pairs or ()}


def notebook_parameters(ctx: typer.Context) -> dict[str, str]:
    """The `-p NAME VALUE` pairs a `ParametersCommand` parsed (a repeated name: the last)."""
    return dict(ctx.meta.get(_PARAMETERS_KEY, {}))


@contextlib.contextmanager
def run_errors() -> Iterator[None]:
    """Like `reported_errors`, plus the failing cell and the report path for a failed run."""
    try:
        yield
    except (NotebookError, SecretLeaked) as exc:
        error = fail(exc)
        print_failure(exc)
        raise error from None
    except (MpcError, ValueError, OSError) as exc:
        raise fail(exc) from None


def print_failure(exc: BaseException) -> None:
    """After the one-line error: the failing cell's source and error, and where to look."""
    if isinstance(exc, NotebookError):
        if exc.cell_source is not None:
            lines = exc.cell_source.splitlines() or [""]
            shown = lines[:_CELL_LINES_SHOWN]
            more = len(lines) - len(shown)
            stderr.out(f"failing cell {exc.cell_index}:", highlight=False)
            for line in shown:
                stderr.out(f"    {line}", highlight=False)
            if more > 0:
                stderr.out(f"    ... {more} more line(s)", highlight=False)
        stderr.out(f"{exc.ename}: {exc.evalue}", highlight=False)
    output = getattr(exc, "output_path", None)
    if isinstance(output, Path):
        stderr.out(f"report:   {output.with_suffix('.html')}", highlight=False)


def run(
    ctx: typer.Context,
    notebook: Annotated[str, typer.Argument(help="A notebook in notebooks/, e.g. catalog_sync.")],
    timeout: Annotated[
        float | None, typer.Option(help="Stop a cell that runs longer (seconds).", min=0.001)
    ] = None,
    deadline: Annotated[
        float | None,
        typer.Option(help="Stop the whole run after this long (seconds).", min=0.001),
    ] = None,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Hide code cells in the HTML report.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line on stdout.")] = False,
) -> None:
    """Execute a notebook with papermill into outputs/runs/<date>/ (plus an offline report).

    Pass parameters as -p NAME VALUE (repeatable); values are read as the
    notebook's declared types.  Every run is recorded in outputs/runs/index.jsonl.
    """
    from ..runs import run_notebook

    with run_errors():
        params = notebook_parameters(ctx)
        result = run_notebook(
            notebook, params, settings=cli_settings(),
            timeout_s=timeout, deadline_s=deadline, report_only=report_only,
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps({
            "status": "ok", "run_id": result.run_id, "notebook": result.notebook,
            "sources": result.sources, "duration_s": result.duration_s,
            "outputs": {"notebook": str(result.output_path), "html": str(result.html_path),
                        "manifest": str(result.manifest_path)},
        }))  # fmt: skip
        return
    if result.sources:
        used = ", ".join(f"{name}={source}" for name, source in result.sources.items())
        typer.echo(f"sources:  {used}")
    typer.echo(f"notebook: {result.output_path}")
    typer.echo(f"html:     {result.html_path}")
    typer.echo(f"manifest: {result.manifest_path}")
    typer.echo(f"run id:   {result.run_id}")
    typer.echo(f"ok in {result.duration_s:.1f}s")


@runs_app.command("list")
def runs_list(
    notebook: Annotated[str | None, typer.Option(help="Only this notebook.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only this status: ok, failed, interrupted, blocked.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only runs started since: a date (2026-01-31), a time, or 7d / 12h."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Show the newest N (0 = all).", min=0)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
) -> None:
    """List indexed runs, oldest first: when, notebook, status, duration, sources, failing cell."""
    from ..runs import RunIndex

    with reported_errors():
        if status is not None and status not in ("ok", "failed", "interrupted", "blocked"):
            raise ValueError(f"--status {status!r}: expected ok, failed, interrupted or blocked")
        settings = cli_settings()
        index = RunIndex(Path(settings.outputs_dir) / "runs")
        records = index.query(notebook=notebook, status=status, since=_since(since))
    if limit:
        records = records[-limit:]
    if as_json:
        for record in records:
            typer.echo(record.to_line())
        return
    if not records:
        typer.echo(f"no runs in {index.path}")
        return
    for record in records:
        sources = ",".join(f"{k}={v}" for k, v in (record.sources or {}).items()) or "-"
        duration = f"{record.duration_s:.1f}s" if record.duration_s is not None else "-"
        cell = f"  cell {record.failing_cell}" if record.failing_cell is not None else ""
        typer.echo(f"{record.run_id:<42} {record.status:<8} {duration:>7}  {sources}{cell}")


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A run id, its unique ending, or `latest`.")],
    as_json: Annotated[bool, typer.Option("--json", help="The record as JSON.")] = False,
) -> None:
    """Show one run: parameters, sources, timing, outputs, and the failing cell."""
    from ..runs import RunIndex

    with reported_errors():
        settings = cli_settings()
        record = RunIndex(Path(settings.outputs_dir) / "runs").get(run_id)
    if as_json:
        typer.echo(record.to_line())
        return
    rows: list[tuple[str, Any]] = [
        ("run id", record.run_id),
        ("notebook", record.notebook),
        ("status", record.status),
        ("started", record.started_at.isoformat()),
        ("finished", record.finished_at.isoformat() if record.finished_at else "-"),
        ("duration", f"{record.duration_s:.1f}s" if record.duration_s is not None else "-"),
        ("parameters", json.dumps(record.parameters) if record.parameters else "(defaults)"),
        ("sources", ", ".join(f"{k}={v}" for k, v in (record.sources or {}).items()) or "-"),
        ("git sha", record.git_sha or "-"),
    ]
    rows += [(name, path) for name, path in record.outputs.items()]
    for name, value in rows:
        typer.echo(f"{name + ':':<12} {value}")
    if record.error:
        typer.echo(f"{'error:':<12} {record.error.get('message')}")
        source = record.error.get("cell_source")
        if source:
            typer.echo(f"failing cell {record.error.get('cell_index')}:")
            for line in str(source).splitlines():
                typer.echo(f"    {line}")


@runs_app.command("prune")
def runs_prune(
    keep_days: Annotated[
        int | None,
        typer.Option(
            help="Keep runs started in the last N days (0: none, with --yes).",
            min=0,
            show_default="MPC_RUNS_KEEP_DAYS",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Delete nothing; list what would go.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm --keep-days 0 (every run, the newest too).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line on stdout.")] = False,
) -> None:
    """Delete runs older than N days: their index records and the files they wrote."""
    from ..runs import RunIndex

    with reported_errors():
        settings = cli_settings()
        days = keep_days if keep_days is not None else settings.runs_keep_days
        if days is None:
            raise ValueError("give --keep-days N or set MPC_RUNS_KEEP_DAYS")
        if days == 0 and not (yes or dry_run):
            raise ValueError(
                "--keep-days 0 deletes every run, the newest too; pass --yes to confirm "
                "(--dry-run lists them)"
            )
        report = RunIndex(Path(settings.outputs_dir) / "runs").prune(days, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps({
            "removed": [record.run_id for record in report.records],
            "files": [str(path) for path in report.files], "kept": report.kept,
            "dry_run": report.dry_run,
        }))  # fmt: skip
        return
    if dry_run:
        for record in report.records:
            typer.echo(f"would remove {record.run_id} ({record.started_at.isoformat()})")
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"{verb} {len(report.records)} run(s) older than {days} day(s) "
        f"({len(report.files)} file(s)); {report.kept} kept"
    )


@runs_app.command("assets")
def runs_assets(
    fetch: Annotated[
        bool, typer.Option("--fetch", help="Fetch the widgets renderer with npm if missing.")
    ] = False,
) -> None:
    """Show (or fetch) what offline reports load: plotly.js and the widgets renderer."""
    from ..runs import WIDGET_RENDERER, fetch_widget_renderer, widget_renderer_cached

    with reported_errors():
        settings = cli_settings()
        path = fetch_widget_renderer(settings) if fetch else widget_renderer_cached(settings)
    try:
        import plotly

        typer.echo(f"plotly.js:        from plotly {plotly.__version__} (installed)")
    except ImportError:
        typer.echo(f"plotly.js:        missing: {install_hint('notebooks')}")
    name = f"{WIDGET_RENDERER.package}@{WIDGET_RENDERER.version}"
    if path is None:
        typer.echo(f"widgets renderer: {name} not fetched: run `mpc runs assets --fetch`")
        raise typer.Exit(1)
    typer.echo(f"widgets renderer: {name} at {path}")


def _since(text: str | None) -> datetime | None:
    """`7d`, `12h`, `30m`, or an ISO date/time (UTC when no zone is given)."""
    if text is None:
        return None
    text = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a date (2026-01-31), a time, or 7d / 12h / 30m"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
