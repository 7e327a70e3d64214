"""A validation error turned into an INVALID_INPUT that names the input field at fault and says its
bounds in words ("must be between 1 and 10,000")."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from services.errors import ServiceError, invalid

Model = TypeVar("Model", bound=BaseModel)


def parse_typed(model: type[Model], data: dict[str, Any]) -> Model:
    """`data` as `model` (a Config of the GraphQL input's names); a refusal is an INVALID_INPUT naming the field."""
    return _parsed(model, data)


def _parsed(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _refusal(model, exc.errors()[0]) from None


def _refusal(model: type[BaseModel], error: ErrorDetails) -> ServiceError:
    path = [str(part) for part in error["loc"]]
    context = error.get("ctx") or {}
    if error["type"] == "refused":
        return invalid(error["msg"], [*path, *context.get("field", [])])
    info = _field_at(model, error["loc"])
    name = f"`{path[-1]}`" if path else "The config"
    refusal = (
        (info.json_schema_extra or {}).get("refusal")
        if info is not None and isinstance(info.json_schema_extra, dict)
        else None
    )
    if refusal:
        return invalid(str(refusal), path)
    bounds = _bounds(info) if info is not None else {}
    if error["type"] in ("greater_than_equal", "less_than_equal", "greater_than", "less_than") and bounds:
        return invalid(f"{name} {_bounds_text(bounds)}", path)
    return invalid(f"{name}: {error['msg']}", path)


def _bounds(info: FieldInfo) -> dict[str, Any]:
    found = {}
    for item in info.metadata:
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(item, bound, None) is not None:
                found[bound] = getattr(item, bound)
    return found


def _bounds_text(bounds: dict[str, Any]) -> str:
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = bounds.get("le")
    if low and low[0] == "ge" and high is not None:
        return f"must be between {low[1]:,} and {high:,}"
    if low and high is not None:
        return f"must be above {low[1]:,} and at most {high:,}"
    if low == ("ge", 0):
        return "cannot be negative"
    if low:
        return f"must be {'at least' if low[0] == 'ge' else 'above'} {low[1]:,}"
    return f"must be at most {high:,}"


def _field_at(model: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    """The field a validation error's location points at, through tagged unions and lists."""
    current: Any = model
    info: FieldInfo | None = None
    for part in loc:
        current = _unwrapped(current)
        if isinstance(part, int):
            if get_origin(current) is list:
                current = get_args(current)[0]
            continue
        if get_origin(current) is Union:
            members = [
                m
                for m in get_args(current)
                if isinstance(m, type)
                and issubclass(m, BaseModel)
                and m.model_fields.get("kind") is not None
                and m.model_fields["kind"].default == part
            ]
            if members:
                current = members[0]
                continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            if info is None:
                return None
            current = info.annotation
        else:
            return None
    return info


def _unwrapped(annotation: Any) -> Any:
    """X from Optional[X] and Annotated[X, ...]."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) is Union or type(annotation).__name__ == "UnionType":
            members = [m for m in get_args(annotation) if m is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
            return Union[tuple(members)]  # noqa: UP007 - a union built at run time from the members found
        return annotation
