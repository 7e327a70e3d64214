"""A pipeline's config between its GraphQL shape and its typed one: what clients are shown (the input's
shape, so it can be sent back) and what they gave, as plain data for the services."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from schema.common import raw_id, to_global_id
from services.pipelines.config import PipelineConfig, masked_headers


def shown_config(config: PipelineConfig) -> dict[str, Any]:
    """`config` as clients see it: the input's shape (its field and enum names, @oneOf parts, global
    dataset ids), so it can be sent back as it is; fields left unset (None) left out, header values masked."""
    dumped = masked_headers(config).model_dump(mode="json", by_alias=True, exclude_none=True)
    shown: dict[str, Any] = {
        "source": _one_of(dumped["source"]),
        "steps": [
            {step.step: {to_camel_case(name): value for name, value in step.params.items() if value is not None}}
            for step in config.steps
        ],
        "sink": _one_of(dumped["sink"]),
    }
    if config.checks is not None:
        shown["checks"] = [
            {**check, "suiteId": to_global_id("CheckSuite", check["suiteId"])} if "suiteId" in check else check
            for check in dumped["checks"]
        ]
    return shown


def _one_of(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.pop("kind")
    if kind == "dataset" and "datasetId" in part:
        part["datasetId"] = to_global_id("Dataset", part["datasetId"])
    return {kind: part}


def given_part(value: Any) -> dict[str, Any] | None:
    """A @oneOf source or sink as the client wrote it ({"http": {...}}), dataset ids decoded (an id that
    is no dataset's stays unmatched: not found)."""
    given = as_given(value)
    if given and "dataset" in given and "datasetId" in given["dataset"]:
        given["dataset"]["datasetId"] = raw_id(given["dataset"]["datasetId"], "Dataset") or ""
    return given


def given_checks(value: Any) -> list[dict[str, Any]] | None:
    """Checks as the client wrote them, suite ids decoded (an id that is no suite's stays unmatched: not found)."""
    given = as_given(value)
    for check in given or []:
        if "suiteId" in check:
            check["suiteId"] = raw_id(check["suiteId"], "CheckSuite") or ""
    return given


def as_plain(value: Any) -> Any:
    """An input object as plain data: enums by value, unset fields left out."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    if hasattr(value, "__dict__") and not isinstance(value, (str, int, float, bool, dict)):
        return {k: as_plain(v) for k, v in vars(value).items() if v is not strawberry.UNSET and v is not None}
    return value


def as_given(value: Any) -> Any:
    """An input object in the shape the client wrote it: GraphQL field and enum names, unset fields left out
    (defaults the client did not write are filled in), ids as sent."""
    if value is None or value is strawberry.UNSET:
        return None
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, list):
        return [as_given(v) for v in value]
    definition = getattr(type(value), "__strawberry_definition__", None)
    if definition is None:
        return value  # a scalar or JSON: the client's own data
    shaped = {}
    for field in definition.fields:
        item = getattr(value, field.python_name)
        if item is not None and item is not strawberry.UNSET:
            shaped[field.graphql_name or to_camel_case(field.python_name)] = as_given(item)
    return shaped
