"""The `mpc` command: parse, call one library function, map MpcError to an exit code."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from .config import SOURCES, Settings
from .errors import ConfigError, MpcError
from .providers import PROVIDERS

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="MPC Workbench operations.")
sandbox_app = typer.Typer(no_args_is_help=True, help="Run the FAL/Comet emulators.")
registry_app = typer.Typer(no_args_is_help=True, help="Look after outputs/registry.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(registry_app, name="registry")

_stderr = Console(stderr=True)


class _State:
    debug = False
    env_file: Path | None = None


def _settings() -> Settings:
    """Settings from the environment over `--env-file` (default: the workbook's .env)."""
    if _State.env_file is not None and not _State.env_file.is_file():
        raise ConfigError(f"{_State.env_file}: no such env file (--env-file)")
    return Settings.from_env(env_file=_State.env_file)


def _exit_code(exc: BaseException) -> int:
    """MpcErrors carry their own code; bad arguments are 2; an OS error (disk, permissions) 1."""
    if isinstance(exc, MpcError):
        return exc.exit_code
    return 2 if isinstance(exc, ValueError) else 1


def _fail(exc: Exception, code: int) -> typer.Exit:
    """One stderr line (a traceback only under --debug), then the exit code."""
    if _State.debug:
        _stderr.print_exception()
    _stderr.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


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
    _State.debug = debug
    _State.env_file = env_file
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("mpc_lib").setLevel(level)
    # mpc_lib.http logs one line per call; httpx's own per-request line would double it.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


class _Bars:
    """Rich progress bars on stderr, one pair per provider, fed by sync progress events."""

    def __init__(self, providers: tuple[str, ...]) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_stderr,
            transient=False,
        )
        self.tasks: dict[tuple[str, str], TaskID] = {}
        for name in providers:
            for stage in ("models", "prices"):
                self.tasks[name, stage] = self.progress.add_task(f"{name} {stage}", total=None)
        self.lock = threading.Lock()

    def __call__(self, provider: str, stage: str, done: int, total: int | None) -> None:
        with self.lock:
            if stage == "done":
                for key in ("models", "prices"):
                    task = self.tasks[provider, key]
                    current = self.progress.tasks[task].completed
                    self.progress.update(task, total=max(current, 1), completed=max(current, 1))
                return
            self.progress.update(self.tasks[provider, stage], completed=done, total=total)


@app.command()
def sync(
    source: Annotated[
        str | None,
        typer.Option(
            help="auto (live where a key is set), live or sandbox.", show_default="MPC_SOURCE"
        ),
    ] = None,
    providers: Annotated[
        str, typer.Option(help=f"Comma-separated, from: {', '.join(PROVIDERS)}.")
    ] = ",".join(PROVIDERS),
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial", help="Keep a failed provider's previous records, marked stale."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="End with one JSON summary line.")
    ] = False,
) -> None:
    """Sync FAL and Comet into outputs/registry and report what changed."""
    from .catalog import sync_catalog

    started = time.perf_counter()
    chosen = tuple(p.strip() for p in providers.split(",") if p.strip())
    sources: dict[str, str] = {}
    try:
        if source is not None and source not in SOURCES:
            raise ConfigError(f"--source {source!r}: expected one of {', '.join(SOURCES)}")
        settings = _settings()
        sources = {
            name: settings.source_for(name, source) for name in chosen if name in PROVIDERS
        }
        bars = _Bars(tuple(sources))
        with bars.progress:
            report = sync_catalog(
                settings,
                providers=chosen,
                source=source,
                allow_partial=allow_partial,
                progress=bars,
            )
    except (MpcError, ValueError, OSError) as exc:
        if as_json:
            failed = {
                "status": "failed", "sources": sources, "counts": {}, "added": 0, "removed": 0,
                "changed": 0, "stale": [], "duration_s": round(time.perf_counter() - started, 3),
                "registry": None, "error": str(exc),
            }  # fmt: skip
            typer.echo(json.dumps(failed))
        code = _exit_code(exc)
        raise _fail(exc, code) from None
    typer.echo(report.summary())
    if as_json:
        typer.echo(json.dumps(report.to_json()))


