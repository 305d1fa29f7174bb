"""`mpc sync` as a user runs it: exit codes, stdout JSON, stderr messages."""

import json
import socket
from pathlib import Path

import pytest
from cli_runner import Ran, mpc


def _mpc(*args: str, env: dict[str, str], cwd: Path) -> Ran:
    return mpc(*args, env=env, cwd=cwd)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sync_json_on_the_sandbox(tmp_path: Path) -> None:
    result = _mpc("sync", "--json", env={"MPC_OUTPUTS_DIR": str(tmp_path / "out")}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "ok"
    assert summary["sources"] == {"fal": "sandbox", "comet": "sandbox"}
    assert summary["counts"]["fal"] > 800 and summary["counts"]["comet"] > 500
    assert summary["added"] == summary["counts"]["fal"] + summary["counts"]["comet"]
    assert summary["error"] is None
    assert "fal:" in result.stdout and "emulator" in result.stdout
    assert (tmp_path / "out" / "registry" / "models.json").is_file()
    # the second run sees no change
    again = _mpc("sync", "--json", env={"MPC_OUTPUTS_DIR": str(tmp_path / "out")}, cwd=tmp_path)
    second = json.loads(again.stdout.strip().splitlines()[-1])
    assert (second["added"], second["removed"], second["changed"]) == (0, 0, 0)


def test_a_sync_with_warnings_exits_0_and_prints_them(sandbox, tmp_path: Path) -> None:
    """Odd entries are warnings, not failures: counted, the first few shown, all kept."""
    sandbox.set_modes(fal_odd_entries=True, comet_odd_entries=True)
    env = {
        "MPC_OUTPUTS_DIR": str(tmp_path / "out"),
        "FAL_KEY": sandbox.fal_key,
        "MPC_FAL_BASE_URL": sandbox.fal_url,
        "COMETAPI_KEY": sandbox.comet_key,
        "MPC_COMET_BASE_URL": sandbox.comet_url,
    }
    result = _mpc("sync", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["status"], summary["error"]) == ("ok", None)
    fal, comet = summary["warnings"]["fal"], summary["warnings"]["comet"]
    assert (fal["count"], comet["count"]) == (6, 5)
    assert "dropped metadata.tags: null" in fal["first"][0]
    text = result.stdout
    assert "fal: 6 warning(s)" in text and "comet: 5 warning(s)" in text
    assert all(f"  {line}" in text for line in fal["first"] + comet["first"])
    assert text.count("more in the registry") == 2
    registry = json.loads((tmp_path / "out" / "registry" / "models.json").read_text())
    assert registry["sources"]["fal"]["warnings_count"] == 6
    assert registry["sources"]["fal"]["warnings"][:3] == fal["first"]


def test_unreachable_provider_exits_non_zero_and_names_it(tmp_path: Path) -> None:
    env = {
        "MPC_OUTPUTS_DIR": str(tmp_path / "out"),
        "FAL_KEY": "canary-cli-key-000",
        "MPC_FAL_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
        "MPC_MAX_RETRIES": "1",
        "MPC_RETRY_BACKOFF_S": "0.01",
    }
    result = _mpc("sync", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 4  # no answer: the refused connection's code, not a generic 3
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed"
    assert summary["sources"] == {"fal": "live", "comet": "sandbox"}
    assert "fal" in summary["error"] and "ConnectError" in summary["error"]
    assert "sync failed, registry left untouched. fal failed: fal: no answer" in result.stderr
    assert "Traceback" not in result.stderr
    assert "canary-cli-key-000" not in result.stdout + result.stderr
    assert not (tmp_path / "out" / "registry" / "models.json").exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("sync", "--providers", "openai"), {}, "unknown provider"),
        (("sync", "--source", "cloud"), {}, "expected one of auto, live, sandbox"),
        (("sync",), {"MPC_TIMEOUT_S": "never"}, "MPC_TIMEOUT_S='never': expected a number"),
        (("sync", "--source", "live"), {}, "FAL_KEY is not set"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    result = _mpc(*args, env={"MPC_OUTPUTS_DIR": str(tmp_path), **env}, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_env_file_names_the_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FAL_KEY=x\nnot a valid line\n")
    result = _mpc("sync", env={"MPC_OUTPUTS_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 2
    assert ".env:2: expected NAME=value" in result.stderr


def test_named_env_file_is_read_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ops.env").write_text(f"MPC_OUTPUTS_DIR={tmp_path / 'from-env-file'}\n")
    result = _mpc("--env-file", "ops.env", "sync", "--providers", "comet", env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-env-file" / "registry" / "models.json").is_file()
    missing = _mpc("--env-file", "nope.env", "sync", env={}, cwd=tmp_path)
    assert missing.returncode == 2
    assert "nope.env: no such env file" in missing.stderr


def test_mpc_source_from_the_environment_is_honoured(tmp_path: Path) -> None:
    env = {
        "MPC_OUTPUTS_DIR": str(tmp_path / "out"),
        "MPC_SOURCE": "sandbox",
        "FAL_KEY": "a-real-looking-key",  # would make auto go live
        "MPC_FAL_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
        "MPC_MAX_RETRIES": "0",
    }
    result = _mpc("sync", "--json", "--providers", "fal", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["sources"] == {"fal": "sandbox"}
    explicit = _mpc(
        "sync", "--json", "--providers", "fal", "--source", "auto", env=env, cwd=tmp_path
    )
    assert explicit.returncode == 4  # an explicit --source auto overrides MPC_SOURCE: live, refused


def test_after_a_live_sync_a_sandbox_sync_cannot_replace_it_without_replace(
    sandbox, tmp_path: Path
) -> None:
    """`MPC_SOURCE=sandbox mpc sync` over live records: exit 2 naming --replace, the registry
    byte for byte as it was; `--replace` replaces them and the live registry stays a snapshot."""
    out = tmp_path / "out"
    live = {  # the live clients, pointed at the session's emulators with keys set
        "MPC_OUTPUTS_DIR": str(out),
        "FAL_KEY": sandbox.key("fal"),
        "COMETAPI_KEY": sandbox.key("comet"),
        "MPC_FAL_BASE_URL": sandbox.url("fal"),
        "MPC_COMET_BASE_URL": sandbox.url("comet"),
    }
    first = _mpc("sync", "--json", env=live, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.splitlines()[-1])["sources"] == {"fal": "live", "comet": "live"}
    registry = out / "registry"
    before = {path: path.read_bytes() for path in registry.rglob("*") if path.is_file()}

    on_sandbox = {"MPC_OUTPUTS_DIR": str(out), "MPC_SOURCE": "sandbox"}
    for providers in ("fal,comet", "comet"):
        refused = _mpc("sync", "--json", "--providers", providers, env=on_sandbox, cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert "comet: the registry holds live records, this sync fetched sandbox ones" in (
            refused.stderr
        )
        assert "Pass --replace to replace them" in refused.stderr
        assert json.loads(refused.stdout.splitlines()[-1])["status"] == "failed"
        assert {p: p.read_bytes() for p in registry.rglob("*") if p.is_file()} == before

    replaced = _mpc("sync", "--replace", "--json", env=on_sandbox, cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    summary = json.loads(replaced.stdout.splitlines()[-1])
    assert summary["sources"] == {"fal": "sandbox", "comet": "sandbox"}
    assert summary["replaced"] == {"fal": "live", "comet": "live"}
    kept = Path(summary["replaced_snapshot"])
    assert kept.read_bytes() == before[registry / "models.json"]
    assert f"fal: replaced its live records (the registry before: {kept}" in replaced.stdout
    restored = _mpc("registry", "restore", str(kept), env=on_sandbox, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert (registry / "models.json").read_bytes() == before[registry / "models.json"]


def test_restore_takes_bare_names_and_keeps_every_file_it_replaced(tmp_path: Path) -> None:
    registry = tmp_path / "outputs" / "registry"
    (registry / "snapshots").mkdir(parents=True)
    snapshot = registry / "snapshots" / "models-20260101T000000000000Z.json"
    snapshot.write_text('{"models": []}\n')
    current = registry / "models.json"
    replaced = []
    for generation in ("first", "second"):
        current.write_text(f'{{"models": [], "generation": "{generation}"}}\n')
        done = _mpc("registry", "restore", snapshot.name, env={}, cwd=tmp_path)  # a bare name
        assert done.returncode == 0, done.stderr
        assert current.read_bytes() == snapshot.read_bytes()
        kept = Path(done.stdout.splitlines()[-1].removeprefix("the file it replaced is kept as "))
        assert kept.parent == registry / "replaced" and kept.name.startswith("models-2")
        assert json.loads(kept.read_text())["generation"] == generation
        replaced.append(kept)
    assert replaced[0] != replaced[1] and all(path.is_file() for path in replaced)
    assert sorted((registry / "replaced").iterdir()) == replaced  # timestamped: in order
    assert not (registry / "models.json.broken").exists()
