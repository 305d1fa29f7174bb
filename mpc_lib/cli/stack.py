"""`mpc stack ...`: init, doctor, up, status, logs, restart, down, smoke, diagram, export, images.

The cross-platform replacement for the old PowerShell manager.  Without `--local` or
`--engine`, `up` uses the first container engine that answers and runs the core as
local processes when none does (and says so); `status`, `logs`, `restart` and `down`
find the stack that is up (local pid files first, so a crashed workbook's processes
are still found).  Exit codes: 0 ok, 1 doctor found a failure (or an OS error),
2 bad input, 4 a service did not come up healthy or the smoke test failed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..stack.model import PROFILES

if TYPE_CHECKING:
    from ..stack.bringup import RunMode
from ._common import cli_settings, reported_errors, stderr

__all__ = ["stack_app"]

stack_app = typer.Typer(
    no_args_is_help=True,
    help="The AI stack: compose profiles on Docker/Podman, or the core as local processes.",
)

_STYLE = {
    "pass": "green",
    "healthy": "green",
    "ok": "green",
    "exited (0)": "green",
    "warn": "yellow",
    "unhealthy": "yellow",
    "skip": "dim",
    "stopped": "dim",
    "fail": "bold red",
    "dead": "bold red",
}
_UNHEALTHY = 4

_Profiles = Annotated[
    str, typer.Option("--profiles", "-p", help=f"Comma-separated, from: {','.join(PROFILES)}.")
]
_Local = Annotated[bool, typer.Option("--local", help="Local processes (the core only).")]
_Engine = Annotated[
    str | None, typer.Option("--engine", help="docker or podman (default: whichever answers).")
]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _mode(local: bool, engine: str | None) -> str:
    if local and engine:
        raise ValueError("--local and --engine exclude each other")
    if engine is not None and engine not in ("docker", "podman"):
        raise ValueError(f"--engine {engine!r}: expected docker or podman")
    return "local" if local else engine or "auto"


def _running_mode(settings: Any, local: bool, engine: str | None) -> RunMode:
    """The mode of the stack that is up (`local`, `docker`, `podman`); none up is an error."""
    from ..stack import stack_status

    current = stack_status(settings, _mode(local, engine), probe=False)
    if current.mode is None:
        raise ValueError(f"no stack is up ({current.note})")
    return current.mode


def _console() -> Console:
    return Console(width=140, highlight=False)


def _state(text: str) -> str:
    style = _STYLE.get(text, "")
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


@stack_app.command("init")
def init(as_json: _Json = False) -> None:
    """Write compose/.env from the template: new secrets for what is missing, mode 600."""
    from ..registry import RegistryStore
    from ..stack import StackPaths, init_env, write_container_config

    with reported_errors():
        settings = cli_settings()
        paths = StackPaths.for_settings(settings)
        report = init_env(paths.template, paths.env_file, settings)
        gateway = None
        if RegistryStore(settings.outputs_dir).load() is not None:
            gateway = write_container_config(settings, paths)
    if as_json:
        extra: dict[str, Any] = {"gateway_config": None}
        if gateway is not None:
            extra["gateway_config"] = {"path": str(gateway.path), "sandboxed": gateway.sandboxed}
        typer.echo(json.dumps({**report.model_dump(mode="json"), **extra}))
        return
    verb = "created" if report.created else ("updated" if report.changed else "unchanged")
    typer.echo(f"{report.path}: {verb} (mode 600, git-ignored)")
    for label, names in (
        ("generated", report.generated),
        ("from the workbook settings", report.from_settings),
        ("defaults", report.defaults),
        ("kept", report.kept),
        ("optional, left empty", report.optional_empty),
    ):
        if names:
            typer.echo(f"  {label} ({len(names)}): {', '.join(names)}")
    if report.mode_fixed:
        typer.echo("  its mode was looser than 600; set to 600")
    if gateway is None:
        typer.echo("gateway config for the containers: not yet (no registry: `mpc sync` first; "
                   "`mpc stack up` writes it too)")  # fmt: skip
    else:
        where = ", ".join(gateway.sandboxed) or "none"
        models = len(gateway.config["model_list"])
        typer.echo(f"{gateway.path}: the containers' gateway config, {models} models "
                   f"(on the sandbox upstream: {where})")  # fmt: skip


@stack_app.command("doctor")
def doctor(
    profiles: _Profiles = "core",
    mode: Annotated[
        str, typer.Option(help="auto, local, docker or podman.", show_default=True)
    ] = "auto",
    as_json: _Json = False,
) -> None:
    """Check the machine for the profiles: engine, Compose, ports, memory, disk, env, config."""
    from ..stack import parse_profiles, run_doctor

    with reported_errors():
        settings = cli_settings()
        if mode not in ("auto", "local", "docker", "podman"):
            raise ValueError(f"--mode {mode!r}: expected auto, local, docker or podman")
        report = run_doctor(settings, parse_profiles(profiles), mode)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json")))
    else:
        title = f"mpc stack doctor: {', '.join(report.profiles)} in {report.mode} mode: "
        table = Table(title=title + ("OK" if report.ok else "FAILED"))
        for column in ("check", "status", "detail", "hint"):
            table.add_column(column, overflow="fold")
        for row in report.rows:
            table.add_row(row.check, _state(row.status), escape(row.detail), escape(row.hint))
        _console().print(table)
    raise typer.Exit(report.exit_code)


@stack_app.command("up")
def up(
    profiles: _Profiles = "core",
    local: _Local = False,
    engine: _Engine = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for healthy.", show_default="60 local, 600 engine"),
    ] = None,
    smoke: Annotated[bool, typer.Option(help="Run the smoke test after up.")] = True,
    model: Annotated[str, typer.Option(help="The model the smoke chat asks.")] = (
        "text_general_draft"
    ),
    as_json: _Json = False,
) -> None:
    """Bring the profiles up, wait until healthy (progress per service), then smoke-test."""
    from ..stack import bring_up, parse_profiles

    started = time.monotonic()
    progress = _timed_progress(started)

    with reported_errors():
        settings = cli_settings()
        chosen = parse_profiles(profiles)
        mode = _mode(local, engine)
        run = bring_up(
            settings,
            chosen,
            mode,
            timeout_s=timeout,
            progress=progress,
            smoke=smoke,
            smoke_model=model,
            on_mode=lambda chosen_mode, why: stderr.print(
                f"mode: {chosen_mode} ({escape(why)})", highlight=False, soft_wrap=True
            ),
        )
    took = time.monotonic() - started
    if as_json:
        typer.echo(json.dumps({**run.model_dump(mode="json"), "duration_s": round(took, 2)}))
    else:
        if run.noop:
            typer.echo("already up and healthy: nothing to do")
        else:
            typer.echo(f"up in {took:.1f} s")
        if run.smoke is not None:
            _print_smoke(run.smoke)
    if run.smoke is not None and not run.smoke.ok:
        raise typer.Exit(_UNHEALTHY)


def _print_smoke(report: Any) -> None:
    table = Table(title="smoke: " + ("OK" if report.ok else "FAILED"))
    for column in ("check", "status", "latency", "detail"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        latency = "" if check.latency_ms is None else f"{check.latency_ms:.0f} ms"
        table.add_row(check.name, _state(check.status), latency, escape(check.detail))
    console = _console()
    console.print(table)
    for name, url in report.urls.items():
        console.print(f"open {name}: {url}")


@stack_app.command("status")
def status(local: _Local = False, engine: _Engine = None, as_json: _Json = False) -> None:
    """What is up: one row per service (exit 4 when one is not healthy)."""
    from ..stack import stack_status

    with reported_errors():
        settings = cli_settings()
        current = stack_status(settings, _mode(local, engine))
    if as_json:
        typer.echo(json.dumps(current.model_dump(mode="json")))
    elif not current.up:
        typer.echo(f"no stack is up ({current.note})" if current.note else "no stack is up")
    else:
        table = Table(title=f"mpc stack status ({current.mode})")
        for column in ("service", "state", "where", "url", "detail"):
            table.add_column(column, overflow="fold")
        for row in current.rows:
            table.add_row(
                row.service, _state(row.state), row.where, row.url or "", escape(row.detail)
            )
        _console().print(table)
    if current.up and not current.healthy:
        raise typer.Exit(_UNHEALTHY)


@stack_app.command("logs")
def logs(
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: all).")] = None,
    tail: Annotated[int, typer.Option(help="Lines from the end, per service.", min=0)] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = (
        False
    ),
    local: _Local = False,
    engine: _Engine = None,
) -> None:
    """The last lines of each service's log; `--follow` keeps printing (Ctrl-C stops)."""
    from ..stack import ComposeStack, StackPaths, local_stack

    with reported_errors():
        settings = cli_settings()
        mode = _running_mode(settings, local, engine)
        names = list(services or [])
        if mode == "local":
            stack = local_stack(settings)
            unknown = [n for n in names if n not in stack.specs]
            if unknown:
                raise ValueError(f"unknown service(s) {unknown}; known: {', '.join(stack.specs)}")
            for name in names or list(stack.specs):
                for line in stack.tail(name, tail):
                    typer.echo(f"{name} | {line}")
            if follow:
                _follow_local(stack, names or list(stack.specs))
        else:
            compose = ComposeStack(StackPaths.for_settings(settings), PROFILES, mode)
            for line in compose.logs(names, tail=tail, follow=follow):
                typer.echo(line)


