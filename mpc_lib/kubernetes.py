"""Kubernetes manifests checked against the official schema, offline and strict.

One Kubernetes version and one check for everything the workbook writes for a cluster:
the CronJob of `mpc schedule add --target k8s` and the manifests of `mpc stack export
--k8s`.  kubernetes-validate bundles the schemas (no cluster, no network); strict mode
refuses unknown fields, so a typo fails here instead of being dropped by the API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .extras import require

__all__ = ["K8S_VERSION", "validate_manifest", "validate_manifest_file"]

# The version manifests are checked against (every kind the workbook writes is GA there).
K8S_VERSION = "1.30.0"


def validate_manifest(
    manifest: Mapping[str, Any],
    *,
    where: str | None = None,
    version: str = K8S_VERSION,
    extra: str = "stack",
) -> str:
    """Check one manifest; ConfigError names it (`where`, else Kind/name) and the bad field.

    Returns what was checked.  `extra` is the one whose install hint a missing
    kubernetes-validate names.
    """
    kv = require("kubernetes_validate", "Kubernetes manifests", extra)
    if where is None:
        metadata = manifest.get("metadata") or {}
        where = f"{manifest.get('kind')}/{metadata.get('name')}"
    try:
        kv.validate(dict(manifest), version, strict=True)
    except kv.ValidationError as exc:
        at = ".".join(str(part) for part in exc.path) or "(top)"
        problem = f"{at}: {exc.message}"
        raise ConfigError(f"{where} is not valid Kubernetes {version}: {problem}") from None
    except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as exc:
        raise ConfigError(f"{where}: no schema to check it against: {exc.message}") from None
    return f"kubernetes-validate {version} (strict): ok"


def validate_manifest_file(path: Path, *, version: str = K8S_VERSION) -> list[str]:
    """Check every manifest in a YAML file; returns `file: Kind/name` for each."""
    checked = []
    for doc in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")):
        if not doc:
            continue
        metadata = doc.get("metadata") or {}
        where = f"{Path(path).name}: {doc.get('kind')}/{metadata.get('name')}"
        validate_manifest(doc, where=where, version=version)
        checked.append(where)
    return checked
