"""`mpc spec ...` as an operator runs it: one table or one JSON object, and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import Ran, mpc
from spec_fixtures import HUB_SPEC, SpecWriter, minimal


def _json(done: Ran) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_passes_the_hub_spec_with_exit_0(tmp_path: Path) -> None:
    done = mpc("spec", "check", str(HUB_SPEC), "--data", "sandbox", "--baseline", str(HUB_SPEC),
               "--json", cwd=tmp_path, env={"MPC_OUTPUTS_DIR": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = _json(done)
    assert report["passed"] is True and report["exit_code"] == 0
    assert [s["stage"] for s in report["stages"]] == [
        "validate", "lint", "upstream", "conform", "diff",
    ]  # fmt: skip
    assert report["counts"]["error"] == 0


def test_check_prints_one_table_and_fails_the_old_hub_spec(
    seed_spec: Path, seed_registry: Path, tmp_path: Path
) -> None:
    done = mpc("spec", "check", str(seed_spec), "--data", str(seed_registry), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert out.count("gate: ") == 1  # one table
    assert "upstream-path" in out and "GET https://api.fal.ai/v1/fal/models does not exist" in out
    assert "upstream-auth" in out and "'FalAuth'" in out
    # Piped, each finding is one whole line (grep-able), whatever the path or message length.
    assert any("conform-enum-drift" in line and "'training' (17)" in line
               for line in out.splitlines())  # fmt: skip
    assert out.rstrip().endswith("FAILED")
    as_json = _json(mpc("spec", "check", str(seed_spec), "--data", str(seed_registry),
                        "--json", cwd=tmp_path))  # fmt: skip
    rules = {f["rule"] for stage in as_json["stages"] for f in stage["findings"]}
    assert {"upstream-path", "upstream-auth", "conform-enum-drift"} <= rules
    located = [f for s in as_json["stages"] for f in s["findings"] if f["rule"] == "upstream-auth"]
    assert located[0]["line"] == 1337 and located[0]["pointer"].endswith("/FalAuth")


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("", "empty.json", "empty file"),
        (
            '{\n  "openapi": "3.1.0",\n  "paths": {]\n}',
            "broken.json",
            "broken.json:3:13: invalid JSON",
        ),
        ("openapi: 3.1.0\npaths: [\n", "broken.yaml", "broken.yaml:3:1: invalid YAML"),
        ("# notes\njust text\n", "notes.yaml", "not an OpenAPI document"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_never_a_traceback(
    write_spec: SpecWriter, tmp_path: Path, text: str, name: str, expected: str
) -> None:
    path = write_spec(text, name)
    for command in ("validate", "lint", "upstream", "check"):
        done = mpc("spec", command, str(path), cwd=tmp_path)
        assert done.returncode == 2, (command, done.stderr)
        assert expected in done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""


def test_each_stage_command_has_json_and_its_own_exit_code(
    write_spec: SpecWriter, tmp_path: Path
) -> None:
    spec = minimal()
    spec["paths"]["/models/pricing"]["get"]["summary"] = ""  # a lint warning: still exit 0
    path = write_spec(spec)
    for command in ("validate", "lint", "upstream"):
        done = mpc("spec", command, str(path), "--json", cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
        result = _json(done)
        assert result["stage"] == command and result["exit_code"] == 0
    assert _json(mpc("spec", "lint", str(path), "--json", cwd=tmp_path))["counts"] == {
        "error": 0, "warning": 1, "info": 0,
    }  # fmt: skip
    spec["paths"]["/models/pricing"]["get"]["security"] = [{"Nope": []}]
    done = mpc("spec", "lint", str(write_spec(spec)), cwd=tmp_path)
    assert done.returncode == 1
    assert "security-schemes-declared" in done.stdout


def test_diff_exits_1_on_a_breaking_change_unless_allowed(
    write_spec: SpecWriter, tmp_path: Path
) -> None:
    old = write_spec(minimal(), "old.json")
    spec = minimal()
    spec["paths"]["/models/pricing"]["get"]["parameters"][0]["schema"]["enum"] = ["a"]
    new = write_spec(spec, "new.json")
    done = mpc("spec", "diff", str(old), str(new), cwd=tmp_path)
    assert done.returncode == 1 and "enum-narrowed" in done.stdout
    allowed = mpc("spec", "diff", str(old), str(new), "--allow-breaking", "--json", cwd=tmp_path)
    assert allowed.returncode == 0
    summary = _json(allowed)
    assert summary["counts"]["error"] == 1
    assert (summary["status"], summary["passed"], summary["exit_code"]) == ("allowed", True, 0)


def test_conform_fix_enums_writes_the_updated_spec(
    seed_spec: Path, seed_registry: Path, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed.json"
    done = mpc("spec", "conform", str(seed_spec), "--data", str(seed_registry),
               "--fix-enums", str(fixed), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1  # the input spec drifts; the fixed copy is written anyway
    assert f"wrote {fixed}" in done.stdout.replace("\n", "")
    again = mpc("spec", "conform", str(fixed), "--data", str(seed_registry), "--json",
                cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0 and _json(again)["findings"] == []


def test_the_workbook_lint_config_is_used(tmp_path: Path, write_spec: SpecWriter) -> None:
    book = tmp_path / "book"
    (book / "openapi").mkdir(parents=True)
    (book / "pyproject.toml").write_text("[tool.mpc]\n")
    (book / "openapi" / "lint.toml").write_text('[rules]\noperation-summary = "error"\n')
    spec = minimal()
    spec["paths"]["/models/pricing"]["get"]["summary"] = ""
    done = mpc("spec", "lint", str(write_spec(spec)), "--json", cwd=book)
    assert done.returncode == 1
    assert _json(done)["details"]["config"].endswith("lint.toml")


def test_the_cli_help_lists_every_spec_command(tmp_path: Path) -> None:
    done = mpc("spec", "--help", cwd=tmp_path)
    for command in ("validate", "lint", "upstream", "conform", "diff", "check", "client"):
        assert command in done.stdout
