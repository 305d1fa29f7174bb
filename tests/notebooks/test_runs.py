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
    # the kernel is this interpreter, runs in the workbook root and sees the caller's settings
    assert probe == {
        "cwd": str(settings.home),
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
    with pytest.raises(ConfigError, match="no such notebook file"):
        runs.resolve_notebook(fixtures_dir / "missing" / "ok.ipynb", fixtures_dir)


def test_a_workbook_notebook_shadows_a_shipped_one(tmp_path: Path, fixtures_dir: Path) -> None:
    own = tmp_path / "notebooks" / "catalog_sync.ipynb"
    own.parent.mkdir()
    own.write_bytes((fixtures_dir / "ok.ipynb").read_bytes())
    assert runs.resolve_notebook("catalog_sync", home=tmp_path) == own.resolve()
    assert runs.resolve_notebook("catalog_sync") == (
        runs.SHIPPED_NOTEBOOKS_DIR / "catalog_sync.ipynb"
    ).resolve()
    assert runs.notebook_dirs(home=tmp_path)[0] == (tmp_path / "notebooks").resolve()


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
        ("tags", "x, y", ["x", "y"]),
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
        ("count", "1.5", "expected a whole number"),
        ("ratio", "fast", "expected a number"),
        ("flag", "maybe", "expected a bool"),
        ("tags", '{"a": 1}', "expected a list"),
        ("options", "[1]", "expected a JSON object"),
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
    with pytest.raises(ConfigError, match=r"parameter label=.*expected a string"):
        validate_parameters(fixtures_dir / "ok.ipynb", {"label": object()})
    with pytest.raises(ConfigError, match="not a plain JSON value"):
        validate_parameters(fixtures_dir / "ok.ipynb", {"limit": object()})


# --- declared types: the parameters cell's annotations ----------------------------------------


def test_declared_types_come_from_the_cells_annotations(fixtures_dir: Path) -> None:
    declared = runs.declared_parameters(fixtures_dir / "typed.ipynb")
    assert list(declared) == ["providers", "source", "mode", "retries", "note"]
    assert declared["source"].annotation == "Optional[Source]"
    assert declared["mode"].help == "fast or thorough"
    assert declared["note"].annotation is None and declared["note"].default == "n/a"


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("providers", "fal", ["fal"]),
        ("providers", "fal,comet", ["fal", "comet"]),
        ("providers", '["comet"]', ["comet"]),
        ("source", "sandbox", "sandbox"),
        ("source", "none", None),
        ("mode", "thorough", "thorough"),
        ("retries", "3", 3),
    ],
)
def test_typed_values_are_read_as_declared(
    fixtures_dir: Path, name: str, raw: str, expected: object
) -> None:
    assert validate_parameters(fixtures_dir / "typed.ipynb", {name: raw}) == {name: expected}


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("source", "sanbox",
         r"parameter source='sanbox': expected one of 'auto', 'live', 'sandbox' or"),
        ("providers", "fal,openai", r"parameter providers\[1\]='fal,openai': expected one of"),
        ("mode", "quick", r"parameter mode='quick': expected one of 'fast' or 'thorough'"),
        ("retries", "-1", r"parameter retries='-1': must be at least 0"),
    ],
)
def test_a_value_outside_the_declared_type_is_refused(
    fixtures_dir: Path, name: str, raw: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_parameters(fixtures_dir / "typed.ipynb", {name: raw})


def test_an_annotation_naming_an_unimported_type_is_reported(tmp_path: Path) -> None:
    notebook = tmp_path / "bad.ipynb"
    cell = {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x: Mystery = 1",
            "outputs": [], "execution_count": None}  # fmt: skip
    notebook.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                    "nbformat_minor": 5}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"parameter x: cannot read its type 'Mystery'"):
        validate_parameters(notebook, {"x": "1"})


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
