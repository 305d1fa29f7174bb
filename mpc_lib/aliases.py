"""MPC-API's alias catalog: task-level names (`text_general_flagship`) for registry models.

`aliases.json` (shipped beside this module) maps each alias to registry models
(`provider:model_id`) in order of preference, with the tasks, domains and modality
`POST /api/select-model` filters on, and old names callers may still send
(`legacy`).  Its `jobs` are the plans `POST /api/orchestrate` returns.

`AliasCatalog.resolve(registry_models, gateway_config)` ties each alias to the first
candidate the registry holds *and* the gateway serves (a deployment whose
`model_info.mpc_provider/mpc_model_id` name it), giving its gateway model name.  An
alias none of whose candidates resolves, or a job naming an unknown alias, raises
AliasError naming it: MPC-API refuses to start rather than fail on every call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    computed_field,
    field_validator,
)

from .errors import AliasError, ConfigError
from .models import MpcModel
from .providers import PROVIDERS

__all__ = [
    "QUALITY_RANK",
    "Alias",
    "AliasCatalog",
    "JobStep",
    "ResolvedAlias",
    "ResolvedAliases",
    "load_aliases",
]

# select-model ranks flagship over strong over draft (stable within a tier, as before).
QUALITY_RANK = {"flagship": 3, "strong": 2, "draft": 1}


class Alias(BaseModel):
    """One alias: candidate registry models and what it is good for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] = Field(min_length=1)
    modality: list[str] = Field(min_length=1)
    tasks: list[str] = []
    domains: list[str] = []
    quality_tier: Literal["flagship", "strong", "draft"]
    speed_tier: Literal["fast", "normal"] = "normal"
    legacy: list[str] = []
    note: str | None = None

    @field_validator("models")
    @classmethod
    def _keys(cls, models: list[str]) -> list[str]:
        for key in models:
            provider, _, model_id = key.partition(":")
            if provider not in PROVIDERS or not model_id:
                raise ValueError(f"{key!r} is not provider:model_id ({', '.join(PROVIDERS)})")
        return models


