"""Scheduled runs: the same `mpc run` on cron, a systemd timer, a Kubernetes CronJob or CI.

`render_schedule(spec)` turns one schedule (a notebook or a notebook set, a cron
expression, parameters) into the files of one target, each validated before it is
written: the cron expression with croniter (five fields, as every target reads them),
the time zone with zoneinfo (an IANA name, as cronie, systemd and Kubernetes read it),
systemd units with `systemd-analyze verify` where that exists, the CronJob against the
Kubernetes schema and the restricted Pod Security level (`mpc_lib.kubernetes`, offline),
the CI workflow's cron against GitHub's rules.  The CronJob runs the workbook image the
repository builds (compose/Dockerfile.workbook, tagged with the package version) unless
`--image` names another; either is pinned (`:latest` and untagged are refused).  The
other targets run the local `mpc` and take no image.
`add_schedule` writes them and records them in `<workbook>/schedules/schedules.json`,
which `list_schedules` reads.

`NOTEBOOK_SETS` names the notebooks `mpc run-all --set NAME` runs, in order.

A scheduled run never falls back to the sandbox: every target runs `mpc` with
MPC_SOURCE=live, so a missing provider key fails the run (exit 2 naming the key) instead
of syncing synthetic data over the live registry, and the CronJob requires its Secret.
"""

from __future__ import annotations

import copy
import logging
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from filelock import FileLock

from .config import Settings
from .errors import ConfigError
from .extras import require
from .kubernetes import (
    DEFAULT_WORKBOOK_IMAGE,
    IMAGE_UID,
    check_image,
    check_restricted,
    container_security_context,
    pod_security_context,
    validate_manifest,
)
from .providers import PROVIDERS
from .runs import RunResult, resolve_notebook, run_notebook, validate_parameters
from .storage import atomic_write_json, atomic_write_text, read_json

__all__ = [
    "NOTEBOOK_SETS",
    "SCHEDULE_TARGETS",
    "GeneratedSchedule",
    "ScheduleSpec",
    "ScheduleTarget",
    "add_schedule",
    "cron_to_oncalendar",
    "list_schedules",
    "render_schedule",
    "run_set",
    "validate_cron",
    "validate_timezone",
    "verify_systemd_units",
]

logger = logging.getLogger("mpc_lib.schedule")

# The notebooks each set runs, in order (a later one may read what an earlier one wrote).
# A new workbook notebook joins the daily run by being added here.
NOTEBOOK_SETS: dict[str, tuple[str, ...]] = {
    "daily": ("catalog_sync",),
}

ScheduleTarget = Literal["cron", "systemd", "k8s", "ci"]
SCHEDULE_TARGETS: tuple[str, ...] = get_args(ScheduleTarget)
_K8S_OUTPUTS = "/outputs"
_K8S_KEYS_SECRET = "mpc-workbench-keys"
# What every scheduled run sets: live sources required, never the sandbox unasked.
_SCHEDULED_ENV = {"MPC_SOURCE": "live"}
_K8S_OUTPUTS_CLAIM = "mpc-workbench-outputs"
# A notebook run: a kernel, papermill and the report (the limits are what a Job may take).
_K8S_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"},
                  "limits": {"cpu": "1", "memory": "2Gi"}}  # fmt: skip
_SCHEDULES_DIRNAME = "schedules"
_RECORD_FILENAME = "schedules.json"
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_GITHUB_MIN_INTERVAL_MIN = 5


@dataclass(frozen=True)
class ScheduleSpec:
    """One scheduled run: what (a notebook or a set), when (cron), where (the target)."""

    cron: str
    target: ScheduleTarget
    notebook: str | None = None
    notebook_set: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    deadline_s: float | None = None
    report_only: bool = False
    # The CronJob's image (k8s only): by default the workbook image; always a pinned version.
    image: str | None = None
    timezone: str = "UTC"

    @property
    def what(self) -> str:
        """`catalog_sync`, or `set daily`."""
        return self.notebook or f"set {self.notebook_set}"

    @property
    def name(self) -> str:
        """The unit/job name: `mpc-catalog_sync`, `mpc-set-daily`."""
        return "mpc-" + (self.notebook or f"set-{self.notebook_set}")

    def mpc_args(self) -> list[str]:
        """The `mpc` arguments every target runs."""
        if self.notebook_set is not None:
            args = ["run-all", "--set", self.notebook_set]
        else:
            args = ["run", str(self.notebook)]
            for name, value in self.parameters.items():
                args += ["-p", name, value]
        if self.timeout_s is not None:
            args += ["--timeout", f"{self.timeout_s:g}"]
        if self.deadline_s is not None:
            args += ["--deadline", f"{self.deadline_s:g}"]
        if self.report_only:
            args.append("--report-only")
        return args


