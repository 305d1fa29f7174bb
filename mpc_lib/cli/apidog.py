"""`mpc apidog`: pull and (guarded) push of the hub spec, and apidog-mcp-server.

Exit codes: 0 ok (a dry run that would be allowed; mcp-tools skipped without node);
1 the spec fails the gate or breaks the project without --allow-breaking (nothing
sent); 2 bad input; 3 Apidog refused a call or reported failed counters; 4 no
answer; 5 a malformed answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..upstreams import open_upstreams
from ._common import cli_settings, data_upstreams, reported_errors
from .spec import print_findings, stdout_console

__all__ = ["apidog_app"]

apidog_app = typer.Typer(
    no_args_is_help=True,
    help="Pull and push the hub spec to Apidog (guarded by the gate); apidog-mcp-server.",
)

_Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
_Source = Annotated[
    str | None,
    typer.Option(
        help="auto (live when APIDOG_ACCESS_TOKEN is set), live or sandbox.",
        show_default="MPC_SOURCE",
    ),
]
_DEFAULT_SPEC = Path("openapi") / "api-hub.oas.json"


def _default_spec(spec: Path | None) -> Path:
    if spec is not None:
        return spec
    from ..spec import workbook_path

    return workbook_path(cli_settings(), _DEFAULT_SPEC)


@apidog_app.command("pull")
def pull(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the export.", show_default="outputs/apidog/remote.oas.json"
        ),
    ] = None,
    source: _Source = None,
    as_json: _Json = False,
) -> None:
    """Export the project's OpenAPI (POST /v1/projects/{id}/export-openapi) into a file."""
    from ..apidog import pull_spec

    with reported_errors():
        settings = cli_settings()
        with open_upstreams(settings, ("apidog",), source=source) as upstreams:
            result = pull_spec(settings, upstreams["apidog"], out)
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json")))
        return
    if result.note:
        typer.echo(f"apidog: {result.note}")
    typer.echo(
        f"pulled project {result.project_id} ({result.source}): OpenAPI {result.openapi},"
        f" {result.paths} paths, {result.schemas} schemas -> {result.path}"
    )


def _counters_table(counters: dict[str, Any]) -> Table:
    table = Table(title="Apidog import counters")
    table.add_column("")
    outcomes = ("Created", "Updated", "Failed", "Ignored")
    for outcome in outcomes:
        table.add_column(outcome.lower(), justify="right")
    for kind in ("endpoint", "schema", "endpointFolder", "schemaFolder"):
        cells = []
        for outcome in outcomes:
            value = counters.get(f"{kind}{outcome}")
            text = "-" if value is None else str(value)
            cells.append(f"[bold red]{text}[/]" if outcome == "Failed" and value else text)
        table.add_row(kind, *cells)
    return table


@apidog_app.command("push")
def push(
    spec: Annotated[Path, typer.Argument(help="The spec to push (it must pass the gate).")],
    apply: Annotated[
        bool, typer.Option("--apply", help="Back up the project, then import (default: dry run).")
    ] = False,
    endpoint_overwrite_behavior: Annotated[
        str, typer.Option(help="OVERWRITE_EXISTING, AUTO_MERGE, KEEP_EXISTING or CREATE_NEW.")
    ] = "OVERWRITE_EXISTING",
    schema_overwrite_behavior: Annotated[
        str, typer.Option(help="OVERWRITE_EXISTING, AUTO_MERGE, KEEP_EXISTING or CREATE_NEW.")
    ] = "OVERWRITE_EXISTING",
    delete_unmatched: Annotated[
        bool, typer.Option("--delete-unmatched", help="Delete what the spec no longer has.")
    ] = False,
    allow_breaking: Annotated[
        bool, typer.Option("--allow-breaking", help="Push even with breaking changes.")
    ] = False,
    data: Annotated[
        str, typer.Option("--data", help="Records for the gate's conform stage (or none).")
    ] = "auto",
    source: _Source = None,
    as_json: _Json = False,
) -> None:
    """Gate the spec, diff it against the project, and with --apply back it up and import it."""
    from ..apidog import ImportOptions, push_spec, raise_for_result
    from ..errors import SpecRejected

    with reported_errors():
        options = ImportOptions(
            endpoint_overwrite_behavior=endpoint_overwrite_behavior,
            schema_overwrite_behavior=schema_overwrite_behavior,
            delete_unmatched_resources=delete_unmatched,
        )
        try:
            with (
                data_upstreams(data) as (settings, records),
                open_upstreams(settings, ("apidog",), source=source) as upstreams,
            ):
                outcome = push_spec(
                    settings, spec, upstreams["apidog"], apply=apply, options=options,
                    data=records, allow_breaking=allow_breaking,
                )  # fmt: skip
        except SpecRejected as exc:
            if exc.outcome is None:
                raise
            outcome = exc.outcome
    if as_json:
        shown = {**outcome.model_dump(mode="json"), "exit_code": _push_exit(outcome)}
        typer.echo(json.dumps(shown))
    else:
        _show_push(outcome, apply)
    if outcome.refusal is not None:
        raise typer.Exit(1)
    with reported_errors():
        raise_for_result(outcome)


