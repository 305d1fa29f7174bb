"""Settings: precedence, aliases, the workbook root, bounds on every field, and clear errors."""

from pathlib import Path

import pytest

from mpc_lib.config import Secret, Settings, find_home, load_env_file
from mpc_lib.errors import ConfigError
from mpc_lib.upstreams import resolve_source


def _workbook(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.mpc]\n')
    return root


def test_defaults_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.base_url_for("fal") == "https://api.fal.ai/v1"
    assert settings.base_url_for("comet") == "https://api.cometapi.com"
    assert settings.fal_run_url == "https://fal.run"
    assert settings.fal_queue_url == "https://queue.fal.run"
    assert settings.source == "auto"
    assert settings.home == tmp_path.resolve()
    assert settings.outputs_dir == tmp_path.resolve() / "outputs"
    assert resolve_source(settings, "fal") == "sandbox"
    assert resolve_source(settings, "comet") == "sandbox"
    assert settings.env_file is None


def test_key_aliases_and_auto_source() -> None:
    settings = Settings.from_env({"FAL_API_KEY": "f-1", "COMET_API_KEY": "c-1"})
    assert settings.key_for("fal") == Secret("f-1")
    assert settings.key_for("comet") == Secret("c-1")
    assert resolve_source(settings, "fal") == "live"
    assert resolve_source(settings, "comet", "sandbox") == "sandbox"
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
        resolve_source(settings, "fal")
    with pytest.raises(ConfigError, match="source 'sanbox': expected one of auto, live, sandbox"):
        resolve_source(settings, "fal", "sanbox")


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
    env.write_text("\n# keys\n\nCOMETAPI_KEY='c' trailing\n")  # blank lines do not shift the count
    with pytest.raises(ConfigError, match=r"\.env:4: COMETAPI_KEY: unexpected text after the clos"):
        Settings.from_env({}, env_file=env)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FAL_KEY: fal-supersecret-123456", "expected NAME=value (line starts 'FAL_KEY')"),
        ("FAL_KEY:=fal-supersecret-123456", "expected NAME=value (line starts 'FAL_KEY')"),
        ("fal-supersecret-123456", "expected NAME=value"),
        ("SUPERSECRET123456", "expected NAME=value"),
        ('FAL_KEY="fal-supersecret-123456', 'FAL_KEY: unterminated " quote'),
    ],
)
def test_a_malformed_env_line_never_shows_its_value(
    tmp_path: Path, line: str, message: str
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"MPC_SOURCE=sandbox\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({}, env_file=env)
    assert str(caught.value) == f"{env}:2: {message}"
    assert "SUPERSECRET" not in str(caught.value).upper()


def test_env_file_syntax_is_python_dotenvs(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "A = spaced # note\nB='it\\'s'\nC=\"two\\nlines\"\nD='multi\nline'\nE=\nF=${A}\n"
    )
    assert load_env_file(env) == {
        "A": "spaced",
        "B": "it's",
        "C": "two\nlines",
        "D": "multi\nline",
        "E": "",
        "F": "${A}",  # nothing is interpolated
    }


def test_constructing_settings_reads_no_environment_and_no_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _workbook(tmp_path / "book")
    (root / ".env").write_text("MPC_CONCURRENCY=3\nFAL_KEY=from-file\n")
    monkeypatch.chdir(root)
    monkeypatch.delenv("MPC_HOME")  # the root is found from the working directory
    monkeypatch.setenv("MPC_TIMEOUT_S", "7")
    monkeypatch.setenv("COMETAPI_KEY", "from-environment")
    settings = Settings()
    assert settings.home == root.resolve()  # the root is still found...
    assert (settings.concurrency, settings.timeout_s, settings.keys) == (
        24,
        30.0,
        {},
    )  # ...not read
    assert settings.env_file is None
    read = Settings.from_env()
    assert (read.concurrency, read.timeout_s) == (3, 7.0)
    assert read.key_for("fal") == Secret("from-file")
    assert read.key_for("comet") == Secret("from-environment")


def test_a_blank_variable_hides_the_env_file_value(tmp_path: Path) -> None:
    """What a notebook kernel relies on: the caller's blank beats the kernel's .env."""
    env = tmp_path / ".env"
    env.write_text("LITELLM_MASTER_KEY=from-file-123\nMPC_CONCURRENCY=3\nFAL_KEY=f\n")
    blanks = {"LITELLM_MASTER_KEY": "", "MPC_CONCURRENCY": "  ", "FAL_KEY": ""}
    settings = Settings.from_env(blanks, env_file=env)
    assert settings.gateway_key is None and settings.concurrency == 24 and settings.keys == {}


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
        ("MPC_FAL_RUN_URL", "fal.run", "MPC_FAL_RUN_URL='fal.run': expected an http"),
        ("MPC_FAL_QUEUE_URL", "ftp://q", "MPC_FAL_QUEUE_URL='ftp://q': expected an http"),
        ("MPC_GATEWAY_URL", "http://127.0.0.1:abc",
         "MPC_GATEWAY_URL='http://127.0.0.1:abc': port 'abc' is not a number from 1 to 65535"),
        ("MPC_API_URL", "http://127.0.0.1:70000", "MPC_API_URL='http://127.0.0.1:70000': port "
         "'70000' is not a number from 1 to 65535"),
        ("MPC_API_URL", "http://[::1]:0", "MPC_API_URL='http://[::1]:0': port 0 is not a number"),
        ("MPC_COMET_BASE_URL", "https://", "MPC_COMET_BASE_URL='https://': the URL names no host"),
        ("MPC_COMET_BASE_URL", "https://[::1/v1",
         "MPC_COMET_BASE_URL='https://[::1/v1': the host's [ ] brackets do not match"),
        ("MPC_APIDOG_BASE_URL", "https://api apidog.com",
         "MPC_APIDOG_BASE_URL='https://api apidog.com': a URL holds no spaces or control"),
        ("MPC_FAL_BASE_URL", "https://api.fal.ai/v1?x=1",
         "MPC_FAL_BASE_URL='https://api.fal.ai/v1?x=1': a base URL takes no ?query or #fragment"),
        ("MPC_FAL_BASE_URL", "https://me:hunter2@api.fal.ai:x/v1",
         "MPC_FAL_BASE_URL='https://***@api.fal.ai:x/v1': port 'x' is not a number"),
    ],
)  # fmt: skip
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


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:4000", "HTTPS://api.fal.ai/v1/", "http://[::1]:3000", "http://h"]
)
def test_good_urls_load_as_given_without_the_trailing_slash(url: str) -> None:
    assert Settings.from_env({"MPC_GATEWAY_URL": url}).gateway_url == url.rstrip("/")


