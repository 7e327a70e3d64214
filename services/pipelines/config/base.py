"""What every part of a pipeline's config is built on: frozen models whose aliases are the clients'
(GraphQL) names, and refusals raised inside validators that name the input field at fault."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from services.names import name_problem


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


def refused(message: str, *field: str) -> PydanticCustomError:
    """A refusal raised inside a validator; `field` continues the path from where the validator sits."""
    return PydanticCustomError("refused", message, {"field": list(field)})


def names_to_values(cls: type, value: Any, info: ValidationInfo) -> Any:
    """A validator of both web sources: headers and query parameters are objects of names to text or
    numbers (they go on the wire as text)."""
    if value is not None and not (
        isinstance(value, dict) and all(isinstance(v, (str, int, float)) for v in value.values())
    ):
        raise refused(f"`{to_camel(info.field_name or '')}` must be an object of names to values")
    return value


def a_name(name: str) -> str:
    """The names rule (services.names) inside a config: a sink's name, a scraped field's column name."""
    problem = name_problem(name)
    if problem:
        raise refused(problem)
    return name.strip()
