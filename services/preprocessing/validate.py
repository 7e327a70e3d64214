"""Check a list of steps against the dataset's columns before anything is created.

The checker walks the steps over a model of the columns (name -> semantic type), so a step may
use a column an earlier step made or renamed. Errors point at ["steps", index, step, argument].
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.errors import invalid
from services.ingest.types import SemanticType

DATETIME_PARTS = ("year", "quarter", "month", "day", "weekday", "hour", "minute", "is_weekend", "epoch")

NUMERIC_ONLY = {"MEAN", "MEDIAN", "KNN", "ITERATIVE", "INTERPOLATE"}
NUMBERS = {"NUMERIC", "BOOLEAN"}
ENCODABLE = {"CATEGORICAL", "BOOLEAN", "TEXT", "IDENTIFIER"}
SEMANTIC_TYPES = {kind.value for kind in SemanticType}


class _Columns:
    def __init__(self, columns: list[dict[str, Any]]) -> None:
        self.types: dict[str, str] = {c["name"]: c["semantic_type"] for c in columns}
        self.generated_prefixes: list[str] = []  # one-hot output: names known only after fitting

    def type_of(self, name: str) -> str | None:
        if name in self.types:
            return self.types[name]
        return "NUMERIC" if any(name.startswith(prefix) for prefix in self.generated_prefixes) else None


def _where(index: int, kind: str, argument: str | None = None) -> list[str]:
    return ["steps", str(index), kind] + ([argument] if argument else [])


def _named(
    columns: _Columns, names: list[str] | None, index: int, kind: str, allowed: set[str] | None, what: str
) -> list[str]:
    """The step's columns: as named (checked), or every column of an allowed type when absent."""
    if names is None:
        return [name for name, semantic in columns.types.items() if allowed is None or semantic in allowed]
    if not names:
        raise invalid(
            "`columns` is empty; leave it out to mean every column the step applies to", _where(index, kind, "columns")
        )
    for name in names:
        semantic = columns.type_of(name)
        if semantic is None:
            raise invalid(f"No column named {name!r} at this step", _where(index, kind, "columns"))
        if allowed is not None and semantic not in allowed:
            raise invalid(f"{kind} cannot act on {name!r}: it is {semantic}, {what}", _where(index, kind, "columns"))
    return list(names)


def _check_constant(value: Any, columns: _Columns, names: list[str], index: int) -> None:
    if value is None:
        raise invalid("CONSTANT needs a `value`", _where(index, "impute", "value"))
    for name in names:
        semantic = columns.type_of(name)
        fits_by_type: dict[str | None, bool] = {
            "NUMERIC": isinstance(value, (int, float)) and not isinstance(value, bool),
            "BOOLEAN": isinstance(value, bool),
            "DATETIME": isinstance(value, str) and _is_iso(value),
        }
        fits = fits_by_type.get(semantic, isinstance(value, str))
        if not fits:
            raise invalid(
                f"The constant {value!r} does not fit {name!r} ({semantic})", _where(index, "impute", "value")
            )


def _is_iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        return False


