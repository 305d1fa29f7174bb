"""The Apidog settings: read like the provider keys, validated, and never shown."""

from __future__ import annotations

import pytest

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.runs.kernel import kernel_env


def test_apidog_settings_come_from_their_variables() -> None:
    settings = Settings.from_env(
        {
            "APIDOG_ACCESS_TOKEN": "canary-token-77",
            "APIDOG_PROJECT_ID": "1128155",
            "MPC_APIDOG_BASE_URL": "https://api.eu.apidog.com/",
        }
    )
    assert settings.apidog_token is not None and settings.apidog_token.reveal() == "canary-token-77"
    assert settings.apidog_project_id == "1128155"
    assert settings.apidog_base_url == "https://api.eu.apidog.com"
    assert "canary-token-77" not in repr(settings)
    assert "APIDOG_ACCESS_TOKEN" not in settings.public_env()
    assert settings.public_env()["APIDOG_PROJECT_ID"] == "1128155"
    assert settings.secret_env() == {
        "APIDOG_ACCESS_TOKEN": "canary-token-77",
        "LITELLM_MASTER_KEY": "",
        "MPC_API_KEY": "",
    }


def test_defaults_and_a_blank_token() -> None:
    settings = Settings.from_env({"APIDOG_ACCESS_TOKEN": "   "})
    assert settings.apidog_token is None and settings.apidog_project_id is None
    assert settings.apidog_base_url == "https://api.apidog.com"
    assert Settings(apidog_token="").apidog_token is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("APIDOG_PROJECT_ID", "../other", "APIDOG_PROJECT_ID='../other': must match"),
        ("MPC_APIDOG_BASE_URL", "api.apidog.com", "MPC_APIDOG_BASE_URL='api.apidog.com'"),
    ],
)
def test_bad_values_name_their_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        Settings.from_env({variable: value})


def test_a_notebook_kernel_mirrors_the_callers_token() -> None:
    assert kernel_env(Settings(apidog_token="tok"))["APIDOG_ACCESS_TOKEN"] == "tok"
    assert kernel_env(Settings())["APIDOG_ACCESS_TOKEN"] == ""  # blank beats a kernel .env
