"""Pull and push the hub spec to an Apidog project, guarded by the gate.

A push never sends a spec that fails `check_spec`, and never sends anything without
`apply`: the dry run shows the diff against the project's current export.  With
`apply`, the export is first saved under `outputs/apidog/backups/`, then the exact
text that passed the gate is imported and Apidog's counters come back.

With no `APIDOG_ACCESS_TOKEN` (or `MPC_SOURCE=sandbox`), every call goes to the
built-in Apidog emulator; its project is kept in `outputs/apidog/sandbox-projects.json`
so a push in one command is there for a pull in the next.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Secret, Settings
from ..errors import ApidogImportFailed, ConfigError, ResponseFormatError, SpecError, SpecRejected
from ..spec import GateReport, SpecDocument, StageResult, check_spec, diff_specs, load_spec
from ..spec.document import spec_from_dict
from ..storage import atomic_write_text, read_json
from .client import ApidogClient, ImportOptions, ImportResult

__all__ = [
    "ApidogTarget",
    "PullResult",
    "PushOutcome",
    "apidog_dir",
    "apidog_target",
    "pull_spec",
    "push_spec",
    "raise_for_result",
]

log = logging.getLogger("mpc_lib.apidog")

_SANDBOX_STORE = "sandbox-projects.json"


def apidog_dir(settings: Settings) -> Path:
    """`<outputs>/apidog`: pulled specs, backups, the sandbox's project."""
    return Path(settings.outputs_dir) / "apidog"


@dataclass(frozen=True)
class ApidogTarget:
    """Where calls go: live or the sandbox, the base URL, token and project."""

    source: str
    base_url: str
    token: Secret | None
    project_id: str
    note: str = ""

    def client(self, settings: Settings) -> ApidogClient:
        """An Apidog client for this target."""
        return ApidogClient(self.base_url, self.token, self.project_id, settings=settings)


def _source(settings: Settings, override: str | None) -> str:
    source = override or settings.source
    if source not in ("auto", "live", "sandbox"):
        raise ConfigError(f"source {source!r}: expected auto, live or sandbox")
    if source == "live" and settings.apidog_token is None:
        raise ConfigError("source is live but APIDOG_ACCESS_TOKEN is not set")
    if source == "auto":
        return "live" if settings.apidog_token is not None else "sandbox"
    return source


@contextlib.contextmanager
def apidog_target(settings: Settings, source: str | None = None) -> Iterator[ApidogTarget]:
    """The project to talk to; starts the Apidog emulator when no token is set."""
    if _source(settings, source) == "live":
        if not settings.apidog_project_id:
            raise ConfigError("APIDOG_PROJECT_ID is not set (the Apidog project to pull and push)")
        yield ApidogTarget(
            "live", settings.apidog_base_url, settings.apidog_token, settings.apidog_project_id
        )
        return
    from ..sandbox import Sandbox
    from ..sandbox.apidog import SANDBOX_PROJECT_ID

    store_path = apidog_dir(settings) / _SANDBOX_STORE
    with Sandbox() as sandbox:
        stored = read_json(store_path) if store_path.is_file() else None
        if isinstance(stored, dict):
            sandbox.state.stores["apidog"] = stored
        before = json.dumps(stored, sort_keys=True)
        note = (
            "no APIDOG_ACCESS_TOKEN: using the built-in Apidog sandbox"
            f" (its project is kept in {store_path})"
        )
        try:
            yield ApidogTarget(
                "sandbox", sandbox.url("apidog"), Secret(sandbox.key("apidog")),
                SANDBOX_PROJECT_ID, note,
            )  # fmt: skip
        finally:
            # Kept when an import changed it: a dry run or a pull leaves no file behind.
            projects = sandbox.state.stores.get("apidog")
            changed = json.dumps(projects, sort_keys=True) != before
            holds = any(p.get("paths") for p in (projects or {}).values())
            if projects and changed and (holds or stored is not None):
                atomic_write_text(store_path, json.dumps(projects, indent=1) + "\n")


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


def _export(target: ApidogTarget, settings: Settings) -> dict[str, Any]:
    with target.client(settings) as client:
        return client.export_openapi()


def _write_spec(path: Path, document: dict[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def pull_spec(
    settings: Settings, out: Path | str | None = None, *, source: str | None = None
) -> PullResult:
    """Export the project's OpenAPI into `out` (default `<outputs>/apidog/remote.oas.json`)."""
    path = Path(out) if out is not None else apidog_dir(settings) / "remote.oas.json"
    with apidog_target(settings, source) as target:
        document = _export(target, settings)
    _write_spec(path, document)
    return PullResult(path, document, target.source, target.project_id, target.note)


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
    *,
    apply: bool = False,
    options: ImportOptions | None = None,
    data: str | Path | None = "auto",
    allow_breaking: bool = False,
    source: str | None = None,
    name: str | None = None,
) -> PushOutcome:
    """Gate `spec`, diff it against the project and, with `apply`, back up and import it.

    Raises SpecError for a file that is not OpenAPI, SpecRejected (nothing sent) when
    `apply` is asked for a spec that fails the gate or breaks the project without
    `allow_breaking`.  The caller decides what failed counters mean
    (`outcome.result.ok`; `raise_for_result` raises ApidogImportFailed).  `name` is how
    the report names the spec file (default: `spec` as given).
    """
    options = options or ImportOptions()
    document = load_spec(spec, name=name)
    raw = document.text.encode("utf-8")
    report = check_spec(document, settings=settings, data=data)
    with apidog_target(settings, source) as target:
        remote = _export(target, settings)
        changes = diff_specs(_remote_document(remote, target.project_id), document)
        outcome = PushOutcome(
            name or str(spec), report, changes, target.source, target.project_id,
            hashlib.sha256(raw).hexdigest(), len(raw), options, allow_breaking,
            note=target.note, remote_paths=len(remote.get("paths") or {}),
        )  # fmt: skip
        if not apply:
            return outcome
        if outcome.refusal is not None:
            raise SpecRejected(spec, outcome.refusal, outcome)
        outcome.backup = _backup(settings, target.project_id, remote)
        with target.client(settings) as client:
            outcome.result = client.import_openapi(document.text, options)
        outcome.applied = True
    log.info("apidog: pushed %s to project %s (%s)", spec, target.project_id, target.source)
    return outcome


def raise_for_result(outcome: PushOutcome) -> None:
    """ApidogImportFailed when the import reported failed counters or errors."""
    result = outcome.result
    if result is not None and not result.ok:
        raise ApidogImportFailed(outcome.project_id, result.failed, result.errors)