def validate_steps(
    steps: list[tuple[str, dict[str, Any]]], columns: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """Checked steps with `columns` filled in where it was absent; raises INVALID_INPUT with the field."""
    if not steps:
        raise invalid("Give at least one step", ["steps"])
    model = _Columns(columns)
    checked = []
    for index, (kind, params) in enumerate(steps):
        params = dict(params)
        if kind == "impute":
            strategy = params["strategy"]
            allowed = NUMBERS if strategy in NUMERIC_ONLY else None
            params["columns"] = _named(
                model, params.get("columns"), index, kind, allowed, f"and {strategy} needs numbers"
            )
            if strategy == "CONSTANT":
                _check_constant(params.get("value"), model, params["columns"], index)
            if params.get("order_by") is not None:
                if strategy not in ("FFILL", "BFILL", "INTERPOLATE"):
                    raise invalid("`orderBy` applies to FFILL, BFILL and INTERPOLATE", _where(index, kind, "orderBy"))
                if model.type_of(params["order_by"]) != "DATETIME":
                    raise invalid("`orderBy` must name a DATETIME column", _where(index, kind, "orderBy"))
        elif kind == "encode":
            params["columns"] = _named(
                model,
                params.get("columns"),
                index,
                kind,
                ENCODABLE if params.get("columns") else {"CATEGORICAL", "BOOLEAN"},
                "not categorical",
            )
            for name in params["columns"]:
                if params["strategy"] == "ONE_HOT":
                    model.types.pop(name, None)
                    model.generated_prefixes.append(f"{name}_")
                else:
                    model.types[name] = "NUMERIC"
        elif kind in ("scale", "clipOutliers"):
            params["columns"] = _named(
                model,
                params.get("columns"),
                index,
                kind,
                NUMBERS if params.get("columns") else {"NUMERIC"},
                "not numeric",
            )
            if kind == "clipOutliers" and not params.get("factor", 1.5) > 0:
                raise invalid("`factor` must be positive", _where(index, kind, "factor"))
            for name in params["columns"]:
                model.types[name] = "NUMERIC"
        elif kind == "dropColumns":
            for name in _named(model, params["columns"], index, kind, None, ""):
                model.types.pop(name, None)
        elif kind == "renameColumns":
            mapping = params.get("mapping")
            if (
                not isinstance(mapping, dict)
                or not mapping
                or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in mapping.items())
            ):
                raise invalid(
                    '`mapping` must be an object of old name to new name, e.g. {"old": "new"}',
                    _where(index, kind, "mapping"),
                )
            _named(model, list(mapping), index, kind, None, "")
            survivors = set(model.types) - set(mapping)
            if len(set(mapping.values())) != len(mapping) or survivors & set(mapping.values()):
                raise invalid(
                    "The new names must be unique and not clash with other columns", _where(index, kind, "mapping")
                )
            model.types = {mapping.get(name, name): semantic for name, semantic in model.types.items()}
        elif kind == "cast":
            _named(model, [params["column"]], index, kind, None, "")
            if params["to"] not in SEMANTIC_TYPES:
                raise invalid(f"Unknown type {params['to']!r}", _where(index, kind, "to"))
            if params.get("format") and params["to"] != "DATETIME":
                raise invalid("`format` applies to DATETIME casts", _where(index, kind, "format"))
            if params.get("format"):
                _check_datetime_format(params["format"], _where(index, kind, "format"))
            model.types[params["column"]] = params["to"]
        elif kind == "datetimeFeatures":
            params["columns"] = _named(model, params.get("columns"), index, kind, {"DATETIME"}, "not a datetime")
            parts = params.get("parts") or ["year", "month", "day", "weekday"]
            unknown = [p for p in parts if p not in DATETIME_PARTS]
            if unknown:
                raise invalid(
                    f"Unknown part(s) {unknown}; choose from {list(DATETIME_PARTS)}", _where(index, kind, "parts")
                )
            params["parts"] = parts
            for name in params["columns"]:
                for part in parts:
                    model.types[f"{name}_{part}"] = "NUMERIC"
        elif kind == "dropDuplicates":
            if params.get("columns") is not None:
                _named(model, params["columns"], index, kind, None, "")
        elif kind == "derive":
            _check_derive(model, params, index)
        if kind not in ("dropColumns", "renameColumns", "dropDuplicates", "cast", "derive") and not params.get(
            "columns"
        ):
            raise invalid(f"No column fits this {kind} step", _where(index, kind, "columns"))
        checked.append((kind, params))
    return checked


def _check_derive(model: _Columns, params: dict[str, Any], index: int) -> None:
    """The expression parses, names columns that exist at this step, and binds; its result type becomes
    the new column's, so later steps can use it like any other."""
    from services.expressions import parse, result_type

    name = params.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("`name` must be the new column's name", _where(index, "derive", "name"))
    where = _where(index, "derive", "expression")
    expression = parse(params.get("expression", ""), list(model.types), where)
    model.types[name] = result_type(expression, {column: model.types[column] for column in expression.columns}, where)


def _check_datetime_format(fmt: str, field: list[str]) -> None:
    """A strftime format pandas can parse with; a bad directive would otherwise fail the job itself."""
    import pandas as pd

    try:
        pd.to_datetime(pd.Series(["2024-01-02"]), format=fmt, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise invalid(f"The format {fmt!r} is not a valid date format: {exc}", field) from exc