@dataclass(frozen=True)
class GeneratedSchedule:
    """The files of one schedule (name -> text) and what validated them."""

    spec: ScheduleSpec
    files: dict[str, str]
    checks: dict[str, str]
    install: str


def validate_cron(expression: str) -> str:
    """The expression as five cron fields (macros expanded); ConfigError says what is wrong."""
    croniter = require("croniter", "schedules", "schedule").croniter
    text = " ".join(expression.split())
    if text.lower() == "@reboot":
        raise ConfigError("--cron '@reboot' is not a time; give five cron fields")
    text = _MACROS.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ConfigError(
            f"--cron {expression!r}: expected 5 fields (minute hour day-of-month month "
            f"day-of-week), got {len(fields)}"
        )
    if not croniter.is_valid(text):
        try:
            croniter(text)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"--cron {expression!r}: {exc}") from None
        raise ConfigError(f"--cron {expression!r}: not a valid cron expression")
    return text


def validate_timezone(name: str) -> str:
    """The time zone name if zoneinfo knows it (as cronie, systemd and Kubernetes read the same
    IANA database); ConfigError otherwise."""
    if name == "UTC":  # valid everywhere, even on a host without a time zone database
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"--timezone {name!r}: not a time zone; give an IANA name such as UTC or Europe/Paris"
        ) from None
    return name


def cron_to_oncalendar(expression: str, timezone: str | None = None) -> list[str]:
    """systemd OnCalendar= values firing exactly when the cron expression does.

    Cron fires when day-of-month OR day-of-week matches if both are restricted;
    systemd ANDs them, so that case becomes two OnCalendar= lines (a timer fires on any).
    """
    croniter = require("croniter", "schedules", "schedule").croniter
    text = validate_cron(expression)
    expanded, _ = croniter.expand(text)
    minutes, hours, days, months, weekdays = (_numbers(part, text) for part in expanded)
    time_part = f"{_list(hours, 2)}:{_list(minutes, 2)}:00"
    suffix = f" {timezone}" if timezone else ""

    def line(weekday: list[int] | None, day: list[int] | None) -> str:
        week = ""
        if weekday:
            week = ",".join(_DAYS[d] for d in sorted({d % 7 for d in weekday})) + " "
        return f"{week}*-{_list(months, 2)}-{_list(day, 2)} {time_part}{suffix}"

    if days is not None and weekdays is not None:
        return [line(weekdays, None), line(None, days)]
    return [line(weekdays, days)]


def render_schedule(spec: ScheduleSpec, settings: Settings) -> GeneratedSchedule:
    """The target's files for `spec`, validated; ConfigError names the first problem."""
    if (spec.notebook is None) == (spec.notebook_set is None):
        raise ConfigError("give a notebook or --set NAME (one of the two)")
    if spec.notebook_set is not None and spec.notebook_set not in NOTEBOOK_SETS:
        raise ConfigError(
            f"unknown notebook set {spec.notebook_set!r}; known: {', '.join(NOTEBOOK_SETS)}"
        )
    if spec.notebook is not None:
        path = resolve_notebook(spec.notebook, home=settings.home)
        validate_parameters(path, spec.parameters)
    elif spec.parameters:
        raise ConfigError("-p parameters go with one notebook, not with --set")
    if spec.target not in SCHEDULE_TARGETS:
        raise ConfigError(f"unknown target {spec.target!r}; known: {', '.join(SCHEDULE_TARGETS)}")
    cron = validate_cron(spec.cron)
    validate_timezone(spec.timezone)
    image = spec.image
    if spec.target == "k8s":
        image = check_image(spec.image or DEFAULT_WORKBOOK_IMAGE, option="--image")
    elif spec.image is not None:
        raise ConfigError(f"--image goes with --target k8s, not --target {spec.target}")
    spec = ScheduleSpec(**{**spec.__dict__, "cron": cron, "image": image})
    render = {"cron": _crontab, "systemd": _systemd, "k8s": _cronjob, "ci": _workflow}
    return render[spec.target](spec, settings)