def _follow_local(stack: Any, names: list[str]) -> None:
    import threading

    def pump(name: str) -> None:
        for line in stack.follow(name):
            typer.echo(f"{name} | {line}")

    for name in names:
        threading.Thread(target=pump, args=(name,), daemon=True).start()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass


@stack_app.command("restart")
def restart(
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: all).")] = None,
    local: _Local = False,
    engine: _Engine = None,
) -> None:
    """Restart services (all by default) and wait until they are healthy again."""
    from ..stack import ComposeStack, StackPaths, local_stack

    with reported_errors():
        settings = cli_settings()
        mode = _running_mode(settings, local, engine)
        if mode == "local":
            stack = local_stack(settings)
            stack.restart(list(services or stack.specs), progress=_progress_line)
        else:
            ComposeStack(StackPaths.for_settings(settings), PROFILES, mode).restart(
                list(services or [])
            )
    typer.echo("restarted")


def _timed_progress(started: float) -> Callable[[str, str], None]:
    """A progress callback printing `  12.3s  what: state` lines, timed from `started`."""

    def progress(what: str, state: str) -> None:
        stderr.print(f"{time.monotonic() - started:6.1f}s  {what}: {escape(state)}",
                     highlight=False, soft_wrap=True)  # fmt: skip

    return progress


