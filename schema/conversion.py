"""How GraphQL types are filled from table rows and stored models: the same-named fields copied (a stored string
made the enum its field declares), the rest named."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.private import is_private

from schema.common import to_global_id

NodeType = TypeVar("NodeType")


def _as_is(value: Any) -> Any:
    return value


def _converter(field_type: Any) -> Callable[[Any], Any]:
    """How a stored value becomes a field's value: a string (or a list of them) the enum the field declares; null
    stays null, and anything else is taken as it is."""
    if isinstance(field_type, StrawberryOptional):
        field_type = field_type.of_type
    if isinstance(field_type, StrawberryEnumDefinition):
        enum = field_type.wrapped_cls
        return lambda value: value if value is None or isinstance(value, enum) else enum(value)
    if isinstance(field_type, StrawberryList):
        item = _converter(field_type.of_type)
        if item is not _as_is:
            return lambda values: None if values is None else [item(v) for v in values]
    return _as_is


@functools.cache
def _plain_fields(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """The Python names of `cls`'s fields that hold a value (no resolver, not private), each with its converter."""
    definition = get_object_definition(cls, strict=True)
    return tuple(
        (f.python_name, _converter(f.type))
        for f in definition.fields
        if f.base_resolver is None and not is_private(f.type)
    )


def fields_of(cls: type, source: object, **given: Any) -> dict[str, Any]:
    """`cls`'s value fields read from `source`'s attributes of the same name (a table row, a stored model), with
    `given` for those converted otherwise, renamed or computed: a type that shows a row names only what differs from
    it. A stored enum value becomes the field's enum here, so no type spells out `Status(row.status)`."""
    return {name: convert(getattr(source, name)) for name, convert in _plain_fields(cls) if name not in given} | given


ShownType = TypeVar("ShownType", bound=type)


def described(description: str | None = None, /, **fields: str) -> Callable[[ShownType], ShownType]:
    """The descriptions of a type generated from a stored model (above `@from_model.type`), its own and its fields':
    strawberry takes a generated field's description from the pydantic field, and the stored models leave explaining
    to the schema."""

    def describe(cls: ShownType) -> ShownType:
        definition = get_object_definition(cls, strict=True)
        definition.description = description or definition.description
        by_name = {f.python_name: f for f in definition.fields}
        for name, text in fields.items():
            by_name[name].description = text  # a KeyError here: a description of no field
        return cls

    return describe


def node_fields(cls: type, row: Any, **given: Any) -> dict[str, Any]:
    """fields_of for a Node shown from its row: the global id of the row's id under the type's name, the row kept."""
    type_name = get_object_definition(cls, strict=True).name
    return fields_of(cls, row, id=to_global_id(type_name, row.id), row=row, **given)


async def loaded(loader: Any, key: Any, to_node: Callable[[Any], NodeType]) -> NodeType | None:
    """The node a reference points at, read through one of the request's DataLoaders; null once its row is gone."""
    row = await loader.load(key)
    return to_node(row) if row else None