def add_schedule(
    spec: ScheduleSpec, settings: Settings, out: Path | None = None
) -> tuple[GeneratedSchedule, list[Path]]:
    """Render, validate and write a schedule's files, and record it for `list_schedules`.

    `out` is the file to write (a folder for systemd's two units); by default
    `<workbook>/schedules/<target>/`.
    """
    generated = render_schedule(spec, settings)
    folder = _schedules_dir(settings) / spec.target
    targets: dict[str, Path] = {name: folder / name for name in generated.files}
    if out is not None:
        out = Path(out)
        if len(generated.files) > 1 or out.is_dir():
            targets = {name: out / name for name in generated.files}
        else:
            targets = {name: out for name in generated.files}
    written = [atomic_write_text(targets[name], text) for name, text in generated.files.items()]
    entry = {
        "name": spec.name,
        "target": spec.target,
        "what": spec.what,
        "cron": spec.cron,
        "timezone": spec.timezone,
        "command": shlex.join(["mpc", *spec.mpc_args()]),
        "files": [str(path) for path in written],
        "checks": generated.checks,
        "install": generated.install,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    record = _schedules_dir(settings) / _RECORD_FILENAME
    with FileLock(str(record) + ".lock"):
        entries = [
            e for e in _read_entries(record)
            if not (e.get("name") == spec.name and e.get("target") == spec.target)
        ]  # fmt: skip
        atomic_write_json(record, [*entries, entry])
    return generated, written


def list_schedules(settings: Settings) -> list[dict[str, Any]]:
    """The schedules `add_schedule` wrote, oldest first."""
    return _read_entries(_schedules_dir(settings) / _RECORD_FILENAME)


def run_set(
    name: str,
    *,
    settings: Settings,
    on_start: Callable[[str], None] | None = None,
    sets: Mapping[str, tuple[str, ...]] | None = None,
    **run_options: Any,
) -> list[RunResult]:
    """Run every notebook of set `name` in order; the first failure raises (later ones don't run).

    `on_start(notebook)` is called before each run (the CLI prints progress with it);
    `sets` replaces NOTEBOOK_SETS; `run_options` go to `run_notebook`.
    """
    sets = NOTEBOOK_SETS if sets is None else sets
    if name not in sets:
        raise ConfigError(f"unknown notebook set {name!r}; known: {', '.join(sets)}")
    results = []
    for notebook in sets[name]:
        if on_start is not None:
            on_start(notebook)
        results.append(run_notebook(notebook, settings=settings, **run_options))
    return results


# --- targets --------------------------------------------------------------------------------


def _crontab(spec: ScheduleSpec, settings: Settings) -> GeneratedSchedule:
    home = _home(settings)
    log = Path(settings.outputs_dir) / "runs" / "cron.log"
    command = f"cd {shlex.quote(str(home))} && {_env_words()} "
    command += shlex.join([_mpc(), *spec.mpc_args()])
    command += f" >> {shlex.quote(str(log))} 2>&1"
    # In a crontab line an unescaped % ends the command.
    command = command.replace("%", "\\%")
    text = (
        f"# MPC Workbench: {spec.what} at '{spec.cron}' ({spec.timezone}).\n"
        f"# Install: (crontab -l 2>/dev/null; cat {spec.name}.crontab) | crontab -\n"
        "# CRON_TZ is honoured by cronie; other crons use the machine's time zone.\n"
        f"CRON_TZ={spec.timezone}\n"
        f"{spec.cron} {command}\n"
    )
    return GeneratedSchedule(
        spec, {f"{spec.name}.crontab": text}, {"cron": "croniter: ok"},
        install=f"(crontab -l 2>/dev/null; cat {spec.name}.crontab) | crontab -",
    )  # fmt: skip


def _systemd(spec: ScheduleSpec, settings: Settings) -> GeneratedSchedule:
    calendars = cron_to_oncalendar(spec.cron, spec.timezone)
    exec_start = " ".join(_systemd_quote(arg) for arg in [_mpc(), *spec.mpc_args()])
    service = (
        "[Unit]\n"
        f"Description=MPC Workbench: {spec.what}\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_systemd_quote(str(_home(settings)))}\n"
        "# Keys and MPC_* settings come from the workbook's .env, which mpc reads itself;\n"
        "# live sources are required: a missing key fails the run, never the sandbox.\n"
        + "".join(f"Environment={name}={value}\n" for name, value in _SCHEDULED_ENV.items())
        + f"ExecStart={exec_start}\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=MPC Workbench: {spec.what} at '{spec.cron}' ({spec.timezone})\n"
        "\n"
        "[Timer]\n"
        + "".join(f"OnCalendar={calendar}\n" for calendar in calendars)
        + "Persistent=true\n"
        f"Unit={spec.name}.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    files = {f"{spec.name}.service": service, f"{spec.name}.timer": timer}
    checks = {"cron": "croniter: ok", "systemd": verify_systemd_units(files)}
    install = (
        f"cp {spec.name}.service {spec.name}.timer /etc/systemd/system/ && "
        f"systemctl daemon-reload && systemctl enable --now {spec.name}.timer"
    )
    return GeneratedSchedule(spec, files, checks, install)


def _cronjob(spec: ScheduleSpec, settings: Settings) -> GeneratedSchedule:
    # A DNS label; at most 52 characters, as the Jobs it creates add 11.
    name = re.sub(r"[^a-z0-9-]", "-", spec.name.lower())[:52].strip("-")
    labels = {"app.kubernetes.io/name": "mpc-workbench", "mpc-workbench/job": name}
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "template": {
            "metadata": {"labels": dict(labels)},  # a copy: no YAML anchors in the output
            "spec": {
                "restartPolicy": "Never",
                # The image's user (mpc); fsGroup makes the outputs claim writable for it.
                "securityContext": pod_security_context(IMAGE_UID, gid=IMAGE_UID),
                "containers": [
                    {
                        "name": "mpc",
                        "image": spec.image,
                        "command": ["mpc"],
                        "args": spec.mpc_args(),
                        "env": [
                            {"name": "MPC_OUTPUTS_DIR", "value": _K8S_OUTPUTS},
                            *({"name": k, "value": v} for k, v in _SCHEDULED_ENV.items()),
                        ],
                        # FAL_KEY, COMETAPI_KEY... from one Secret, required: without it the
                        # pod does not start; a key missing from it fails the run (live only).
                        "envFrom": [{"secretRef": {"name": _K8S_KEYS_SECRET, "optional": False}}],
                        "volumeMounts": [{"name": "outputs", "mountPath": _K8S_OUTPUTS}],
                        "resources": copy.deepcopy(_K8S_RESOURCES),
                        "securityContext": container_security_context(IMAGE_UID),
                    }
                ],
                "volumes": [
                    {"name": "outputs", "persistentVolumeClaim": {"claimName": _K8S_OUTPUTS_CLAIM}}
                ],
            },
        },
    }
    if spec.deadline_s is not None:
        job_spec["activeDeadlineSeconds"] = int(spec.deadline_s) + 300  # kernel start, report
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "schedule": spec.cron,
            "timeZone": spec.timezone,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "jobTemplate": {"spec": job_spec},
        },
    }
    checks = {
        "cron": "croniter: ok",
        "k8s": validate_manifest(manifest, extra="schedule"),
        "pod-security": check_restricted(manifest),
    }
    built = " (compose/Dockerfile.workbook)" if spec.image == DEFAULT_WORKBOOK_IMAGE else ""
    text = (
        f"# MPC Workbench: {spec.what} at '{spec.cron}' ({spec.timezone}).\n"
        f"# Image {spec.image}{built}; outputs on the PVC {_K8S_OUTPUTS_CLAIM}; keys from the "
        f"Secret {_K8S_KEYS_SECRET} ({', '.join(_secret_variables())}),\n"
        "# required, with MPC_SOURCE=live: a missing key fails the run, never the sandbox.\n"
        f"# Restricted Pod Security level: non-root (uid {IMAGE_UID}), RuntimeDefault seccomp, "
        "no\n# privilege escalation, no capabilities; cpu and memory requests and limits.\n"
        + yaml.safe_dump(manifest, sort_keys=False)
    )
    install = f"kubectl apply -f {name}.cronjob.yaml"
    return GeneratedSchedule(spec, {f"{name}.cronjob.yaml": text}, checks, install)


