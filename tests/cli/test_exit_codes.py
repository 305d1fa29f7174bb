"""The exit-code table of the README, pinned path by path (in-process; the real `mpc` script's
exit codes are tests/cli/test_entry_points.py's).

0 ok, 1 OS error or lock, 2 bad input, 3 an error answer, 4 no answer, 5 malformed
answer or file, 6 a notebook cell failed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runner import Ran, mpc
from filelock import FileLock

from mpc_lib.runs import RunIndex, RunRecord
from mpc_lib.sandbox import Fault, Sandbox

HUB_SPEC = Path(__file__).resolve().parents[2] / "openapi" / "api-hub.oas.json"


def _mpc(*args: str, env: dict[str, str], cwd: Path) -> Ran:
    return mpc(*args, env={"MPC_HOME": str(cwd), **env}, cwd=cwd)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _live_fal(sandbox: Sandbox, key: str | None = None) -> dict[str, str]:
    """Reach the session sandbox as if it were the real FAL; Comet stays on the in-process one."""
    return {
        "FAL_KEY": key or sandbox.fal_key,
        "MPC_FAL_BASE_URL": sandbox.fal_url,
        "MPC_MAX_RETRIES": "0",
    }


def _outputs_is_a_file(tmp: Path) -> dict[str, str]:
    (tmp / "out").write_text("a file where the outputs folder should be")
    return {"MPC_OUTPUTS_DIR": str(tmp / "out")}


def _corrupt_registry(tmp: Path) -> dict[str, str]:
    registry = tmp / "outputs" / "registry" / "models.json"
    registry.parent.mkdir(parents=True)
    registry.write_text('{"models": [\n  {"provider": "fal",,}\n]}\n')
    snapshot = registry.parent / "snapshots" / "models-20260101T000000000000Z.json"
    snapshot.parent.mkdir()
    snapshot.write_text('{"models": []}\n')
    return {}


def _live_registry(tmp: Path) -> dict[str, str]:
    """A registry whose Comet records came from the live API (the sandbox would replace them)."""
    registry = tmp / "outputs" / "registry" / "models.json"
    registry.parent.mkdir(parents=True)
    live = {"source": "live", "kind": "live", "status": "ok", "prices": "live API"}
    record = {"provider": "comet", "model_id": "gpt-4o", "pricing": None}
    registry.write_text(json.dumps(
        {"sources": {"comet": live}, "counts": {"comet": 1}, "models": [record]}
    ))  # fmt: skip
    return {}


Setup = Callable[[Path], dict[str, str]]
CASES: list[tuple[str, tuple[str, ...], Setup, int, str]] = [
    ("ok", ("sync", "--providers", "comet"), lambda tmp: {}, 0, ""),
    ("os error", ("sync", "--providers", "comet"), _outputs_is_a_file, 1, "cannot write"),
    ("bad setting", ("sync",), lambda tmp: {"MPC_CONCURRENCY": "0"}, 2, "MPC_CONCURRENCY='0'"),
    ("bad source", ("sync", "--source", "sanbox"), lambda tmp: {}, 2, "--source 'sanbox'"),
    ("bad port", ("sandbox", "serve", "--fal-port", "70000"), lambda tmp: {}, 2, "65535"),
    ("bad parameter", ("run", "catalog_sync", "-p", "source", "sanbox"), lambda tmp: {}, 2,
     "parameter source='sanbox': expected one of"),
    ("bad env line", ("sync",), lambda tmp: (tmp / ".env").write_text("oops\n") and {}, 2,
     ".env:1: expected NAME=value"),
    ("no answer", ("sync", "--providers", "fal"),
     lambda tmp: {"FAL_KEY": "k", "MPC_FAL_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
                  "MPC_MAX_RETRIES": "0"}, 4, "no answer for GET /models"),
    ("refused kind", ("sync", "--providers", "comet"), _live_registry, 2,
     "comet: the registry holds live records, this sync fetched sandbox ones. Pass --replace"),
    ("corrupt registry", ("sync", "--providers", "comet"), _corrupt_registry, 5,
     "restore the newest snapshot (models-20260101T000000000000Z.json) with `mpc registry"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "setup", "code", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_exit_code_table(
    tmp_path: Path, args: tuple[str, ...], setup: Setup, code: int, message: str
) -> None:
    result = _mpc(*args, env=setup(tmp_path), cwd=tmp_path)
    assert result.returncode == code, result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_error_answer_exits_3(sandbox: Sandbox, tmp_path: Path) -> None:
    result = _mpc("sync", "--providers", "fal", env=_live_fal(sandbox, "wrong"), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "fal: 401 GET" in result.stderr and "wrong" not in result.stderr


def test_a_malformed_answer_exits_5(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.add(Fault("malformed", provider="fal", path="/v1/models$", times=None))
    result = _mpc("sync", "--providers", "fal", env=_live_fal(sandbox), cwd=tmp_path)
    assert result.returncode == 5, result.stderr
    assert "malformed answer from /models" in result.stderr


def test_a_held_lock_exits_1_and_says_so(tmp_path: Path) -> None:
    lock = tmp_path / "outputs" / "registry" / ".lock"
    lock.parent.mkdir(parents=True)
    with FileLock(lock):
        result = _mpc(
            "sync", "--providers", "comet", env={"MPC_LOCK_TIMEOUT_S": "0.2"}, cwd=tmp_path
        )
    assert result.returncode == 1, result.stderr
    assert "another sync holds the lock (waited 0.2 s)" in result.stderr


# --- issue 17, items 14-18: careless input, one line each -------------------------------------


def _snapshots(tmp: Path) -> dict[str, str]:
    """A registry and one snapshot, so a restore has something to name."""
    registry = tmp / "outputs" / "registry"
    (registry / "snapshots").mkdir(parents=True)
    (registry / "models.json").write_text('{"models": []}\n')
    (registry / "snapshots" / "models-20260101T000000000000Z.json").write_text('{"models": []}\n')
    return {}


def _breaking_spec(tmp: Path) -> dict[str, str]:
    """new.json: the hub spec without its chat path, a breaking change against the hub spec."""
    spec = json.loads(HUB_SPEC.read_text())
    del spec["paths"]["/v1/chat/completions"]
    for schema in ("ChatCompletionRequest", "ChatCompletion", "ChatMessage"):
        del spec["components"]["schemas"][schema]
    (tmp / "new.json").write_text(json.dumps(spec))
    return {}


def _one_run(tmp: Path) -> dict[str, str]:
    """One run a minute old in the run index."""
    started = datetime.now(UTC).replace(microsecond=0)
    RunIndex(tmp / "outputs" / "runs").append(
        RunRecord(run_id="2026-01-01/ok-000000", notebook="ok", status="ok", started_at=started)
    )
    return {}


def _nothing(tmp: Path) -> dict[str, str]:
    return {}


_SCHEDULE = ("schedule", "add", "catalog_sync", "--cron", "@daily")
_MARS = "error: --timezone 'Mars/Olympus': not a time zone; give an IANA name such as UTC"
# (id, argv, setup, exit code, the one line it prints: `error: ...` on stderr, else on stdout)
PROBES: list[tuple[str, tuple[str, ...], Setup, int, str]] = [
    ("restore bare name", ("registry", "restore", "models-x.json"), _snapshots, 2,
     "error: registry restore: no file models-x.json here or in "),
    ("restore missing path", ("registry", "restore", "old/models-x.json"), _snapshots, 2,
     "error: registry restore: no such file old/models-x.json; the newest snapshot is "
     "models-20260101T000000000000Z.json"),
    ("restore bare snapshot", ("registry", "restore", "models-20260101T000000000000Z.json"),
     _snapshots, 0, "restored "),
    ("tz cron", (*_SCHEDULE, "--target", "cron", "--timezone", "Mars/Olympus"), _nothing, 2, _MARS),
    ("tz systemd", (*_SCHEDULE, "--target", "systemd", "--timezone", "Mars/Olympus"), _nothing, 2,
     _MARS),
    ("tz k8s", (*_SCHEDULE, "--target", "k8s", "--image", "registry.example/mpc:1.0",
                "--timezone", "Mars/Olympus"), _nothing, 2, _MARS),
    ("tz ci", (*_SCHEDULE, "--target", "ci", "--timezone", "Mars/Olympus"), _nothing, 2, _MARS),
    ("k8s latest image", (*_SCHEDULE, "--target", "k8s", "--image", "registry.example/mpc:latest"),
     _nothing, 2, "error: --image 'registry.example/mpc:latest' uses :latest; pin a version, "
     "e.g. registry.example/mpc:"),
    ("k8s untagged image", (*_SCHEDULE, "--target", "k8s", "--image", "registry.example:5000/mpc"),
     _nothing, 2, "error: --image 'registry.example:5000/mpc' has no tag (which means :latest)"),
    ("image off k8s", (*_SCHEDULE, "--image", "registry.example/mpc:1.0"), _nothing, 2,
     "error: --image goes with --target k8s, not --target cron"),
    ("diff breaking", ("spec", "diff", str(HUB_SPEC), "new.json"), _breaking_spec, 1,
     "diff fail (1 error) -> FAILED"),
    ("diff allowed", ("spec", "diff", str(HUB_SPEC), "new.json", "--allow-breaking"),
     _breaking_spec, 0, "diff breaking changes allowed (1 error) -> PASSED"),
    ("check allowed", ("spec", "check", "new.json", "--data", "none", "--baseline", str(HUB_SPEC),
                       "--allow-breaking"), _breaking_spec, 0,
     " · diff breaking changes allowed (1 error) -> PASSED"),
    ("prune keep 0", ("runs", "prune", "--keep-days", "0"), _one_run, 2,
     "error: --keep-days 0 deletes every run, the newest too; pass --yes to confirm"),
    ("unknown option", ("runs", "list", "--bogus"), _nothing, 2,
     "error: mpc runs list: No such option: --bogus (see mpc runs list --help)"),
    ("missing argument", ("spec", "diff", "a.json"), _nothing, 2,
     "error: mpc spec diff: Missing argument 'new' (see mpc spec diff --help)"),
    ("bad option value", ("runs", "prune", "--keep-days", "-1"), _nothing, 2,
     "error: mpc runs prune: Invalid value for '--keep-days': -1 is not in the range x>=0"),
    ("dangling -p", ("run", "catalog_sync", "-p", "providers"), _nothing, 2,
     "error: Option '-p' requires 2 arguments"),
    ("provider typo", ("sync", "--providers", "fal,commet"), _nothing, 2,
     "error: unknown provider(s) commet; known: fal, comet"),
    ("write onto a folder", ("spec", "merge-api", str(HUB_SPEC), "--out", "merged.json"),
     lambda tmp: (tmp / "merged.json").mkdir() or {}, 1, "error: merged.json: Is a directory"),
    ("prom folder missing", ("health", "--prom", "nonexist/dir/x.prom"), _nothing, 3,
     "error: --prom nonexist/dir/x.prom: no folder nonexist/dir"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "setup", "code", "line"),
    [probe[1:] for probe in PROBES],
    ids=[probe[0] for probe in PROBES],
)
def test_careless_input_gets_one_line(
    tmp_path: Path, args: tuple[str, ...], setup: Setup, code: int, line: str
) -> None:
    result = _mpc(*args, env=setup(tmp_path), cwd=tmp_path)
    assert result.returncode == code, result.stderr[-2000:]
    if line.startswith("error: "):  # one line on stderr: no box, no progress bar, no traceback
        assert result.stderr.splitlines() == [result.stderr.rstrip("\n")], result.stderr
        assert result.stderr.startswith(line), result.stderr
    elif args[0] == "spec":  # the verdict ends the table on stdout
        assert result.stdout.splitlines()[-1].endswith(line), result.stdout[-500:]
    else:
        assert result.stdout.startswith(line), result.stdout
    assert not (tmp_path / "nonexist").exists()  # --prom never makes the folder
    assert "['" not in result.stderr + result.stdout  # no Python list syntax


def test_help_lists_every_option_as_typed() -> None:
    """`-p NAME VALUE` is in the help of the commands that take it; no flag reads `<bool>`."""
    for command in (("run",), ("schedule", "add")):
        shown = mpc(*command, "--help", env={"COLUMNS": "200"})
        assert shown.returncode == 0, shown.stderr
        assert "--parameter" in shown.stdout and "-p " in shown.stdout, shown.stdout
        assert "NAME VALUE" in shown.stdout
    root = mpc("--help", env={"COLUMNS": "200"}).stdout
    assert "--debug " in root and "<bool>" not in root and "BOOLEAN" not in root
