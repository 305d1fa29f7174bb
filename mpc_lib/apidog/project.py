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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, computed_field

from ..config import Settings
from ..errors import ApidogImportFailed, ConfigError, ResponseFormatError, SpecError, SpecRejected
from ..models import MpcModel
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


class PullResult(MpcModel):
    """What a pull fetched and where it went."""

    model_config = ConfigDict(frozen=True)

    path: Path
    document: dict[str, Any] = Field(exclude=True)
    source: str
    project_id: str = Field(serialization_alias="project")
    note: str = ""

    @computed_field
    @property
    def openapi(self) -> Any:
        """The document's OpenAPI version."""
        return self.document.get("openapi")

    @computed_field
    @property
    def paths(self) -> int:
        """How many paths it has."""
        return len(self.document.get("paths") or {})

    @computed_field
    @property
    def schemas(self) -> int:
        """How many component schemas it has."""
        return len((self.document.get("components") or {}).get("schemas") or {})


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
    return PullResult(
        path=path, document=document, source=apidog.source, project_id=str(apidog.project_id),
        note=apidog.note,
    )  # fmt: skip


# --- push ----------------------------------------------------------------------------


class PushOutcome(MpcModel):
    """A push: the gate, the diff against the project, and (with apply) backup and counters.

    Its JSON is what `mpc apidog push --json` prints.
    """

    spec: str
    sha256: str
    size: int = Field(serialization_alias="bytes")
    source: str
    project_id: str = Field(serialization_alias="project")
    note: str = ""
    report: GateReport = Field(exclude=True)
    changes: StageResult
    allow_breaking: bool = Field(default=False, exclude=True)
    applied: bool = False
    backup: Path | None = None
    options: ImportOptions
    result: ImportResult | None = None
    remote_paths: int = Field(default=0, exclude=True)

    @property
    def breaking(self) -> list[Any]:
        """The breaking changes against what the project holds now."""
        return self.changes.errors

    @computed_field
    @property
    def gate(self) -> dict[str, Any]:
        """The gate's verdict and its findings per severity."""
        return {"passed": self.report.passed, "counts": self.report.counts()}

    @computed_field(alias="refused")
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
        spec=name or str(spec), report=report, changes=changes, source=apidog.source,
        project_id=project, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
        options=options, allow_breaking=allow_breaking, note=apidog.note,
        remote_paths=len(remote.get("paths") or {}),
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