def _push_exit(outcome: Any) -> int:
    if outcome.refusal is not None:
        return 1
    if outcome.result is not None and not outcome.result.ok:
        return 3
    return 0


def _show_push(outcome: Any, apply: bool) -> None:
    console = stdout_console()
    if outcome.note:
        console.print(f"apidog: {escape(outcome.note)}")
    console.print(
        f"target: project {outcome.project_id} ({outcome.source}), holding"
        f" {outcome.remote_paths} path(s)"
    )
    console.print(
        f"spec:   {escape(outcome.spec)} ({outcome.size} bytes, sha256 {outcome.sha256[:16]}…)"
    )
    report = outcome.report
    if not report.passed:
        print_findings(report.findings, title=f"gate: {outcome.spec}", with_stage=True)
    counts = report.counts()
    verdict = "[green]passed[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(
        f"gate:   {verdict} ({counts['error']} error, {counts['warning']} warning,"
        f" {counts['info']} info)"
    )
    print_findings(outcome.changes.sorted(), title="changes against the project", with_stage=False)
    options = ", ".join(f"{k}={v}" for k, v in outcome.options.model_dump(mode="json").items())
    console.print(f"options: {escape(options)}")
    if outcome.refusal is not None:
        console.print(f"[bold red]refused, nothing was sent:[/] {escape(outcome.refusal)}")
        return
    if not apply:
        console.print("dry run: nothing sent; --apply backs up the project and imports this spec")
        return
    console.print(f"backup: {escape(str(outcome.backup))}")
    result = outcome.result
    console.print(_counters_table(result.counters))
    for error in result.errors:
        console.print(f"[bold red]error:[/] {escape(error)}")
    if result.missing:
        console.print(f"[yellow]counters not in the answer:[/] {', '.join(result.missing)}")
    console.print("imported" if result.ok else "[bold red]imported with failures[/]")


@apidog_app.command("mcp-config")
def mcp_config_command(
    project_id: Annotated[
        str | None, typer.Option(help="An Apidog project.", show_default="APIDOG_PROJECT_ID")
    ] = None,
    oas: Annotated[
        Path | None, typer.Option(help="A local OpenAPI file instead of a project.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="cursor or vscode.")] = "cursor",
    name: Annotated[str, typer.Option(help="The server's name in the config.")] = "apidog",
    out: Annotated[
        Path | None, typer.Option(help="Write mcp.json here (default: print it).")
    ] = None,
    as_json: _Json = False,
) -> None:
    """The mcp.json that starts apidog-mcp-server for a project or a local spec."""
    from ..apidog import mcp_config, write_mcp_config

    with reported_errors():
        settings = cli_settings()
        if project_id is None and oas is None:
            project_id = settings.apidog_project_id
            if project_id is None:
                oas = _default_spec(None)
        if fmt not in ("cursor", "vscode"):
            raise ValueError(f"--format {fmt!r}: expected cursor or vscode")
        config = mcp_config(
            settings,
            project_id=project_id,
            oas=oas,
            fmt="vscode" if fmt == "vscode" else "cursor",
            name=name,
        )
        if out is not None:
            written = write_mcp_config(config, out)
    if as_json:
        typer.echo(json.dumps({"config": config, "written": str(written) if out else None}))
    elif out is None:
        typer.echo(json.dumps(config, indent=2))
    else:
        typer.echo(f"wrote {written}")


@apidog_app.command("mcp-tools")
def mcp_tools(
    spec: Annotated[
        Path | None,
        typer.Argument(help="The spec to serve.", show_default="openapi/api-hub.oas.json"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.", min=1)] = 120,
    as_json: _Json = False,
) -> None:
    """Start apidog-mcp-server (npx) over stdio on a spec and list its tools."""
    from ..apidog import MCP_TOOL_KINDS, list_mcp_tools
    from ..errors import ResponseFormatError

    with reported_errors():
        listing = list_mcp_tools(_default_spec(spec), cli_settings(), timeout_s=timeout)
        if listing.skipped is None and listing.missing:
            raise ResponseFormatError(
                "apidog-mcp-server", "tools/list",
                f"no tool for {', '.join(listing.missing)} (expected {', '.join(MCP_TOOL_KINDS)})",
            )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(listing.model_dump(mode="json")))
        return
    if listing.skipped is not None:
        typer.echo(f"skipped: {listing.skipped}")
        return
    server = listing.server
    typer.echo(
        f"{server.get('name', 'server')} {server.get('version', '')}"
        f" (MCP {listing.protocol}): {len(listing.tools)} tools"
    )
    for tool in listing.tools:
        typer.echo(f"  {tool.name:<42} {tool.kind or '(unknown kind)'}: {tool.description}")
