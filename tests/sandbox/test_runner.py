"""The Sandbox runner: every registered emulator served on loopback, named errors for others."""

import httpx
import pytest

from mpc_lib.sandbox import Sandbox
from mpc_lib.sandbox.runner import EMULATORS


def test_sandbox_serves_every_registered_emulator() -> None:
    with Sandbox(keys={"comet": "fixed-comet-key"}) as sandbox:
        assert set(EMULATORS) == {"fal", "comet", "openai", "apidog"}
        assert sandbox.url("fal") == sandbox.fal_url and sandbox.fal_url.endswith("/v1")
        assert sandbox.key("comet") == sandbox.comet_key == "fixed-comet-key"
        assert sandbox.key("openai") == "fixed-comet-key"  # Comet's chat API takes Comet's key
        for name in EMULATORS:
            root = sandbox.url(name).removesuffix(EMULATORS[name].base_path)
            health = httpx.get(f"{root}/_sandbox/health").json()
            assert health["provider"] == name
        known = "unknown emulator 'nope'; known: fal, comet, openai, apidog"
        with pytest.raises(ValueError, match=known):
            sandbox.url("nope")
    with pytest.raises(ValueError, match="unknown emulator"):
        Sandbox(ports={"nope": 0})