def _workflow(spec: ScheduleSpec, settings: Settings) -> GeneratedSchedule:
    if spec.timezone != "UTC":
        raise ConfigError("GitHub Actions schedules run in UTC only; use --timezone UTC")
    _check_github_interval(spec.cron)
    env = {var: f"${{{{ secrets.{var} }}}}" for var in _secret_variables()}
    minutes = 60 if spec.deadline_s is None else int(spec.deadline_s // 60) + 15
    workflow = {
        "name": f"mpc {spec.what}",
        "on": {"schedule": [{"cron": spec.cron}], "workflow_dispatch": {}},
        "concurrency": {"group": spec.name, "cancel-in-progress": False},
        "jobs": {
            "run": {
                "runs-on": "ubuntu-latest",
                "timeout-minutes": minutes,
                # live sources required: a missing secret fails the run, never the sandbox
                "env": dict(_SCHEDULED_ENV),
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                    {"run": "pip install -e '.[notebooks]'"},
                    {"run": "mpc runs assets --fetch"},
                    {"run": shlex.join(["mpc", *spec.mpc_args()]), "env": env},
                    {
                        "uses": "actions/upload-artifact@v4",
                        "if": "always()",
                        "with": {"name": f"{spec.name}-runs", "path": "outputs/runs/"},
                    },
                ],
            }
        },
    }
    text = f"# MPC Workbench: {spec.what} at '{spec.cron}' (UTC).\n" + yaml.safe_dump(
        workflow, sort_keys=False
    )
    checks = {"cron": "croniter: ok", "ci": _check_workflow(text)}
    return GeneratedSchedule(
        spec, {f"{spec.name}.yml": text}, checks, install=f"cp {spec.name}.yml .github/workflows/"
    )


