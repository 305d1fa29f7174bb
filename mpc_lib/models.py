"""The one base for what the workbench hands out: its JSON form is `model_dump(mode="json")`.

Reports, findings, outcomes and quotes are pydantic models on `MpcModel`, so the CLI's
`--json`, the files we write and notebook outputs all come from one serialiser.  Where
the JSON differs from the attributes, the model says so beside the field: a derived
value is a `computed_field`, an attribute the JSON leaves out is `Field(exclude=True)`,
a renamed key is a `serialization_alias`, a rounded or filtered value a
`field_serializer`, and keys left out while empty are named in `omit_when_empty`.

Two habits keep the JSON what it was: a number that may be an int is typed `Number`
(pydantic would turn the 862 of a `float` field into 862.0), and an object another
module built and may still change is held, not copied (`SkipValidation`, `InstanceOf`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

__all__ = ["MpcModel", "Number"]

# int stays int and float stays float: `float` alone would write 862 as 862.0.
Number = int | float


class MpcModel(BaseModel):
    """Base of every model the workbench serialises: strict on what it holds, one JSON form."""

    model_config = ConfigDict(
        extra="forbid",  # we build these ourselves: an unknown field is a bug
        arbitrary_types_allowed=True,  # a report may hold the PriceBook or CostMap it came from
        serialize_by_alias=True,  # `serialization_alias` names the JSON key
        defer_build=True,  # schemas build on first use, so `import mpc_lib` stays light
    )

    # Fields the JSON leaves out while None or an empty dict or list (pydantic >= 2.12 says
    # this per field with `exclude_if`; our floor is 2.11).
    omit_when_empty: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        fields = type(self).model_fields
        for name in self.omit_when_empty:
            key = fields[name].serialization_alias or name
            if key in data and (data[key] is None or data[key] in ({}, [])):
                del data[key]
        return data

    def to_json(self) -> dict[str, Any]:
        """`model_dump(mode="json")` under its old name, kept for its one caller left.

        That caller is MPC-API's select-model route (`mpc_lib/api/routes/select.py`,
        `resolved.to_json()`); remove this alias when that line moves to `model_dump`.
        """
        return self.model_dump(mode="json")
