"""`mpc` for the tests: in this process through typer's CliRunner, or as the real console script.

`mpc(...)` runs a command against the library the way a fresh `mpc` process would: its own
environment (the developer's MPC_/FAL_/COMET*/LITELLM_/APIDOG_ variables removed, then
`env` applied; a None value unsets one; whatever the command changes is undone after), its
own working directory (and so its own workbook root), logging set up by `mpc` itself onto
the captured stderr, and an uncaught exception shown as the traceback Python would print.
The answer has the fields of a `subprocess.CompletedProcess`, so a test reads `returncode`,
`stdout` and `stderr` either way.

`mpc_process(...)` is the real thing, for the few tests that check the entry point itself or
a command that serves until it is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from mpc_lib.cli import app

__all__ = [
    "DEVELOPER_ENV_PREFIXES",
    "Ran",
    "mpc",
    "mpc_env",
    "mpc_process",
    "mpc_script",
]

# The variables a developer's shell or .env may carry that would change a result.
DEVELOPER_ENV_PREFIXES = ("MPC_", "FAL_", "COMET", "LITELLM_", "APIDOG_")

# Colour codes rich may add when this interpreter started on a terminal (a pipe gets none).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The loggers `mpc`'s callback sets a level on.
_CLI_LOGGERS = ("mpc_lib", "httpx", "httpcore")


@dataclass(frozen=True)
class Ran:
    """A finished `mpc` command: what it printed and its exit code."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def mpc(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | str | None = None,
    input: str | None = None,
) -> Ran:
    """`mpc ARGS` in this process, isolated like a fresh process started in `cwd`.

    `env` goes over the current environment minus the developer's variables; MPC_HOME is
    unset unless `env` names it, so the workbook root is found from `cwd` (default: the
    current directory, the test's own workbook) as it is for a user in a shell.
    """
    overrides: dict[str, str | None] = dict.fromkeys(
        (name for name in os.environ if name.startswith(DEVELOPER_ENV_PREFIXES)), None
    )
    overrides.update(env or {})
    runner = CliRunner()
    with contextlib.chdir(cwd or Path.cwd()), _own_environ(), _fresh_logging():
        result = runner.invoke(app, list(args), env=overrides, input=input)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(
        args=tuple(args),
        returncode=result.exit_code,
        stdout=_ANSI.sub("", result.stdout),
        stderr=_ANSI.sub("", stderr),
    )


def mpc_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """A real `mpc` process's environment: ours minus the developer's variables, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(DEVELOPER_ENV_PREFIXES)}
    for name, value in (env or {}).items():
        if value is None:
            clean.pop(name, None)
        else:
            clean[name] = value
    return clean


def mpc_script() -> str:
    """The installed `mpc` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("mpc")
    if not script.is_file():
        raise AssertionError(f"no `mpc` console script next to {sys.executable}: pip install -e .")
    return str(script)


def mpc_process(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`mpc ARGS` as a real process of the console script, with `mpc_env(env)`, until it exits."""
    return subprocess.run(
        [mpc_script(), *args], env=mpc_env(env), cwd=cwd or Path.cwd(),
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@contextlib.contextmanager
def _own_environ() -> Iterator[None]:
    """The environment as it was before, whatever the command set (a process's would go with it)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        if dict(os.environ) != saved:
            os.environ.clear()
            os.environ.update(saved)


@contextlib.contextmanager
def _fresh_logging() -> Iterator[None]:
    """Logging as a new process has it: no root handlers (so `mpc`'s basicConfig writes onto the
    captured stderr), and every handler and level put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in _CLI_LOGGERS}
    root.handlers.clear()
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, saved in levels.items():
            logging.getLogger(name).setLevel(saved)
