"""`mpc stack init`: compose/.env with secrets in each service's format, mode 600, never
overwriting; and the doctor's view of a broken one."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from cli_runner import mpc

from mpc_lib.config import Settings, load_env_file
from mpc_lib.errors import ConfigError
from mpc_lib.stack import StackPaths, check_env, init_env
from mpc_lib.stack.envfile import generate_secret, read_template

FORMATS = {
    "AP_ENCRYPTION_KEY": r"[0-9a-f]{32}",  # exactly 32 hex: Activepieces' requirement
    "AP_JWT_SECRET": r"[0-9a-f]{64}",
    "LITELLM_MASTER_KEY": r"sk-[0-9a-f]{64}",
    "DIFY_SECRET_KEY": r"[A-Za-z0-9+/]{56}",  # openssl rand -base64 42
    "LANGFLOW_SECRET_KEY": r"[A-Za-z0-9_-]{43}",  # secrets.token_urlsafe(32)
    "MPC_SANDBOX_KEY": r"[0-9a-f]{32}",
    "DIFY_REDIS_PASSWORD": r"[A-Za-z0-9]{32}",  # inside CELERY_BROKER_URL
}


def test_init_writes_every_secret_in_its_format_with_mode_600(paths: StackPaths) -> None:
    report = init_env(paths.template, paths.env_file)
    assert report.created and not report.kept
    mode = stat.S_IMODE(paths.env_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    values = load_env_file(paths.env_file)
    for name, pattern in FORMATS.items():
        assert re.fullmatch(pattern, values[name]), name
    secrets_ = [e.name for e in read_template(paths.template) if e.secret is not None]
    assert sorted(report.generated) == sorted(secrets_)
    assert len({values[name] for name in secrets_}) == len(secrets_)  # all different
    assert values["MPC_STACK_BIND"] == "127.0.0.1" and values["LITELLM_PORT"] == "4000"
    assert set(report.optional_empty) == {"FAL_KEY", "COMETAPI_KEY", "MPC_OUTPUTS"}
    assert check_env(paths.template, paths.env_file).complete


def test_init_never_overwrites_and_fills_only_what_is_missing(paths: StackPaths) -> None:
    init_env(paths.template, paths.env_file)
    before = load_env_file(paths.env_file)
    text = paths.env_file.read_text(encoding="utf-8")
    text = text.replace(f"AP_JWT_SECRET={before['AP_JWT_SECRET']}\n", "AP_JWT_SECRET=\n")
    text = re.sub(r"^LANGFLOW_DB_PASSWORD=.*\n", "", text, flags=re.M)
    text = text.replace(f"LITELLM_PORT={before['LITELLM_PORT']}", "LITELLM_PORT=4100")
    text += "MY_OWN=kept\nFAL_KEY=fal-abc\n"
    paths.env_file.write_text(text, encoding="utf-8")
    report = init_env(paths.template, paths.env_file)
    after = load_env_file(paths.env_file)
    assert sorted(report.generated) == ["AP_JWT_SECRET", "LANGFLOW_DB_PASSWORD"]
    assert after["AP_JWT_SECRET"] != before["AP_JWT_SECRET"]
    assert re.fullmatch(FORMATS["AP_JWT_SECRET"], after["AP_JWT_SECRET"])
    for name, value in before.items():
        if name not in ("AP_JWT_SECRET", "LANGFLOW_DB_PASSWORD", "LITELLM_PORT", "FAL_KEY"):
            assert after[name] == value, name
    assert after["LITELLM_PORT"] == "4100" and after["FAL_KEY"] == "fal-abc"
    assert after["MY_OWN"] == "kept"
    again = init_env(paths.template, paths.env_file)
    assert not again.changed and load_env_file(paths.env_file) == after


def test_a_readable_env_file_is_made_private(paths: StackPaths) -> None:
    init_env(paths.template, paths.env_file)
    paths.env_file.chmod(0o644)
    assert check_env(paths.template, paths.env_file).loose_mode == "644"
    assert init_env(paths.template, paths.env_file).mode_fixed
    assert stat.S_IMODE(paths.env_file.stat().st_mode) == 0o600


def test_check_env_names_missing_empty_and_malformed_values(paths: StackPaths) -> None:
    assert not check_env(paths.template, paths.env_file).exists
    init_env(paths.template, paths.env_file)
    text = paths.env_file.read_text(encoding="utf-8")
    text = re.sub(r"^AP_ENCRYPTION_KEY=.*$", "AP_ENCRYPTION_KEY=" + "a" * 31, text, flags=re.M)
    text = re.sub(r"^DIFY_SECRET_KEY=.*$", "DIFY_SECRET_KEY=", text, flags=re.M)
    text = re.sub(r"^LITELLM_MASTER_KEY=.*\n", "", text, flags=re.M)
    paths.env_file.write_text(text, encoding="utf-8")
    found = check_env(paths.template, paths.env_file)
    assert not found.complete
    assert found.missing == ("LITELLM_MASTER_KEY",)
    assert found.empty == ("DIFY_SECRET_KEY",)
    assert found.malformed == ("AP_ENCRYPTION_KEY (want 32 characters, hex)",)


def test_template_specs_are_checked(tmp_path: Path) -> None:
    assert re.fullmatch(r"sk-[0-9a-f]{48}", generate_secret("sk-hex:48"))
    bad = tmp_path / "t"
    for line in ("A=!secret hex:4", "A=!secret rot13:32", "A=!secret base64:30", "A=!secret x"):
        bad.write_text(line + "\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="t: A"):
            read_template(bad)


def test_init_cli_prints_names_never_values(workbook: Path, cli_env: dict[str, str]) -> None:
    done = mpc("stack", "init", env=cli_env, cwd=workbook)
    assert done.returncode == 0, done.stderr
    env_file = workbook / "compose" / ".env"
    assert f"{env_file}: created (mode 600" in done.stdout
    assert "generated (17): LITELLM_MASTER_KEY" in done.stdout
    for name, value in load_env_file(env_file).items():
        if len(value) >= 8 and not value.isdigit():
            assert value not in done.stdout + done.stderr, name
    again = mpc("stack", "init", "--json", env=cli_env, cwd=workbook)
    assert again.returncode == 0, again.stderr
    assert '"created": false' in again.stdout and '"generated": []' in again.stdout
    assert os.stat(env_file).st_mode & 0o077 == 0


def test_init_takes_the_workbooks_own_gateway_and_api_keys(
    paths: StackPaths, workbook: Path
) -> None:
    master, api = "sk-" + "ab" * 32, "c0ffee" * 10 + "abcd"
    settings = Settings(home=workbook, gateway_key=master, api_key=api)
    report = init_env(paths.template, paths.env_file, settings)
    assert sorted(report.from_settings) == ["LITELLM_MASTER_KEY", "MPC_API_KEY"]
    values = load_env_file(paths.env_file)
    assert values["LITELLM_MASTER_KEY"] == master and values["MPC_API_KEY"] == api
    # a key that does not fit the format is not taken over: a fresh one is generated
    other = StackPaths(paths.compose_dir, paths.env_file.with_name("other.env"), paths.state_dir)
    weak = init_env(other.template, other.env_file, Settings(home=workbook, gateway_key="short"))
    assert "LITELLM_MASTER_KEY" in weak.generated
