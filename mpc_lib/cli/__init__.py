"""The `mpc` command: parse, call one library function, map MpcError to an exit code.

One module per command group (`catalog`, `runs`, `sandbox`, ...); each defines its
commands or a sub-app, and this module only registers them.  Shared plumbing
(settings, one-line errors, exit codes) lives in `_common`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from ._common import CliState, stderr
from .api import api_app
from .apidog import apidog_app
from .catalog import registry_app, sync
from .gateway import gateway_app
from .health import HealthCommand, health
from .pricing import pricing_app
from .runs import ParametersCommand, run, runs_app
from .sandbox import sandbox_app
from .schedule import run_all, schedule_app
from .spec import spec_app
from .stack import stack_app

__all__ = ["app", "main"]


class _OneLineUsageErrors(TyperGroup):
    """The `mpc` group: a usage error (an unknown option, a missing argument) is one stderr line
    with its exit code, like every other error, instead of typer's boxed panel."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        try:
            # Not standalone, so the usage error reaches us; typer.Exit comes back as its code.
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except _USAGE_ERRORS as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one printed the help already
                stderr.print(f"[bold red]error:[/] {escape(_usage_line(exc))}", highlight=False,
                             soft_wrap=True)  # fmt: skip
            sys.exit(getattr(exc, "exit_code", 2))
        except _ABORTS:
            stderr.print("[bold red]error:[/] aborted", highlight=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


# typer >= 0.26 carries its own click, whose errors are TyperExceptions; older typer used click's.
_USAGE_ERRORS = (typer.TyperException, click.ClickException)
_ABORTS = (typer.Abort, click.exceptions.Abort)


def _usage_line(exc: Exception) -> str:
    """`mpc runs list: No such option: --bogus (see mpc runs list --help)`, on one line."""
    message = " ".join(str(getattr(exc, "format_message", exc.__str__)()).split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    # named as users type it, however it was started (the script, python -m, a test runner)
    command = "mpc" + ctx.command_path[len(ctx.find_root().command_path) :]
    return f"{command}: {message.rstrip('.')} (see {command} --help)"


app = typer.Typer(
    cls=_OneLineUsageErrors,
    add_completion=False,
    no_args_is_help=True,
    help="MPC Workbench operations.",
)
app.command()(sync)
app.command(cls=ParametersCommand)(run)
app.command(cls=HealthCommand)(health)
app.add_typer(registry_app, name="registry")
app.add_typer(runs_app, name="runs")
app.add_typer(schedule_app, name="schedule")
app.command("run-all")(run_all)
app.add_typer(pricing_app, name="pricing")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(stack_app, name="stack")
app.add_typer(gateway_app, name="gateway")
app.add_typer(api_app, name="api")
app.add_typer(spec_app, name="spec")
app.add_typer(apidog_app, name="apidog")


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every HTTP call.")] = False,
    env_file: Annotated[
        Path | None,
        typer.Option(
            help="dotenv file with keys and MPC_* settings.",
            show_default="<workbook root>/.env when present",
        ),
    ] = None,
) -> None:
    CliState.debug = debug
    CliState.env_file = env_file
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("mpc_lib").setLevel(level)
    # mpc_lib.http logs one line per call; httpx's own per-request line would double it.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


def main() -> None:
    """Console-script entry point."""
    app()
