"""How GraphQL types are filled from table rows and stored models: the same-named fields copied, the rest named."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from strawberry.types.base import get_object_definition
from strawberry.types.private import is_private

from schema.common import to_global_id

NodeType = TypeVar("NodeType")


@functools.cache
def _plain_fields(cls: type) -> tuple[str, ...]:
    """The Python names of `cls`'s fields that hold a value: no resolver, not private."""
    definition = get_object_definition(cls, strict=True)
    return tuple(f.python_name for f in definition.fields if f.base_resolver is None and not is_private(f.type))


def fields_of(cls: type, source: object, **given: Any) -> dict[str, Any]:
    """`cls`'s value fields read from `source`'s attributes of the same name (a table row, a stored model), with
    `given` for those converted, renamed or computed: a type that shows a row names only what differs from it."""
    return {name: getattr(source, name) for name in _plain_fields(cls) if name not in given} | given


def node_fields(cls: type, row: Any, **given: Any) -> dict[str, Any]:
    """fields_of for a Node shown from its row: the global id of the row's id under the type's name, the row kept."""
    type_name = get_object_definition(cls, strict=True).name
    return fields_of(cls, row, id=to_global_id(type_name, row.id), row=row, **given)


async def loaded(loader: Any, key: Any, to_node: Callable[[Any], NodeType]) -> NodeType | None:
    """The node a reference points at, read through one of the request's DataLoaders; null once its row is gone."""
    row = await loader.load(key)
    return to_node(row) if row else None
