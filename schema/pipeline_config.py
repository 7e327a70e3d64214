"""A pipeline's config between its GraphQL input and its stored form: the plain (snake_case) form the
services run, the shape the client gave (what `config` echoes), and that shape rebuilt for configs
stored before it was kept."""
from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from services.pipelines.service import GIVEN, mask_config

from schema.common import to_global_id


def shown_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` as clients see it: as given, header values masked. A pipeline saved before the given
    shape was kept has only the stored form; its given shape is rebuilt from that."""
    if GIVEN not in config:
        config = {GIVEN: given_from_stored(config)}
    return mask_config(config)


def given_from_stored(config: dict[str, Any]) -> dict[str, Any]:
    """The input shape of a stored config: field names in camelCase, dataset ids global. Only input
    field names are renamed: header names, query params and column names are the client's own."""
    def fields(spec: dict[str, Any], kind: str) -> dict[str, Any]:
        shaped = {}
        for key, value in spec.items():
            if value is None:  # as_given leaves out what the client left unset
                continue
            if key == "dataset_id" and kind == "dataset":
                value = to_global_id("Dataset", value)
            elif key == "fields" and kind == "scrape":
                value = [{to_camel_case(k): v for k, v in field.items() if v is not None} for field in value]
            shaped[to_camel_case(key)] = value
        return shaped

    given: dict[str, Any] = {}
    for part in ("source", "sink"):
        if config.get(part):
            kind, spec = next(iter(config[part].items()))
            given[part] = {kind: fields(spec, kind)}
    given["steps"] = [{step["step"]: fields(step["params"], step["step"])} for step in config.get("steps") or []]
    if config.get("checks") is not None:
        given["checks"] = [fields(check, "check") for check in config["checks"]]
    return {key: given[key] for key in ("source", "steps", "sink", "checks") if key in given}


def as_plain(value: Any) -> Any:
    """An input object as plain data: enums by value, unset fields left out, ids decoded."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    if hasattr(value, "__dict__") and not isinstance(value, (str, int, float, bool, dict)):
        return {k: as_plain(v) for k, v in vars(value).items() if v is not strawberry.UNSET and v is not None}
    return value


def as_given(value: Any) -> Any:
    """An input object in the shape the client wrote it: GraphQL field and enum names, unset fields left out
    (defaults the client did not write are filled in), ids as sent. What `config` echoes."""
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


def config_part(value: Any) -> dict[str, Any] | None:
    """A @oneOf source or sink as {"kind": {...}}, with dataset ids decoded from global ids."""
    if value is None:
        return None
    plain = as_plain(value)
    kind, spec = next(iter(plain.items()))
    if kind == "dataset" and "dataset_id" in spec:
        from schema.common import raw_id
        spec = {**spec, "dataset_id": raw_id(spec["dataset_id"], "Dataset")}
    return {kind: spec}
