"""Pull and push the hub spec to an Apidog project, guarded by the gate.

A push never sends a spec that fails `check_spec`, and never sends anything without
`apply`: the dry run shows the diff against the project's current export.  With
`apply`, the export is first saved under `outputs/apidog/backups/`, then the exact
text that passed the gate is imported and Apidog's counters come back.

Calls go to the Apidog `Upstream` the caller opened (`mpc_lib.upstreams`): the live
Open API with `APIDOG_ACCESS_TOKEN`, else the built-in emulator, whose project is kept in
`outputs/apidog/sandbox-projects.json` so a push in one command is there for a pull in
the next.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ApidogImportFailed, ConfigError, ResponseFormatError, SpecError, SpecRejected
from ..spec import (
    GateReport,
    RecordSet,
    SpecDocument,
    StageResult,
    check_spec,
    diff_specs,
    load_spec,
)
from ..spec.document import spec_from_dict
from ..storage import atomic_write_text
from ..upstreams import Upstream, Upstreams
from .client import ApidogClient, ImportOptions, ImportResult

__all__ = [
    "PullResult",
    "PushOutcome",
    "apidog_dir",
    "pull_spec",
    "push_spec",
    "raise_for_result",
]

log = logging.getLogger("mpc_lib.apidog")

def apidog_dir(settings: Settings) -> Path:
    """`<outputs>/apidog`: pulled specs, backups, the sandbox's project."""
    return Path(settings.outputs_dir) / "apidog"


# --- pull ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PullResult:
    """What a pull fetched and where it went."""

    path: Path
    document: dict[str, Any]
    source: str
    project_id: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        paths = self.document.get("paths") or {}
        return {
            "path": str(self.path),
            "source": self.source,
            "project": self.project_id,
            "openapi": self.document.get("openapi"),
            "paths": len(paths),
            "schemas": len((self.document.get("components") or {}).get("schemas") or {}),
            "note": self.note,
        }


def _client(apidog: Upstream, settings: Settings) -> ApidogClient:
    if apidog.project_id is None:
        raise ConfigError("APIDOG_PROJECT_ID is not set (the Apidog project to pull and push)")
    return ApidogClient(apidog.base_url, apidog.key, apidog.project_id, settings=settings)


def _export(apidog: Upstream, settings: Settings) -> dict[str, Any]:
    with _client(apidog, settings) as client:
        return client.export_openapi()


def _write_spec(path: Path, document: dict[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def pull_spec(settings: Settings, apidog: Upstream, out: Path | str | None = None) -> PullResult:
    """Export the project's OpenAPI into `out` (default `<outputs>/apidog/remote.oas.json`)."""
    path = Path(out) if out is not None else apidog_dir(settings) / "remote.oas.json"
    document = _export(apidog, settings)
    _write_spec(path, document)
    return PullResult(path, document, apidog.source, str(apidog.project_id), apidog.note)


# --- push ----------------------------------------------------------------------------


@dataclass
class PushOutcome:
    """A push: the gate, the diff against the project, and (with apply) backup and counters."""

    spec: str
    report: GateReport
    changes: StageResult
    source: str
    project_id: str
    sha256: str
    size: int
    options: ImportOptions
    allow_breaking: bool = False
    applied: bool = False
    backup: Path | None = None
    result: ImportResult | None = None
    note: str = ""
    remote_paths: int = 0

    @property
    def breaking(self) -> list[Any]:
        """The breaking changes against what the project holds now."""
        return self.changes.errors

    @property
    def refusal(self) -> str | None:
        """Why nothing may be sent (None when the push may go ahead)."""
        if not self.report.passed:
            return f"the spec fails the gate ({self.report.reason()})"
        if self.breaking and not self.allow_breaking:
            first = self.breaking[0]
            return (
                f"{len(self.breaking)} breaking change(s) against the project (first:"
                f" {first.message}); pass --allow-breaking to push anyway"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        """The outcome as a JSON-ready dict (what `--json` prints)."""
        return {
            "spec": self.spec,
            "sha256": self.sha256,
            "bytes": self.size,
            "source": self.source,
            "project": self.project_id,
            "note": self.note,
            "gate": {"passed": self.report.passed, "counts": self.report.counts()},
            "changes": self.changes.to_json(),
            "refused": self.refusal,
            "applied": self.applied,
            "backup": str(self.backup) if self.backup else None,
            "options": self.options.to_json(),
            "result": self.result.to_json() if self.result else None,
        }


def _backup(settings: Settings, project_id: str, remote: dict[str, Any]) -> Path:
    """Save the project's export before an import: `backups/<project>-<UTC stamp>.oas.json`."""
    folder = apidog_dir(settings) / "backups"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"{project_id}-{stamp}.oas.json"
    number = 1
    while path.exists():
        number += 1
        path = folder / f"{project_id}-{stamp}-{number}.oas.json"
    return _write_spec(path, remote)


def _remote_document(remote: dict[str, Any], project_id: str) -> SpecDocument:
    try:
        return spec_from_dict(remote, name=f"apidog project {project_id}")
    except SpecError as exc:
        raise ResponseFormatError(
            "apidog", f"/v1/projects/{project_id}/export-openapi", exc.detail
        ) from None


def push_spec(
    settings: Settings,
    spec: Path | str,
    apidog: Upstream,
    *,
    apply: bool = False,
    options: ImportOptions | None = None,
    data: RecordSet | Upstreams | None = None,
    allow_breaking: bool = False,
    name: str | None = None,
) -> PushOutcome:
    """Gate `spec`, diff it against the project and, with `apply`, back up and import it.

    `data` is what the gate's conform stage checks (see `check_spec`); `apidog` is the
    project's upstream.  Raises SpecError for a file that is not OpenAPI, SpecRejected
    (nothing sent) when `apply` is asked for a spec that fails the gate or breaks the
    project without
    `allow_breaking`.  The caller decides what failed counters mean
    (`outcome.result.ok`; `raise_for_result` raises ApidogImportFailed).  `name` is how
    the report names the spec file (default: `spec` as given).
    """
    options = options or ImportOptions()
    document = load_spec(spec, name=name)
    raw = document.text.encode("utf-8")
    report = check_spec(document, settings=settings, data=data)
    project = str(apidog.project_id)
    remote = _export(apidog, settings)
    changes = diff_specs(_remote_document(remote, project), document)
    outcome = PushOutcome(
        name or str(spec), report, changes, apidog.source, project,
        hashlib.sha256(raw).hexdigest(), len(raw), options, allow_breaking,
        note=apidog.note, remote_paths=len(remote.get("paths") or {}),
    )  # fmt: skip
    if not apply:
        return outcome
    if outcome.refusal is not None:
        raise SpecRejected(spec, outcome.refusal, outcome)
    outcome.backup = _backup(settings, project, remote)
    with _client(apidog, settings) as client:
        outcome.result = client.import_openapi(document.text, options)
    outcome.applied = True
    log.info("apidog: pushed %s to project %s (%s)", spec, project, apidog.source)
    return outcome


def raise_for_result(outcome: PushOutcome) -> None:
    """ApidogImportFailed when the import reported failed counters or errors."""
    result = outcome.result
    if result is not None and not result.ok:
        raise ApidogImportFailed(outcome.project_id, result.failed, result.errors)
