"""The gateway's master key: generated when unset, stored once in .env, never a known default."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.gateway import ensure_master_key


def test_an_unset_key_is_generated_into_the_workbook_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FAL_KEY=keep-me")  # no trailing newline
    key, written = ensure_master_key(Settings(home=tmp_path))
    assert written == tmp_path / ".env"
    value = key.reveal()
    assert value.startswith("sk-") and len(value) == 67
    assert (tmp_path / ".env").read_text() == f"FAL_KEY=keep-me\nLITELLM_MASTER_KEY={value}\n"
    # the next command reads it back, and nothing is generated again
    again, written_again = ensure_master_key(Settings.from_env({"MPC_HOME": str(tmp_path)}))
    assert again.reveal() == value and written_again is None


def test_a_new_env_file_is_private(tmp_path: Path) -> None:
    _, written = ensure_master_key(Settings(home=tmp_path))
    assert written is not None
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_a_value_already_in_the_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LITELLM_MASTER_KEY=sk-mine-0123456789\n")
    key, written = ensure_master_key(Settings(home=tmp_path))  # settings built without it
    assert key.reveal() == "sk-mine-0123456789" and written is None
    assert (tmp_path / ".env").read_text() == "LITELLM_MASTER_KEY=sk-mine-0123456789\n"


def test_a_publicly_known_default_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="publicly known default"):
        ensure_master_key(Settings(home=tmp_path, gateway_key="sk-1234"))