def _parameters(args: list[str]) -> dict[str, str]:
    """`-p NAME VALUE` pairs (papermill's spelling), repeated; anything else is a usage error."""
    params: dict[str, str] = {}
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        if flag not in ("-p", "--parameter") or len(rest) < 2:
            raise ValueError(f"expected -p NAME VALUE, got {' '.join([flag, *rest[:2]])!r}")
        name, value = rest.pop(0), rest.pop(0)
        params[name] = value
    return params


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    notebook: Annotated[str, typer.Argument(help="A notebook in notebooks/, e.g. catalog_sync.")],
) -> None:
    """Execute a notebook with papermill into outputs/runs/<date>/ (plus an HTML copy).

    Pass parameters as -p NAME VALUE (repeatable); values are read as the
    notebook's declared types.
    """
    from .runs import run_notebook

    try:
        params = _parameters(ctx.args)
        result = run_notebook(notebook, params, settings=_settings())
    except (MpcError, ValueError, OSError) as exc:
        raise _fail(exc, _exit_code(exc)) from None
    if result.sources:
        used = ", ".join(f"{name}={source}" for name, source in result.sources.items())
        typer.echo(f"sources:  {used}")
    typer.echo(f"notebook: {result.output_path}")
    typer.echo(f"html:     {result.html_path}")
    typer.echo(f"manifest: {result.manifest_path}")
    typer.echo(f"ok in {result.duration_s:.1f}s")


@registry_app.command("restore")
def registry_restore(
    snapshot: Annotated[
        Path | None,
        typer.Argument(help="A snapshot file.", show_default="the newest snapshot that parses"),
    ] = None,
) -> None:
    """Put a registry snapshot back as outputs/registry/models.json (the old file is kept)."""
    from .registry import RegistryStore

    try:
        settings = _settings()
        store = RegistryStore(
            settings.outputs_dir,
            keep=settings.snapshot_keep,
            lock_timeout_s=settings.lock_timeout_s,
        )
        used = store.restore(snapshot)
    except (MpcError, ValueError, OSError) as exc:
        raise _fail(exc, _exit_code(exc)) from None
    typer.echo(f"restored {store.path} from {used}")


@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    fal_port: Annotated[
        int, typer.Option(help="FAL emulator port (0 = any free).", min=0, max=65535)
    ] = 8801,
    comet_port: Annotated[
        int, typer.Option(help="Comet emulator port (0 = any free).", min=0, max=65535)
    ] = 8802,
    latency_ms: Annotated[
        float, typer.Option(help="Added latency per request.", min=0, max=600_000)
    ] = 0.0,
    snapshot: Annotated[
        Path | None, typer.Option(help="Serve a registry snapshot instead of generated data.")
    ] = None,
) -> None:
    """Serve the FAL and Comet emulators until interrupted; any key with the right scheme works."""
    from .sandbox import Sandbox, SandboxData

    try:
        data = SandboxData.from_snapshot(snapshot) if snapshot else SandboxData.generate()
        sandbox = Sandbox(
            data=data, latency_ms=latency_ms, accept_any_key=True,
            host=host, fal_port=fal_port, comet_port=comet_port,
        )  # fmt: skip
        sandbox.start()
    except (MpcError, OSError, ValueError) as exc:
        raise _fail(exc, _exit_code(exc)) from None
    typer.echo(f"FAL emulator:   {sandbox.fal_url}   (Authorization: Key <anything>)")
    typer.echo(f"Comet emulator: {sandbox.comet_url}   (Authorization: Bearer <anything>)")
    typer.echo(f"faults: POST {sandbox.fal_url.rsplit('/v1', 1)[0]}/_sandbox/faults; Ctrl-C stops")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
