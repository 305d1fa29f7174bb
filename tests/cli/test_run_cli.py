"""`mpc run` as a user runs it: exit codes and one-line errors that point at the evidence."""

import re
from pathlib import Path

from cli_runner import Ran, mpc


def _mpc(*args: str, cwd: Path) -> Ran:
    return mpc(*args, env={"MPC_OUTPUTS_DIR": str(cwd / "out")}, cwd=cwd)


def test_a_cell_failing_on_a_missing_key_exits_2_and_names_key_cell_and_notebook(
    tmp_path: Path,
) -> None:
    """Live sources required, as every schedule runs, and no key set: the sync cell raises
    ConfigError in the kernel, naming each missing key; bad input, so exit 2 (not 6)."""
    result = mpc(
        "run", "catalog_sync", env={"MPC_OUTPUTS_DIR": str(tmp_path / "out"), "MPC_SOURCE": "live"},
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    match = re.search(
        r"failed in cell (\d+): ConfigError: source is live but FAL_KEY is not set for fal; "
        r"source is live but COMETAPI_KEY is not set for comet",
        result.stderr,
    )
    assert match, result.stderr
    assert not (tmp_path / "out" / "registry" / "models.json").exists()
    executed = re.search(r"executed notebook: (\S+\.ipynb)\)", result.stderr)
    assert executed and Path(executed.group(1)).is_file()
    assert Path(executed.group(1)).with_suffix(".html").is_file()
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    unknown = _mpc("run", "no_such_notebook", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown notebook 'no_such_notebook'" in unknown.stderr
    assert "available: catalog_sync" in unknown.stderr
    dangling = _mpc("run", "catalog_sync", "-p", "providers", cwd=tmp_path)
    assert dangling.returncode == 2
    assert dangling.stderr == "error: Option '-p' requires 2 arguments.\n"
    secret = _mpc("run", "catalog_sync", "-p", "api_key", "x", cwd=tmp_path)
    assert secret.returncode == 2
    assert "looks like a secret" in secret.stderr
    assert not (tmp_path / "out" / "runs").exists()


def test_an_unwritable_outputs_dir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file where the outputs folder should be")
    result = _mpc("run", "catalog_sync", cwd=tmp_path)
    assert result.returncode == 1
    assert "Not a directory" in result.stderr and "out/runs" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_says_which_sources_it_used(tmp_path: Path) -> None:
    result = _mpc("run", "catalog_sync", "-p", "providers", "comet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sources:  comet=sandbox" in result.stdout
    assert not (tmp_path / "notebooks").exists()
