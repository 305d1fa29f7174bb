"""The exit-code table of the README, pinned path by path (in-process; the real `mpc` script's
exit codes are tests/cli/test_entry_points.py's).

0 ok, 1 OS error or lock, 2 bad input, 3 an error answer, 4 no answer, 5 malformed
answer or file, 6 a notebook cell failed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import Ran, mpc
from filelock import FileLock

from mpc_lib.sandbox import Fault, Sandbox


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

