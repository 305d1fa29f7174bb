"""Settings from the environment and .env: precedence, aliases, and clear errors."""

from pathlib import Path

import pytest

from mpc_lib.config import Secret, Settings, load_env_file
from mpc_lib.errors import ConfigError


def test_defaults_without_env(tmp_path: Path) -> None:
    settings = Settings.from_env({}, env_file=tmp_path / "absent.env")
    assert settings.fal_base_url == "https://api.fal.ai/v1"
    assert settings.comet_base_url == "https://api.cometapi.com"
    assert settings.source == "auto"
    assert settings.outputs_dir == Path("outputs")
    assert settings.source_for("fal") == "sandbox"
    assert settings.source_for("comet") == "sandbox"


def test_key_aliases_and_auto_source(tmp_path: Path) -> None:
    settings = Settings.from_env({"FAL_API_KEY": "f-1", "COMET_API_KEY": "c-1"}, env_file=None)
    assert settings.fal_key == Secret("f-1")
    assert settings.comet_key == Secret("c-1")
    assert settings.source_for("fal") == "live"
    assert settings.source_for("comet", "sandbox") == "sandbox"
    # the primary names win over the aliases
    both = Settings.from_env({"FAL_KEY": "primary", "FAL_API_KEY": "alias"}, env_file=None)
    assert both.fal_key == Secret("primary")


def test_live_without_key_names_the_variable() -> None:
    settings = Settings.from_env({"MPC_SOURCE": "live"}, env_file=None)
    with pytest.raises(ConfigError, match="FAL_KEY is not set"):
        settings.source_for("fal")


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\nexport FAL_KEY='from-file'\nCOMETAPI_KEY=\"c\"\n"
        "MPC_OUTPUTS_DIR=out # trailing comment\n\nMPC_CONCURRENCY=3\n"
    )
    settings = Settings.from_env({"MPC_CONCURRENCY": "5"}, env_file=env)
    assert settings.fal_key == Secret("from-file")
    assert settings.comet_key == Secret("c")
    assert settings.outputs_dir == Path("out")
    assert settings.concurrency == 5
    assert settings.env_file == env


def test_malformed_env_line_names_file_and_line(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("FAL_KEY=abc\nthis line is wrong\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected NAME=value"):
        load_env_file(env)
    env.write_text("FAL_KEY='unterminated\n")
    with pytest.raises(ConfigError, match=r"\.env:1: FAL_KEY: unterminated ' quote"):
        Settings.from_env({}, env_file=env)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MPC_SOURCE", "cloud", "expected auto, live or sandbox"),
        ("MPC_TIMEOUT_S", "soon", "MPC_TIMEOUT_S='soon': expected a number"),
        ("MPC_CONCURRENCY", "0", "must be at least 1"),
        ("MPC_FAL_BASE_URL", "api.fal.ai", "expected an http:// or https:// URL"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value}, env_file=None)


def test_secrets_never_show_in_repr_or_public_env() -> None:
    settings = Settings.from_env(
        {"FAL_KEY": "canary-123", "COMETAPI_KEY": "canary-456"}, env_file=None
    )
    text = repr(settings) + str(settings) + repr(settings.public_env())
    assert "canary" not in text
    assert "Secret('***')" in repr(settings)
    assert settings.fal_key is not None and settings.fal_key.reveal() == "canary-123"
