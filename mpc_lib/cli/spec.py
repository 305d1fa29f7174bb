"""`mpc spec`: the OpenAPI gate, stage by stage or whole, and client generation.

Exit codes: 0 no error finding; 1 an error finding (a breaking change counts unless
--allow-breaking); 2 bad input (a file that is not a readable OpenAPI document, a bad
option or lint config); the usual codes for a data source that fails (3, 4, 5).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import DEFAULT_API_URL
from ..errors import ConfigError
from ._common import cli_settings, data_upstreams, reported_errors

__all__ = ["print_findings", "spec_app", "stdout_console"]

spec_app = typer.Typer(
    no_args_is_help=True,
    help="The OpenAPI gate: validate, lint, upstream, conform, diff, check; MPC-API's merge;"
    " client generation.",
)

_SpecArg = Annotated[Path, typer.Argument(help="An OpenAPI 3.0/3.1 file (JSON or YAML).")]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
_Data = Annotated[
    str,
    typer.Option(
        "--data",
        help="Records to check: auto (live where a key is set), live, sandbox, registry,"
        " a registry/snapshot FILE, or none.",
    ),
]
_Config = Annotated[
    Path | None,
    typer.Option("--config", help="Lint severities.", show_default="openapi/lint.toml"),
]
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_STATUS_STYLE = {"pass": "green", "fail": "bold red", "skipped": "dim", "allowed": "yellow"}
# What a status reads as on the stage line: errors that --allow-breaking lets through say so.
_STATUS_TEXT = {"allowed": "breaking changes allowed"}


def stdout_console() -> Console:
    """The console for tables on stdout."""
    # Unbounded when piped, so each finding is one whole line for grep however long its
    # message or path; a terminal keeps its width.
    return Console(width=None if os.isatty(1) else 100_000, highlight=False, soft_wrap=False)


def _short(where: str) -> str:
    """A file path relative to the working directory when it is inside it."""
    path, sep, rest = where.partition(":")
    try:
        relative = Path(path).resolve().relative_to(Path.cwd())
    except (ValueError, OSError):
        return where
    return str(relative) + sep + rest


def print_findings(findings: list[Any], *, title: str, with_stage: bool) -> None:
    """One table: severity, rule, file:line:column, message (and the stage, for the gate)."""
    table = Table(title=title, show_lines=False, expand=False)
    if with_stage:
        table.add_column("stage")
    for column in ("severity", "rule", "where", "message"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        row = [
            f"[{_SEVERITY_STYLE[finding.severity]}]{finding.severity}[/]",
            finding.rule,
            escape(_short(finding.where) or finding.pointer),
            escape(finding.message),
        ]
        table.add_row(*([finding.stage, *row] if with_stage else row))
    console = stdout_console()
    if findings:
        console.print(table)
    else:
        console.print(f"{title}: no findings")


def _stage_line(stages: list[Any]) -> str:
    parts = []
    for stage in stages:
        counts = stage.counts
        shown = ", ".join(f"{n} {sev}" for sev, n in counts.items() if n) or stage.skipped or "ok"
        text = _STATUS_TEXT.get(stage.status, stage.status)
        parts.append(f"{stage.stage} [{_STATUS_STYLE[stage.status]}]{text}[/] ({shown})")
    return " · ".join(parts)


def _finish_stage(spec: Path, stage: Any, as_json: bool) -> None:
    """Print one stage and exit 1 when it has an error finding that blocks."""
    failed = bool(stage.blocking)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "spec": str(spec),
                    "passed": not failed,
                    "exit_code": int(failed),
                    **stage.model_dump(mode="json"),
                }
            )
        )
    else:
        print_findings(stage.sorted(), title=f"{stage.stage}: {spec}", with_stage=False)
        verdict = "[bold red]FAILED[/]" if failed else "[green]PASSED[/]"
        stdout_console().print(f"{_stage_line([stage])} -> {verdict}")
    if failed:
        raise typer.Exit(1)


@spec_app.command("validate")
def validate(spec: _SpecArg, as_json: _Json = False) -> None:
    """Structural validation (openapi-spec-validator, OAS 3.0 and 3.1) plus $refs and versions."""
    from ..spec import load_spec, validate_spec

    with reported_errors():
        result = validate_spec(load_spec(spec))
    _finish_stage(spec, result, as_json)


@spec_app.command("lint")
def lint(spec: _SpecArg, config: _Config = None, as_json: _Json = False) -> None:
    """House rules, each with an id and a severity from openapi/lint.toml."""
    from ..spec import lint_config_for, lint_spec, load_spec

    with reported_errors():
        settings = cli_settings()
        result = lint_spec(load_spec(spec), lint_config_for(settings, config))
    _finish_stage(spec, result, as_json)


@spec_app.command("upstream")
def upstream(spec: _SpecArg, as_json: _Json = False) -> None:
    """Operations against their provider's published spec (FAL): paths, auth, schemas."""
    from ..spec import check_upstream, load_spec

    with reported_errors():
        result = check_upstream(load_spec(spec))
    _finish_stage(spec, result, as_json)