def _progress_line(service: str, state: str) -> None:
    stderr.print(f"{service}: {escape(state)}", highlight=False, soft_wrap=True)


@stack_app.command("down")
def down(
    local: _Local = False,
    engine: _Engine = None,
    volumes: Annotated[
        bool, typer.Option("--volumes", help="Also remove the named volumes (data!).")
    ] = False,
    grace: Annotated[
        float, typer.Option(help="Seconds between SIGTERM and SIGKILL.", min=0)
    ] = 10.0,
    as_json: _Json = False,
) -> None:
    """Stop the stack: local processes (SIGTERM, then SIGKILL) or the compose project."""
    from ..stack import take_down

    with reported_errors():
        settings = cli_settings()
        mode, outcome = take_down(settings, _mode(local, engine), volumes=volumes, grace_s=grace)
    if isinstance(outcome, str):
        data: dict[str, Any] = {"mode": mode, "result": outcome}
        text = f"{mode}: {outcome}" if mode else f"nothing is up ({outcome})"
    else:
        data = {"mode": mode, "services": [result.model_dump(mode="json") for result in outcome]}
        text = (
            "\n".join(
                f"{r.name}: {r.outcome}"
                + (f" (pids {', '.join(map(str, r.pids))})" if r.pids else "")
                for r in outcome
            )
            or "nothing was running"
        )
    typer.echo(json.dumps(data) if as_json else text)


@stack_app.command("smoke")
def smoke(
    profiles: _Profiles = "core",
    local: _Local = False,
    engine: _Engine = None,
    model: Annotated[str, typer.Option(help="The model the chat asks.")] = "text_general_draft",
    as_json: _Json = False,
) -> None:
    """Every health URL, one chat through MPC-API, and the URLs to open (exit 4 on a fail)."""
    from ..stack import parse_profiles, smoke_stack

    with reported_errors():
        settings = cli_settings()
        mode = _running_mode(settings, local, engine)
        report = smoke_stack(settings, mode, parse_profiles(profiles), model=model)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json")))
    else:
        _print_smoke(report)
    if not report.ok:
        raise typer.Exit(_UNHEALTHY)