def test_field_names_and_variable_names_are_both_accepted() -> None:
    assert Settings(MPC_TIMEOUT_S=5).timeout_s == Settings(timeout_s=5).timeout_s == 5.0
    assert (
        Settings(MPC_OUTPUTS_DIR="out", home="/tmp").outputs_dir == Path("/tmp").resolve() / "out"
    )
    assert Settings(source=" Live ").source == "live"


def test_each_setting_names_its_variable_and_the_secret_ones_are_known_by_type() -> None:
    assert Settings.env_var("timeout_s") == "MPC_TIMEOUT_S"
    assert Settings.env_var("keys") is None and Settings.env_var("nope") is None
    assert Settings.secret_fields() == {
        "api_key": "MPC_API_KEY",
        "gateway_key": "LITELLM_MASTER_KEY",
        "apidog_token": "APIDOG_ACCESS_TOKEN",
    }


def test_one_blank_rule_for_every_secret() -> None:
    for blank in ("", "   "):
        settings = Settings(api_key=blank, gateway_key=blank, apidog_token=blank, fal_key=blank)
        assert (settings.api_key, settings.gateway_key, settings.apidog_token) == (None,) * 3
        assert settings.keys == {}
    assert Settings(gateway_key=Secret(" ")).gateway_key is None


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
