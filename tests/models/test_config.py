"""Settings: precedence, aliases, the workbook root, bounds on every field, and clear errors."""

from pathlib import Path

import pytest

from mpc_lib.config import Secret, Settings, find_home, load_env_file
from mpc_lib.errors import ConfigError


def _workbook(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.mpc]\n')
    return root


def test_defaults_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.base_url_for("fal") == "https://api.fal.ai/v1"
    assert settings.base_url_for("comet") == "https://api.cometapi.com"
    assert settings.source == "auto"
    assert settings.home == tmp_path.resolve()
    assert settings.outputs_dir == tmp_path.resolve() / "outputs"
    assert settings.source_for("fal") == "sandbox"
    assert settings.source_for("comet") == "sandbox"
    assert settings.env_file is None


def test_key_aliases_and_auto_source() -> None:
    settings = Settings.from_env({"FAL_API_KEY": "f-1", "COMET_API_KEY": "c-1"})
    assert settings.key_for("fal") == Secret("f-1")
    assert settings.key_for("comet") == Secret("c-1")
    assert settings.source_for("fal") == "live"
    assert settings.source_for("comet", "sandbox") == "sandbox"
    # the primary names win over the aliases
    both = Settings.from_env({"FAL_KEY": "primary", "FAL_API_KEY": "alias"})
    assert both.key_for("fal") == Secret("primary")


def test_keyword_shorthands_fill_the_provider_tables() -> None:
    settings = Settings(fal_key="k", comet_base_url="http://127.0.0.1:9/")
    assert settings.keys == {"fal": Secret("k")}
    assert settings.base_urls["comet"] == "http://127.0.0.1:9"
    assert settings.base_urls["fal"] == "https://api.fal.ai/v1"
    assert settings.with_(comet_key="c").key_for("comet") == Secret("c")
    assert Settings(fal_key="   ").key_for("fal") is None


def test_live_without_key_names_the_variable() -> None:
    settings = Settings.from_env({"MPC_SOURCE": "live"})
    with pytest.raises(ConfigError, match="FAL_KEY is not set"):
        settings.source_for("fal")
    with pytest.raises(ConfigError, match="source 'sanbox': expected one of auto, live, sandbox"):
        settings.source_for("fal", "sanbox")


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\nexport FAL_KEY='from-file'\nCOMETAPI_KEY=\"c\"\n"
        "MPC_OUTPUTS_DIR=out # trailing comment\n\nMPC_CONCURRENCY=3\n"
    )
    settings = Settings.from_env({"MPC_CONCURRENCY": "5", "MPC_HOME": str(tmp_path)}, env_file=env)
    assert settings.key_for("fal") == Secret("from-file")
    assert settings.key_for("comet") == Secret("c")
    assert settings.outputs_dir == tmp_path.resolve() / "out"
    assert settings.concurrency == 5
    assert settings.env_file == env


def test_a_named_env_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.env: no such env file"):
        Settings.from_env({}, env_file=tmp_path / "absent.env")


def test_malformed_env_line_names_file_and_line(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("FAL_KEY=abc\nthis line is wrong\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected NAME=value"):
        load_env_file(env)
    env.write_text("FAL_KEY='unterminated\n")
    with pytest.raises(ConfigError, match=r"\.env:1: FAL_KEY: unterminated ' quote"):
        Settings.from_env({}, env_file=env)


def test_the_workbook_root_is_found_upward_and_owns_env_and_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _workbook(tmp_path / "book")
    (root / ".env").write_text("MPC_SOURCE=sandbox\nMPC_OUTPUTS_DIR=out\n")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)  # where JupyterLab starts a kernel
    assert find_home() == root.resolve()
    settings = Settings.from_env({})
    assert settings.home == root.resolve()
    assert settings.env_file == root.resolve() / ".env"
    assert settings.source == "sandbox"
    assert settings.outputs_dir == root.resolve() / "out"
    # MPC_HOME wins over the search
    other = _workbook(tmp_path / "other")
    assert Settings.from_env({"MPC_HOME": str(other)}).outputs_dir == other.resolve() / "outputs"


def test_a_pyproject_without_the_marker_is_not_a_workbook(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    assert find_home(inner) == inner.resolve()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "MPC_SOURCE",
            "cloud",
            "MPC_SOURCE='cloud': expected one of 'auto', 'live', 'sandbox' or 'gateway'",
        ),
        ("MPC_TIMEOUT_S", "soon", "MPC_TIMEOUT_S='soon': expected a number"),
        ("MPC_TIMEOUT_S", "inf", "MPC_TIMEOUT_S='inf': must be a finite number"),
        ("MPC_TIMEOUT_S", "nan", "MPC_TIMEOUT_S='nan': must be a finite number"),
        ("MPC_TIMEOUT_S", "0", "MPC_TIMEOUT_S='0': must be more than 0"),
        ("MPC_DEADLINE_S", "-1", "MPC_DEADLINE_S='-1': must be more than 0"),
        ("MPC_CONCURRENCY", "0", "MPC_CONCURRENCY='0': must be at least 1"),
        ("MPC_CONCURRENCY", "2.5", "MPC_CONCURRENCY='2.5': expected a whole number"),
        ("MPC_MAX_RETRIES", "100", "MPC_MAX_RETRIES='100': must be at most 20"),
        ("MPC_SNAPSHOT_KEEP", "0", "MPC_SNAPSHOT_KEEP='0': must be at least 1"),
        ("MPC_LOCK_TIMEOUT_S", "-2", "MPC_LOCK_TIMEOUT_S='-2': must be at least 0"),
        ("MPC_SANDBOX_LATENCY_MS", "-5", "MPC_SANDBOX_LATENCY_MS='-5': must be at least 0"),
        ("MPC_FAL_BASE_URL", "api.fal.ai", "MPC_FAL_BASE_URL='api.fal.ai': expected an http"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value) == message or str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"concurrency": 0}, "MPC_CONCURRENCY=0: must be at least 1"),
        ({"timeout_s": float("inf")}, "MPC_TIMEOUT_S='inf': must be a finite number"),
        ({"snapshot_keep": -1}, "MPC_SNAPSHOT_KEEP=-1: must be at least 1"),
        ({"keys": {"openai": "x"}}, "keys: unknown provider 'openai'; known: fal, comet"),
        ({"colour": "blue"}, "colour='blue': unknown setting"),
    ],
)
def test_every_construction_path_validates(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings(**changes)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings().with_(**changes)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(Exception, match="frozen"):
        settings.concurrency = 3  # type: ignore[misc]


def test_secrets_never_show_in_repr_errors_or_public_env() -> None:
    settings = Settings.from_env({"FAL_KEY": "canary-123", "COMETAPI_KEY": "canary-456"})
    text = repr(settings) + str(settings) + repr(settings.public_env())
    assert "canary" not in text
    assert "Secret('**********')" in repr(settings)
    key = settings.key_for("fal")
    assert key is not None and key.reveal() == "canary-123"
    with pytest.raises(ConfigError) as caught:
        Settings(keys={"fal": "canary-789", "nope": "canary-000"})
    assert "canary" not in str(caught.value)