class JobStep(BaseModel):
    """One step of a job plan and the alias that does it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str
    alias: str


class AliasCatalog(BaseModel):
    """The whole catalog: aliases by name, and job plans by job type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    description: str = ""
    aliases: dict[str, Alias]
    jobs: dict[str, list[JobStep]] = {}

    def targets(self, models: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        """Alias -> the first candidate the registry holds (what the gateway must serve)."""
        present = {f"{m['provider']}:{m['model_id']}" for m in models}
        found: dict[str, str] = {}
        for name, alias in self.aliases.items():
            hit = next((key for key in alias.models if key in present), None)
            if hit is not None:
                found[name] = hit
        return found

    def resolve(
        self, models: Iterable[Mapping[str, Any]], config: Mapping[str, Any]
    ) -> ResolvedAliases:
        """Every alias bound to a registry model and its gateway deployment, or AliasError."""
        records = {f"{m['provider']}:{m['model_id']}": m for m in models}
        served: dict[str, tuple[str, str | None]] = {}  # registry key -> (name, mode)
        for entry in config.get("model_list", []):
            info = entry.get("model_info") or {}
            if info.get("mpc_provider") and info.get("mpc_model_id"):
                key = f"{info['mpc_provider']}:{info['mpc_model_id']}"
                served.setdefault(key, (str(entry["model_name"]), info.get("mode")))
        # Why the config generator left a model out (`mpc.left_out`: reason -> keys).
        left_out = {
            key: str(reason)
            for reason, keys in ((config.get("mpc") or {}).get("left_out") or {}).items()
            for key in keys or ()
        }
        resolved: dict[str, ResolvedAlias] = {}
        broken: list[str] = []
        for name, alias in self.aliases.items():
            reasons = []
            for key in alias.models:
                if key not in records:
                    reasons.append(f"{key} is not in the registry")
                elif key in left_out:
                    reasons.append(f"{key} has no gateway deployment: `mpc gateway config` "
                                   f"left it out ({left_out[key]})")  # fmt: skip
                elif key not in served:
                    reasons.append(f"{key} has no gateway deployment")
                else:
                    gateway_model, mode = served[key]
                    record = records[key]
                    resolved[name] = ResolvedAlias(
                        name=name, alias=alias, model=key, gateway_model=gateway_model,
                        mode=mode, record=record,
                    )  # fmt: skip
                    break
            else:
                broken.append(f"alias {name!r}: " + "; ".join(reasons))
        for job, steps in self.jobs.items():
            for step in steps:
                if step.alias not in self.aliases:
                    broken.append(f"job {job!r} step {step.step!r}: unknown alias {step.alias!r}")
        if broken:
            raise AliasError(
                f"{len(broken)} broken alias(es), MPC-API will not start: " + " | ".join(broken)
            )
        return ResolvedAliases(self, resolved)


class ResolvedAlias(MpcModel):
    """An alias bound to one registry model and the gateway model that serves it.

    Its JSON is the alias as MPC-API shows it (select-model's `selected_model`, `candidates`).
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(serialization_alias="alias")
    alias: Alias = Field(exclude=True)
    model: str  # provider:model_id
    gateway_model: str
    mode: str | None
    record: Mapping[str, Any] = Field(exclude=True)

    @computed_field
    @property
    def provider(self) -> Any:
        """The registry record's provider."""
        return self.record.get("provider")

    @computed_field
    @property
    def model_id(self) -> Any:
        """The registry record's model id."""
        return self.record.get("model_id")

    @computed_field
    @property
    def display_name(self) -> Any:
        """The registry record's display name."""
        return self.record.get("display_name")

    @computed_field
    @property
    def pricing(self) -> Any:
        """The registry record's pricing."""
        return self.record.get("pricing")

    @computed_field
    @property
    def modality(self) -> list[str]:
        """What the alias takes and gives (text, image, ...)."""
        return list(self.alias.modality)

    @computed_field
    @property
    def tasks(self) -> list[str]:
        """The tasks select-model matches it on."""
        return list(self.alias.tasks)

    @computed_field
    @property
    def domains(self) -> list[str]:
        """The domains select-model matches it on."""
        return list(self.alias.domains)

    @computed_field
    @property
    def quality_tier(self) -> str:
        """flagship, strong or draft."""
        return self.alias.quality_tier

    @computed_field
    @property
    def speed_tier(self) -> str:
        """fast or normal."""
        return self.alias.speed_tier


@dataclass(frozen=True)
class ResolvedAliases:
    """The catalog after start-up checks: every name a caller may send, and job plans."""

    catalog: AliasCatalog
    by_name: dict[str, ResolvedAlias]

    def lookup(self, name: str) -> ResolvedAlias | None:
        """An alias by its name, or by a legacy name the old service took."""
        if name in self.by_name:
            return self.by_name[name]
        for resolved in self.by_name.values():
            if name in resolved.alias.legacy:
                return resolved
        return None

    def select(
        self, task_type: str | None, domain: str | None, modality: str | None
    ) -> list[ResolvedAlias]:
        """Aliases matching every given criterion, best quality tier first (stable)."""
        matches = [
            resolved
            for resolved in self.by_name.values()
            if (task_type is None or task_type in resolved.alias.tasks)
            and (domain is None or domain in resolved.alias.domains)
            and (modality is None or modality in resolved.alias.modality)
        ]
        return sorted(matches, key=lambda r: -QUALITY_RANK[r.alias.quality_tier])


def load_aliases(path: Path | None = None) -> AliasCatalog:
    """The shipped catalog (or the file at `path`); a malformed file raises ConfigError."""
    where = "mpc_lib/aliases.json" if path is None else str(path)
    try:
        if path is None:
            text = resources.files(__package__).joinpath("aliases.json").read_text("utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return AliasCatalog.model_validate(json.loads(text))
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            loc = ".".join(str(part) for part in first["loc"])
            raise ConfigError(f"{where}: {loc}: {first['msg']}") from None
        raise ConfigError(f"{where}: unreadable alias catalog ({exc})") from exc
