"""Fixtures for the pricing tests: tmp outputs, settings, and a registry writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pricing_helpers import T0, registry

from mpc_lib.config import Settings
from mpc_lib.registry import RegistryDiff, RegistryStore

Commit = Callable[..., Path]


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """An empty outputs folder."""
    return tmp_path / "outputs"


@pytest.fixture
def settings(outputs: Path) -> Settings:
    """Sandbox settings over `outputs`."""
    return Settings(outputs_dir=outputs, source="sandbox")


@pytest.fixture
def commit(outputs: Path) -> Commit:
    """Write one sync's registry (snapshot + models.json): commit(models, day=N, **sources)."""
    store = RegistryStore(outputs, keep=100)

    def write(models: Sequence[dict[str, Any]], day: int = 0, **source_kw: Any) -> Path:
        moment = T0 + timedelta(days=day)
        return store.commit(registry(models, at=moment, **source_kw), RegistryDiff(), moment=moment)

    return write
