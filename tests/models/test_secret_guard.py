"""The secret guard finds every configured secret, in every encoding, and redacts it in place."""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from mpc_lib.config import Secret, Settings, _env
from mpc_lib.runs import SecretGuard, configured_secrets

FAL = "fal-canary-0123456789abcdef"
COMET = "comet/canary&<key>=\"9876543210\""


class _LaterSettings(Settings):
    """Settings as they will be once another engineer adds a key: a new Secret field."""

    gateway_key: Secret | None = _env("MPC_GATEWAY_KEY", default=None)


def test_provider_keys_and_any_other_secret_field_are_guarded() -> None:
    settings = _LaterSettings(fal_key=FAL, comet_key=COMET, gateway_key="gw-canary-ABCDEFGH")

    found = configured_secrets(settings)

    assert found == {"FAL_KEY": FAL, "COMETAPI_KEY": COMET, "MPC_GATEWAY_KEY": "gw-canary-ABCDEFGH"}


def test_no_secrets_means_a_guard_that_finds_nothing(tmp_path: Path) -> None:
    guard = SecretGuard.from_settings(Settings())
    path = tmp_path / "out.txt"
    path.write_text("plain")
    assert not guard
    assert guard.sweep([path]) == []


def test_every_encoding_is_redacted_in_place_and_reported(tmp_path: Path) -> None:
    guard = SecretGuard.from_settings(Settings(fal_key=FAL, comet_key=COMET))
    notebook = tmp_path / "run.ipynb"
    notebook.write_text(json.dumps({"text": f"comet={COMET}", "fal": FAL}))
    report = tmp_path / "run.html"
    report.write_text(f"<p>{html.escape(COMET)}</p><a href='?k={quote(COMET, safe='')}'>x</a>")
    clean = tmp_path / "clean.json"
    clean.write_text('{"nothing": "here"}')
    binary = tmp_path / "chart.png"
    binary.write_bytes(b"\x89PNG\x00" + FAL.encode() + b"\xff")

    hits = guard.sweep([notebook, report, clean, binary, tmp_path / "missing.txt"])

    assert {(h.path.name, h.variable, h.count) for h in hits} == {
        ("run.ipynb", "COMETAPI_KEY", 1),
        ("run.ipynb", "FAL_KEY", 1),
        ("run.html", "COMETAPI_KEY", 2),
        ("chart.png", "FAL_KEY", 1),
    }
    for path in (notebook, report, binary):
        data = path.read_bytes()
        assert FAL.encode() not in data and b"canary" not in data, path
    assert json.loads(notebook.read_text()) == {
        "text": "comet=[redacted:COMETAPI_KEY]",
        "fal": "[redacted:FAL_KEY]",
    }
    assert clean.read_text() == '{"nothing": "here"}'
    assert guard.redact(f"error: bad key {FAL}") == "error: bad key [redacted:FAL_KEY]"


def test_a_too_short_value_is_not_matched_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    guard = SecretGuard({"FAL_KEY": "abc"})
    assert guard.redact("abcabc") == "abcabc"
    assert "FAL_KEY is shorter than 8 characters" in caplog.text
