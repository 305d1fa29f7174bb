"""The secret guard: after a run, no configured secret may remain in anything it wrote.

Every secret the settings hold is looked for: each provider's key (through the
provider table) and every other `Secret` field of `Settings`, found by type, so a key
added later is guarded without touching this module.  A value is matched as written
and as JSON, HTML and URL encoding would write it.  A hit is replaced in place by
`[redacted:VARIABLE]` and reported with its file; the caller fails the run.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pydantic import SecretStr

from ..config import Settings
from ..providers import PROVIDERS
from ..storage import atomic_write_bytes

__all__ = ["MIN_SECRET_LENGTH", "SecretGuard", "SecretHit", "configured_secrets"]

logger = logging.getLogger("mpc_lib.runs")

# Shorter values would match ordinary text; no real API key is this short.
MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class SecretHit:
    """One file that held a secret (now redacted): which variable, how many times."""

    path: Path
    variable: str
    count: int


def configured_secrets(settings: Settings) -> dict[str, str]:
    """Every secret value the settings hold, by the variable it comes from."""
    found: dict[str, str] = {}
    for name, spec in PROVIDERS.items():
        key = settings.key_for(name)
        if key is not None:
            found[spec.key_var] = key.get_secret_value()
    for field_name in type(settings).model_fields:
        value = getattr(settings, field_name)
        label = type(settings).env_var(field_name) or field_name
        if isinstance(value, SecretStr):
            found.setdefault(label, value.get_secret_value())
        elif isinstance(value, Mapping):
            for key_name, item in value.items():
                if isinstance(item, SecretStr) and item.get_secret_value() not in found.values():
                    found[f"{label}[{key_name}]"] = item.get_secret_value()
    return {label: value for label, value in found.items() if value}


class SecretGuard:
    """Finds and redacts configured secret values in files and text."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._patterns: list[tuple[bytes, bytes, str]] = []
        for label, value in secrets.items():
            if len(value) < MIN_SECRET_LENGTH:
                logger.warning(
                    "%s is shorter than %d characters: too short to guard outputs against",
                    label,
                    MIN_SECRET_LENGTH,
                )
                continue
            marker = f"[redacted:{label}]".encode()
            for form in _encodings(value):
                self._patterns.append((form.encode("utf-8"), marker, label))
        # Longest first, so a value that contains another is redacted whole.
        self._patterns.sort(key=lambda item: len(item[0]), reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretGuard:
        """A guard over every secret `settings` holds."""
        return cls(configured_secrets(settings))

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def redact(self, text: str) -> str:
        """`text` with every secret replaced by its marker."""
        data, _counts = self._redact(text.encode("utf-8"))
        return data.decode("utf-8", errors="replace")

    def sweep(self, paths: Iterable[Path]) -> list[SecretHit]:
        """Redact every secret found in `paths` in place; one hit per (file, variable)."""
        hits: list[SecretHit] = []
        if not self._patterns:
            return hits
        for path in dict.fromkeys(Path(p) for p in paths):
            try:
                data = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            redacted, counts = self._redact(data)
            if not counts:
                continue
            atomic_write_bytes(path, redacted)
            for label, count in counts.items():
                logger.error("secret %s found %d time(s) in %s: redacted", label, count, path)
                hits.append(SecretHit(path, label, count))
        return hits

    def _redact(self, data: bytes) -> tuple[bytes, dict[str, int]]:
        counts: dict[str, int] = {}
        for form, marker, label in self._patterns:
            found = data.count(form)
            if found:
                data = data.replace(form, marker)
                counts[label] = counts.get(label, 0) + found
        return data, counts


def _encodings(value: str) -> list[str]:
    """The value as written, and as JSON, HTML and URL encoding write it."""
    forms = [value, json.dumps(value)[1:-1], html.escape(value), quote(value, safe="")]
    return list(dict.fromkeys(forms))