# --- validation -----------------------------------------------------------------------------


def verify_systemd_units(files: Mapping[str, str]) -> str:
    """`systemd-analyze verify` on units (file name -> text), where it exists.

    Returns what was checked; ConfigError quotes any complaint about the units.
    """
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return "systemd-analyze not installed: not verified"
    with tempfile.TemporaryDirectory(prefix="mpc-units-") as tmp:
        paths = []
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
            paths.append(str(Path(tmp) / name))
        done = subprocess.run(
            [tool, "verify", *paths], capture_output=True, text=True, timeout=60, check=False
        )
    complaints = [
        line.replace(tmp + "/", "")
        for line in done.stderr.splitlines()
        if any(name in line for name in files)
    ]
    if done.returncode != 0 or complaints:
        detail = "; ".join(complaints) or done.stderr.strip()[-300:]
        raise ConfigError(f"systemd-analyze verify rejected the units: {detail}")
    return "systemd-analyze verify: ok"


def _check_github_interval(cron: str) -> None:
    """GitHub runs scheduled workflows at most every 5 minutes."""
    croniter = require("croniter", "schedules", "schedule").croniter
    times = croniter(cron, datetime(2026, 1, 1, tzinfo=UTC))
    previous = times.get_next(datetime)
    for _ in range(50):
        current = times.get_next(datetime)
        if (current - previous).total_seconds() < _GITHUB_MIN_INTERVAL_MIN * 60:
            raise ConfigError(
                f"--cron {cron!r} fires more often than every {_GITHUB_MIN_INTERVAL_MIN} minutes, "
                "the shortest interval GitHub Actions schedules"
            )
        previous = current


def _check_workflow(text: str) -> str:
    """Read the workflow back as GitHub would and check the parts it needs."""
    data = yaml.safe_load(text)
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    crons = [entry.get("cron") for entry in (triggers or {}).get("schedule", [])]
    for cron in crons:
        validate_cron(cron)
    steps = data["jobs"]["run"]["steps"]
    if not crons or not any(str(step.get("run", "")).startswith("mpc run") for step in steps):
        raise ConfigError("the CI workflow has no schedule or no `mpc run` step")
    return "workflow read back: schedule and mpc step ok"


# --- helpers --------------------------------------------------------------------------------


def _numbers(part: list[Any], text: str) -> list[int] | None:
    """One expanded cron field as numbers, or None for `*`."""
    if part == ["*"]:
        return None
    if not all(isinstance(value, int) for value in part):
        raise ConfigError(f"--cron {text!r}: {part} cannot be written as a systemd calendar")
    return [int(value) for value in part]


def _list(values: list[int] | None, width: int) -> str:
    return "*" if values is None else ",".join(f"{v:0{width}d}" for v in values)


def _systemd_quote(arg: str) -> str:
    """One ExecStart= word: quoted when needed, `%` and `$` escaped for systemd."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if escaped and re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mpc() -> str:
    """The mpc beside this interpreter (a venv's), else `mpc` on PATH."""
    beside = Path(sys.executable).parent / "mpc"
    return str(beside) if beside.is_file() else (shutil.which("mpc") or "mpc")


def _env_words() -> str:
    """`MPC_SOURCE=live`: the scheduled environment as a shell command's prefix."""
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in _SCHEDULED_ENV.items())


def _home(settings: Settings) -> Path:
    return Path(settings.home) if settings.home is not None else Path.cwd()


def _schedules_dir(settings: Settings) -> Path:
    return _home(settings) / _SCHEDULES_DIRNAME


def _secret_variables() -> list[str]:
    """Every variable a secret comes from: provider keys, then other Secret settings."""
    names = [spec.key_var for spec in PROVIDERS.values()]
    return list(dict.fromkeys([*names, *Settings.secret_fields().values()]))


def _read_entries(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    data = read_json(path)
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of schedules")
    return [entry for entry in data if isinstance(entry, dict)]
