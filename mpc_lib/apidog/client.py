"""The Apidog Open API client: export and import a project's OpenAPI through the HTTP core.

`POST /v1/projects/{id}/export-openapi` answers with the document itself (a `data`
wrapper, which some callers report, is accepted too); `POST .../import-openapi` takes the
document as a string and answers with 16 counters and an error list.  Every call sends
`Authorization: Bearer <token>` and `X-Apidog-Api-Version: 2024-03-28`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
import yaml
from pydantic import AliasGenerator, ConfigDict, Field, computed_field
from pydantic.alias_generators import to_camel

from ..config import Secret, Settings
from ..errors import ProviderError, ResponseFormatError
from ..http import ProviderClient
from ..models import MpcModel, is_empty

__all__ = [
    "APIDOG_API_VERSION",
    "COUNTER_NAMES",
    "OVERWRITE_BEHAVIORS",
    "ApidogClient",
    "ImportOptions",
    "ImportResult",
]

APIDOG_API_VERSION = "2024-03-28"
OVERWRITE_BEHAVIORS = ("OVERWRITE_EXISTING", "AUTO_MERGE", "KEEP_EXISTING", "CREATE_NEW")
COUNTER_NAMES = tuple(
    f"{kind}{outcome}"
    for kind in ("endpoint", "schema", "endpointFolder", "schemaFolder")
    for outcome in ("Created", "Updated", "Failed", "Ignored")
)


class ImportOptions(MpcModel):
    """The `options` of an import; its JSON is the body Apidog takes (camelCase, None not sent)."""

    model_config = ConfigDict(
        frozen=True, alias_generator=AliasGenerator(serialization_alias=to_camel)
    )

    endpoint_overwrite_behavior: str = "OVERWRITE_EXISTING"
    schema_overwrite_behavior: str = "OVERWRITE_EXISTING"
    update_folder_of_changed_endpoint: bool = False
    prepend_base_path: bool = False
    delete_unmatched_resources: bool = False
    target_endpoint_folder_id: int | None = Field(default=None, exclude_if=is_empty)
    target_schema_folder_id: int | None = Field(default=None, exclude_if=is_empty)
    target_branch_id: int | None = Field(default=None, exclude_if=is_empty)
    module_id: int | None = Field(default=None, exclude_if=is_empty)

    def __init__(self, **options: Any) -> None:
        # Checked after pydantic's validation, so a bad behaviour is one plain ValueError
        # line (what the CLI prints), not a ValidationError report.
        super().__init__(**options)
        for name in ("endpoint_overwrite_behavior", "schema_overwrite_behavior"):
            if getattr(self, name) not in OVERWRITE_BEHAVIORS:
                raise ValueError(
                    f"{name.replace('_', '-')} {getattr(self, name)!r}: expected one of"
                    f" {', '.join(OVERWRITE_BEHAVIORS)}"
                )


class ImportResult(MpcModel):
    """Apidog's answer to an import: the 16 counters (None when absent) and its errors."""

    model_config = ConfigDict(frozen=True)

    counters: dict[str, int | None]
    errors: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, serialization_alias="missing_counters")

    @computed_field
    @property
    def failed(self) -> dict[str, int]:
        """The counters of failures that are above zero."""
        return {
            name: count
            for name, count in self.counters.items()
            if name.endswith("Failed") and count
        }

    @computed_field
    @property
    def ok(self) -> bool:
        """No failed endpoint, schema or folder, and no error listed."""
        return not self.failed and not self.errors


class ApidogClient(ProviderClient):
    """One Apidog project through the shared HTTP core."""

    provider = "apidog"
    scheme = "Bearer"
    headers: ClassVar[dict[str, str]] = {"X-Apidog-Api-Version": APIDOG_API_VERSION}

    def __init__(
        self,
        base_url: str,
        token: Secret | None,
        project_id: str,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, token, settings=settings, client=client)
        self.project_id = project_id

    def _path(self, verb: str) -> str:
        return f"/v1/projects/{self.project_id}/{verb}"

    def export_openapi(
        self, *, oas_version: str = "3.1", scope: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The project's OpenAPI document (JSON), or ResponseFormatError when it is not one."""
        path = self._path("export-openapi")
        body = {
            "scope": scope or {"type": "ALL", "excludedByTags": []},
            "options": {"includeApidogExtensionProperties": False, "addFoldersToTags": False},
            "oasVersion": oas_version,
            "exportFormat": "JSON",
        }
        response = self.http.request("POST", path, json_body=body)
        document = _parse_document(response.text)
        if isinstance(document, dict) and "openapi" not in document:
            wrapped = document.get("data")
            document = wrapped if isinstance(wrapped, dict) else document
        if not isinstance(document, dict) or not isinstance(document.get("openapi"), str):
            raise ResponseFormatError("apidog", path, "the export is not an OpenAPI document")
        return document

    def import_openapi(self, spec_text: str, options: ImportOptions) -> ImportResult:
        """Import a document (sent as the exact text given); the counters and errors it reports."""
        path = self._path("import-openapi")
        body = {"input": spec_text, "options": options.model_dump(mode="json")}
        answer = self.http.post_json(path, body)
        return _import_result(answer, path)


def _parse_document(text: str) -> Any:
    """JSON, else YAML (an export's YAML content type is unconfirmed), else None."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _import_result(answer: Any, path: str) -> ImportResult:
    if not isinstance(answer, dict):
        raise ResponseFormatError("apidog", path, "expected a JSON object")
    if answer.get("success") is False:
        raise ProviderError(
            "apidog", 200, "POST", path,
            error_type=str(answer.get("errorCode") or "") or None,
            detail=str(answer.get("errorMessage") or "success=false"),
        )  # fmt: skip
    data = answer.get("data")
    if not isinstance(data, dict):
        raise ResponseFormatError("apidog", path, "no data object in the import answer")
    counters_raw = data.get("counters")
    if not isinstance(counters_raw, dict):
        raise ResponseFormatError("apidog", path, "no data.counters in the import answer")
    counters: dict[str, int | None] = {}
    for name in COUNTER_NAMES:
        value = counters_raw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ResponseFormatError("apidog", path, f"counter {name} is {value!r}, not a count")
        counters[name] = value
    missing = [name for name in COUNTER_NAMES if counters[name] is None]
    errors = [
        str(item.get("message") or item) if isinstance(item, dict) else str(item)
        for item in (data.get("errors") or [])
    ]
    return ImportResult(counters=counters, errors=errors, missing=missing)
