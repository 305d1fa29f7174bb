"""run_notebook against tiny fixture notebooks: outputs, manifests, errors, parameters."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mpc_lib import runs
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import ConfigError, NotebookError
from mpc_lib.runs import RunResult, run_notebook, validate_parameters


def _stdout(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return [
        "".join(output.get("text", ""))
        for cell in nb["cells"]
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    ]


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# --- full runs (one kernel each) ---------------------------------------------------------


def test_ok_run_writes_notebook_html_and_manifest(
    fixtures_dir: Path, tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_KEY", "from-the-shell")  # the caller's settings have no key
    settings = Settings(outputs_dir=tmp_path / "outputs", source="sandbox")
    run_dir = tmp_path / "outputs" / "runs" / "2026-01-02"
    run_dir.mkdir(parents=True)
    (run_dir / "ok-030405.ipynb").write_text("{}", encoding="utf-8")  # same second, earlier run

    result = run_notebook(
        "ok",
        {"count": "5", "flag": "yes", "tags": '["b", "c"]', "limit": "null", "label": "x y"},
        settings=settings,
        notebooks_dir=fixtures_dir,
        now=now,
    )

    assert isinstance(result, RunResult)
    assert result.output_path == run_dir / "ok-030405-2.ipynb"
    assert result.html_path == run_dir / "ok-030405-2.html"
    assert result.manifest_path == run_dir / "ok-030405-2.json"
    assert result.parameters == {
        "count": 5,
        "flag": True,
        "tags": ["b", "c"],
        "limit": None,
        "label": "x y",
    }
    assert result.duration_s > 0
    values, probe = (json.loads(text) for text in _stdout(result.output_path))
    assert values == {
        "count": 5,
        "flag": True,
        "label": "x y",
        "limit": None,
        "options": {"x": 1},
        "ratio": 0.5,
        "tags": ["b", "c"],
    }
    # the kernel is this interpreter, runs in the repo root and sees the caller's settings
    assert probe == {
        "cwd": str(runs.REPO_ROOT),
        "executable": sys.executable,
        "fal_key_set": False,
        "outputs": str((tmp_path / "outputs").resolve()),
        "source": "sandbox",
    }
    assert "x y" in result.html_path.read_text(encoding="utf-8")
    manifest = _manifest(result.manifest_path)
    assert manifest["status"] == "ok"
    assert manifest["notebook"] == "ok"
    assert manifest["parameters"] == result.parameters
    assert manifest["error"] is None
    assert manifest["outputs"]["notebook"] == str(result.output_path)
    assert manifest["outputs"]["html"] == str(result.html_path)
    assert manifest["started_at"] == "2026-01-02T03:04:05+00:00"
    assert manifest["duration_s"] == result.duration_s
    assert "git_sha" in manifest


def test_broken_notebook_raises_after_writing_everything(
    fixtures_dir: Path, settings: Settings, now: datetime
) -> None:
    with pytest.raises(NotebookError) as caught:
        run_notebook(
            "broken", {"divisor": "0"}, settings=settings, notebooks_dir=fixtures_dir, now=now
        )

    error = caught.value
    assert error.notebook == "broken"
    assert error.cell_index == 2  # index in the input notebook, injected cell not counted
    assert error.ename == "ZeroDivisionError"
    assert error.evalue == "division by zero"
    assert error.output_path is not None and error.output_path.is_file()
    assert str(error.output_path) in str(error)
    assert error.exit_code == 6
    assert _stdout(error.output_path) == ["ran\n"]
    html = error.output_path.with_suffix(".html")
    assert "ZeroDivisionError" in html.read_text(encoding="utf-8")
    manifest = _manifest(error.output_path.with_suffix(".json"))
    assert manifest["status"] == "failed"
    assert manifest["error"]["cell_index"] == 2
    assert manifest["error"]["ename"] == "ZeroDivisionError"


def test_sysexit0_counts_as_success(fixtures_dir: Path, settings: Settings) -> None:
    result = run_notebook("sysexit0", settings=settings, notebooks_dir=fixtures_dir)

    assert _stdout(result.output_path) == ["stopping early\n"]
    assert _manifest(result.manifest_path)["status"] == "ok"
    assert result.html_path.is_file()


def test_dead_kernel_is_a_notebook_error(fixtures_dir: Path, settings: Settings) -> None:
    with pytest.raises(NotebookError) as caught:
        run_notebook("dead_kernel", settings=settings, notebooks_dir=fixtures_dir)

    assert caught.value.ename == "DeadKernelError"
    assert caught.value.cell_index == 1
    assert caught.value.output_path is not None and caught.value.output_path.is_file()
    assert _manifest(caught.value.output_path.with_suffix(".json"))["status"] == "failed"


def test_cell_timeout_is_a_notebook_error(fixtures_dir: Path, settings: Settings) -> None:
    with pytest.raises(NotebookError) as caught:
        run_notebook("slow", settings=settings, notebooks_dir=fixtures_dir, timeout_s=1)

    assert caught.value.ename == "CellTimeoutError"
    assert caught.value.cell_index == 0
    assert caught.value.output_path is not None
    assert caught.value.output_path.with_suffix(".html").is_file()


def test_keys_reach_the_kernel_but_no_output_file(fixtures_dir: Path, tmp_path: Path) -> None:
    secret = "sk-test-do-not-write-0123456789"
    settings = Settings(outputs_dir=tmp_path / "outputs", source="sandbox", fal_key=Secret(secret))

    result = run_notebook("ok", settings=settings, notebooks_dir=fixtures_dir)

    assert json.loads(_stdout(result.output_path)[1])["fal_key_set"] is True
    for path in (result.output_path, result.html_path, result.manifest_path):
        assert secret not in path.read_text(encoding="utf-8"), path


# --- resolution and parameters (no kernel) -------------------------------------------------


def test_unknown_notebook_lists_the_available_ones(fixtures_dir: Path, settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"unknown notebook 'nope'.*available: broken, .*ok"):
        run_notebook("nope", settings=settings, notebooks_dir=fixtures_dir)


def test_notebook_resolves_by_name_or_path(fixtures_dir: Path) -> None:
    expected = (fixtures_dir / "ok.ipynb").resolve()
    assert runs.resolve_notebook("ok", fixtures_dir) == expected
    assert runs.resolve_notebook("ok.ipynb", fixtures_dir) == expected
    assert runs.resolve_notebook(fixtures_dir / "ok.ipynb") == expected
    assert "catalog_sync" in runs.available_notebooks()
    with pytest.raises(ConfigError, match="unknown notebook"):
        runs.resolve_notebook(fixtures_dir / "missing" / "ok.ipynb", fixtures_dir)


def test_unknown_parameter_lists_the_known_ones(fixtures_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_parameters(fixtures_dir / "ok.ipynb", {"cuont": "1"})
    message = str(caught.value)
    assert "unknown parameter(s) cuont for notebook ok" in message
    assert "known: label, count, ratio, flag, limit, tags, options" in message


def test_a_notebook_without_parameters_cell_takes_none(fixtures_dir: Path) -> None:
    with pytest.raises(ConfigError, match="no cell tagged 'parameters'"):
        validate_parameters(fixtures_dir / "sysexit0.ipynb", {"x": "1"})


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("count", "12", 12),
        ("count", " -3 ", -3),
        ("count", "none", None),
        ("ratio", "2", 2.0),
        ("ratio", "1e-3", 0.001),
        ("flag", "true", True),
        ("flag", "No", False),
        ("flag", "1", True),
        ("flag", "0", False),
        ("label", "null", "null"),
        ("label", "42", "42"),
        ("limit", "5", 5),
        ("limit", "NULL", None),
        ("limit", "plain words", "plain words"),
        ("tags", '["x", 2]', ["x", 2]),
        ("options", '{"a": [1]}', {"a": [1]}),
    ],
)
def test_string_values_are_coerced_to_the_declared_type(
    fixtures_dir: Path, name: str, raw: str, expected: object
) -> None:
    assert validate_parameters(fixtures_dir / "ok.ipynb", {name: raw}) == {name: expected}


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("count", "1.5", "expected int"),
        ("ratio", "fast", "expected float"),
        ("flag", "maybe", "expected a bool"),
        ("tags", "a,b", "expected a JSON list"),
        ("tags", '{"a": 1}', "expected a JSON list"),
        ("options", "[1]", "expected a JSON dict"),
    ],
)
def test_failed_coercion_names_parameter_and_type(
    fixtures_dir: Path, name: str, raw: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=rf"parameter {name}=.*{expected}"):
        validate_parameters(fixtures_dir / "ok.ipynb", {name: raw})


def test_python_values_pass_through(fixtures_dir: Path) -> None:
    params = {"count": 3, "tags": ["z"], "flag": True}
    assert validate_parameters(fixtures_dir / "ok.ipynb", params) == params
    with pytest.raises(ValueError, match="not a plain JSON value"):
        validate_parameters(fixtures_dir / "ok.ipynb", {"label": object()})


@pytest.mark.parametrize("name", ["api_key", "FAL_KEY", "token", "client_secret", "password"])
def test_secret_looking_parameters_are_refused(fixtures_dir: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=r"looks like a secret.*come only from the environment"):
        validate_parameters(fixtures_dir / "ok.ipynb", {name: "sk-123"})


def test_unknown_kernel_is_a_config_error(fixtures_dir: Path, settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"no Jupyter kernel named 'nokernel'.*python3"):
        run_notebook("ok", settings=settings, notebooks_dir=fixtures_dir, kernel_name="nokernel")
    assert not (settings.outputs_dir / "runs").exists()


def test_missing_papermill_gives_the_install_hint(
    fixtures_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "papermill", None)
    with pytest.raises(ConfigError, match=r"pip install 'mpc-workbench\[notebooks\]'"):
        run_notebook("ok", settings=settings, notebooks_dir=fixtures_dir)
