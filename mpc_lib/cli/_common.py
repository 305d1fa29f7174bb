"""What every `mpc` command shares: settings from --env-file, one-line errors, exit codes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ..config import Settings
from ..errors import ConfigError, MpcError
from ..upstreams import Upstreams, open_upstreams

__all__ = [
    "CliState",
    "cli_settings",
    "data_upstreams",
    "exit_code",
    "fail",
    "reported_errors",
    "stderr",
]

stderr = Console(stderr=True)


class CliState:
    """The global options, set once by the `mpc` callback."""

    debug = False
    env_file: Path | None = None


def cli_settings() -> Settings:
    """Settings from the environment over `--env-file` (default: the workbook's .env)."""
    if CliState.env_file is not None and not CliState.env_file.is_file():
        raise ConfigError(f"{CliState.env_file}: no such env file (--env-file)")
    return Settings.from_env(env_file=CliState.env_file)


def exit_code(exc: BaseException) -> int:
    """MpcErrors carry their own code; bad arguments are 2; an OS error (disk, permissions) 1."""
    if isinstance(exc, MpcError):
        return exc.exit_code
    return 2 if isinstance(exc, ValueError) else 1


def fail(exc: BaseException) -> typer.Exit:
    """One stderr line (a traceback only under --debug), then the error's exit code."""
    if CliState.debug:
        stderr.print_exception()
    stderr.print(f"[bold red]error:[/] {escape(_message(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(exit_code(exc))


def _message(exc: BaseException) -> str:
    """`path: reason` for an OS error (not Python's `[Errno 2] ...: 'path'`), else the text."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Turn an MpcError, bad value or OS error inside the block into one line and its exit code."""
    try:
        yield
    except (MpcError, ValueError, OSError) as exc:
        raise fail(exc) from None


@contextlib.contextmanager
def data_upstreams(data: str) -> Iterator[tuple[Settings, Upstreams | None]]:
    """Settings, and the upstreams a spec's `--data` choice names (None for `none`)."""
    from ..spec import records_source  # the spec gate loads only for the commands that use it

    settings = cli_settings()
    if data == "none":
        yield settings, None
        return
    with open_upstreams(settings, **records_source(settings, data)._asdict()) as upstreams:
        yield settings, upstreams
