"""The `mpc` command: parse, call one library function, map MpcError to an exit code.

One module per command group (`catalog`, `runs`, `sandbox`, ...); each defines its
commands or a sub-app, and this module only registers them.  Shared plumbing
(settings, one-line errors, exit codes) lives in `_common`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._common import CliState
from .api import api_app
from .apidog import apidog_app
from .catalog import registry_app, sync
from .gateway import gateway_app
from .health import HealthCommand, health
from .pricing import pricing_app
from .runs import run, runs_app
from .sandbox import sandbox_app
from .schedule import run_all, schedule_app
from .spec import spec_app
from .stack import stack_app

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="MPC Workbench operations.")
app.command()(sync)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run)
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