@stack_app.command("diagram")
def diagram(
    profiles: Annotated[
        str, typer.Option("--profiles", "-p", help="Comma-separated profiles to draw.")
    ] = ",".join(PROFILES),
    out: Annotated[Path | None, typer.Option(help="Write it to FILE instead.")] = None,
) -> None:
    """The architecture as Mermaid, drawn from compose/compose.yaml."""
    from ..stack import StackPaths, load_stack_model, parse_profiles, stack_mermaid
    from ..storage import atomic_write_text

    with reported_errors():
        settings = cli_settings()
        model = load_stack_model(StackPaths.for_settings(settings).compose_file)
        text = stack_mermaid(model, parse_profiles(profiles))
        if out is not None:
            atomic_write_text(out, text)
    typer.echo(f"wrote {out}" if out is not None else text.rstrip("\n"))


@stack_app.command("export")
def export(
    k8s: Annotated[Path, typer.Option("--k8s", help="Folder to write the Kubernetes files to.")],
    config: Annotated[
        Path | None,
        typer.Option(help="The LiteLLM config.", show_default="outputs/gateway/litellm.yaml"),
    ] = None,
    release: Annotated[str, typer.Option(help="Helm release name.")] = "mpc",
    namespace: Annotated[str | None, typer.Option(help="Namespace for the manifests.")] = None,
    api_image: Annotated[
        str | None,
        typer.Option(
            help="The MPC-API image, pinned to a version: no :latest, no untagged.",
            show_default="mpc-workbench/mpc-api:<package version>",
        ),
    ] = None,
    replicas: Annotated[int, typer.Option(help="Replicas of each service.", min=2)] = 2,
    postgres_host: Annotated[str, typer.Option(help="The cluster's Postgres host.")] = "postgres",
    redis_host: Annotated[str, typer.Option(help="The cluster's Redis host.")] = "redis",
    as_json: _Json = False,
) -> None:
    """Helm values for LiteLLM's chart plus MPC-API manifests, validated against the schema
    and the restricted Pod Security level."""
    from ..kubernetes import DEFAULT_API_IMAGE
    from ..stack import K8sOptions, export_k8s, validate_k8s

    with reported_errors():
        settings = cli_settings()
        options = K8sOptions(
            release=release,
            namespace=namespace,
            api_image=DEFAULT_API_IMAGE if api_image is None else api_image,
            api_replicas=replicas,
            gateway_replicas=replicas,
            postgres_host=postgres_host,
            redis_host=redis_host,
        )
        result = export_k8s(settings, k8s, config_path=config, options=options)
        checked = validate_k8s(k8s)
    if as_json:
        typer.echo(json.dumps({**result.model_dump(mode="json"), "validated": checked}))
        return
    for path in result.files:
        typer.echo(f"wrote {path}")
    typer.echo(
        f"{len(checked)} manifests valid against the Kubernetes schema; every pod fit for "
        "the restricted Pod Security level"
    )


@stack_app.command("images")
def images(
    install: Annotated[
        bool, typer.Option("--install", help="apt-get install podman, runc and debootstrap.")
    ] = False,
    mirror: Annotated[str, typer.Option(help="The Debian mirror debootstrap reads.")] = (
        "http://deb.debian.org/debian"
    ),
    cache: Annotated[
        Path | None,
        typer.Option(help="Cache folder.", show_default="~/.cache/mpc-workbench/images"),
    ] = None,
    as_json: _Json = False,
) -> None:
    """Build the core's images offline with podman: a Debian base, LiteLLM, MPC-API, workbook.

    No registry is needed: the base comes from debootstrap, the wheels from this machine's
    pip.  A second run is served from the cache.  `mpc stack up --engine podman` then runs
    these tags (compose/compose.images.yaml).
    """
    import mpc_lib

    from ..stack import build_images

    source = Path(mpc_lib.__file__).resolve().parents[1]
    progress = _timed_progress(time.monotonic())

    with reported_errors():
        report = build_images(source, cache_dir=cache, install=install, mirror=mirror,
                              progress=progress)  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json")))
        return
    for name, ref in report.images.items():
        typer.echo(f"{name}: {ref}")
    cached = sum(step.cached for step in report.steps)
    typer.echo(f"built in {report.seconds:.1f} s ({cached}/{len(report.steps)} steps from cache)")
