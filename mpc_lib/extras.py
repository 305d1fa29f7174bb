"""Optional dependencies (the `notebooks` extra), imported only when a feature needs them."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigError

__all__ = ["NOTEBOOKS_INSTALL_HINT", "require"]

NOTEBOOKS_INSTALL_HINT = "pip install 'mpc-workbench[notebooks]'"


def require(module: str, feature: str) -> Any:
    """Import `module`, or raise ConfigError saying which extra `feature` needs."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{feature} need {exc.name or module}, which is not installed: {NOTEBOOKS_INSTALL_HINT}"
        ) from None
