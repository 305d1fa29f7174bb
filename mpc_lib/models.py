"""The one base for what the workbench hands out: its JSON form is `model_dump(mode="json")`.

Reports, findings, outcomes and quotes are pydantic models on `MpcModel`, so the CLI's
`--json`, the files we write and notebook outputs all come from one serialiser.  Where
the JSON differs from the attributes, the model says so beside the field: a derived
value is a `computed_field`, an attribute the JSON leaves out is `Field(exclude=True)`,
a renamed key is a `serialization_alias`, a rounded or filtered value a
`field_serializer`, and a key left out while empty is `Field(exclude_if=is_empty)`.

Two habits keep the JSON what it was: a number that may be an int is typed `Number`
(pydantic would turn the 862 of a `float` field into 862.0), and an object another
module built and may still change is held, not copied (`SkipValidation`, `InstanceOf`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["MpcModel", "Number", "is_empty"]

# int stays int and float stays float: `float` alone would write 862 as 862.0.
Number = int | float


def is_empty(value: object) -> bool:
    """None, {} or []: what `Field(exclude_if=is_empty)` leaves out of the JSON."""
    return value is None or value == {} or value == []


class MpcModel(BaseModel):
    """Base of every model the workbench serialises: strict on what it holds, one JSON form."""

    model_config = ConfigDict(
        extra="forbid",  # we build these ourselves: an unknown field is a bug
        arbitrary_types_allowed=True,  # a report may hold the PriceBook or CostMap it came from
        serialize_by_alias=True,  # `serialization_alias` names the JSON key
        defer_build=True,  # schemas build on first use, so `import mpc_lib` stays light
    )
