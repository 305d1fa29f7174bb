"""Optional dependencies (the `notebooks` and `spec` extras), imported only when used."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigError

__all__ = ["NOTEBOOKS_INSTALL_HINT", "SPEC_INSTALL_HINT", "require"]

NOTEBOOKS_INSTALL_HINT = "pip install 'mpc-workbench[notebooks]'"
SPEC_INSTALL_HINT = "pip install 'mpc-workbench[spec]'"


def require(module: str, feature: str, hint: str = NOTEBOOKS_INSTALL_HINT) -> Any:
    """Import `module`, or raise ConfigError saying which extra `feature` needs."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{feature} need {exc.name or module}, which is not installed: {hint}"
        ) from None