@spec_app.command("conform")
def conform(
    spec: _SpecArg,
    data: _Data = "auto",
    fix_enums: Annotated[
        Path | None,
        typer.Option("--fix-enums", help="Write a copy of the spec whose enums take the data in."),
    ] = None,
    as_json: _Json = False,
) -> None:
    """Records (live, sandbox, registry or a snapshot) against the spec's response schemas."""
    from ..spec import check_conformance, load_records, load_spec
    from ..spec import fix_enums as write_fixed

    with reported_errors():
        document = load_spec(spec)
        with data_upstreams(data) as (settings, upstreams):
            if upstreams is None:
                raise ConfigError("--data none: conform needs records to check")
            result = check_conformance(document, load_records(upstreams, settings))
        written = write_fixed(document, result, fix_enums) if fix_enums is not None else None
    if written is not None:
        result.details["fixed_spec"] = str(written)
        if not as_json:
            message = f"wrote {escape(str(written))} with the drifted enum values added"
            stdout_console().print(message)
    _finish_stage(spec, result, as_json)


@spec_app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(help="The previous version.")],
    new: Annotated[Path, typer.Argument(help="The new version.")],
    allow_breaking: Annotated[
        bool, typer.Option("--allow-breaking", help="Exit 0 even with breaking changes.")
    ] = False,
    as_json: _Json = False,
) -> None:
    """Breaking changes from OLD to NEW (exit 1 on one unless --allow-breaking)."""
    from ..spec import diff_specs, load_spec

    with reported_errors():
        result = diff_specs(load_spec(old), load_spec(new))
    _finish_stage(new, result.allowing() if allow_breaking else result, as_json)


@spec_app.command("check")
def check(
    spec: _SpecArg,
    data: _Data = "auto",
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="The previous version, for breaking changes."),
    ] = None,
    config: _Config = None,
    allow_breaking: Annotated[
        bool, typer.Option("--allow-breaking", help="Breaking changes do not fail the gate.")
    ] = False,
    as_json: _Json = False,
) -> None:
    """The whole gate (validate, lint, upstream, conform, diff): one table, one exit code."""
    from ..spec import check_spec

    with reported_errors(), data_upstreams(data) as (settings, upstreams):
        report = check_spec(
            spec,
            settings=settings,
            data=upstreams,
            lint_config=config,
            baseline=baseline,
            allow_breaking=allow_breaking,
        )
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json")))
    else:
        print_findings(report.findings, title=f"gate: {spec}", with_stage=True)
        verdict = "[green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
        stdout_console().print(f"{_stage_line(report.stages)} -> {verdict}")
    raise typer.Exit(report.exit_code)


@spec_app.command("merge-api")
def merge_api(
    spec: _SpecArg,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of over SPEC.")
    ] = None,
    server_url: Annotated[
        str, typer.Option("--server-url", help="Where MPC-API answers, for the merged paths.")
    ] = DEFAULT_API_URL,
    check_only: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 when SPEC is not the fresh merge."),
    ] = False,
) -> None:
    """Merge MPC-API's current OpenAPI into the hub spec under /mpc (replacing a previous one)."""
    from ..spec import load_spec, merge_mpc_api, write_spec

    with reported_errors():
        current = load_spec(spec).data
        merged = merge_mpc_api(current, server_url=server_url)
        record = merged["x-mpc-merged"]["mpc-api"]
        what = (f"MPC-API {record['version']}: {len(record['paths'])} paths under /mpc, "
                f"served by {server_url}")  # fmt: skip
        if check_only:
            if current != merged:
                typer.echo(f"{spec}: not the current merge of {what}; "
                           f"run `mpc spec merge-api {spec}`", err=True)  # fmt: skip
                raise typer.Exit(1)
            typer.echo(f"{spec}: current ({what})")
            return
        written = write_spec(merged, out or spec)
    typer.echo(f"{written}: merged {what}; check it with `mpc spec check {written}`")


@spec_app.command("client")
def client(
    spec: _SpecArg,
    out: Annotated[Path, typer.Argument(help="Folder for the generated client (replaced).")],
    as_json: _Json = False,
) -> None:
    """Generate a typed Python client with openapi-python-client and check that it imports."""
    from ..spec import generate_client

    with reported_errors():
        result = generate_client(spec, out)
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json")))
        return
    typer.echo(f"generated {result.package} in {result.out_dir} ({result.modules} modules import)")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}")
