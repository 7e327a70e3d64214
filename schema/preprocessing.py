"""Preprocessing inputs: one @oneOf step type, so each step names exactly one operation."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case

from schema.common import SemanticType
from schema.jobs import JobPriority, priority_input


@strawberry.enum
class ImputeStrategy(Enum):
    MEAN = "MEAN"
    MEDIAN = "MEDIAN"
    MODE = "MODE"
    CONSTANT = "CONSTANT"
    KNN = "KNN"
    ITERATIVE = "ITERATIVE"
    FFILL = "FFILL"
    BFILL = "BFILL"
    INTERPOLATE = "INTERPOLATE"
    DROP_ROWS = "DROP_ROWS"


@strawberry.enum
class EncodeStrategy(Enum):
    LABEL = "LABEL"
    ONE_HOT = "ONE_HOT"
    ORDINAL = "ORDINAL"


@strawberry.enum
class ScaleStrategy(Enum):
    STANDARD = "STANDARD"
    MINMAX = "MINMAX"
    ROBUST = "ROBUST"


@strawberry.enum(description="What a cast does with values it cannot convert")
class CastErrorMode(Enum):
    FAIL = "FAIL"
    NULL = "NULL"


@strawberry.input(description="Fill missing values. `columns` absent: every column the strategy applies to.")
class ImputeStep:
    columns: list[str] | None = None
    strategy: ImputeStrategy
    value: JSON | None = strawberry.field(default=None, description="For CONSTANT; must fit the columns' type")
    order_by: str | None = strawberry.field(
        default=None, description="A DATETIME column to order FFILL, BFILL and INTERPOLATE by (row order otherwise)"
    )


@strawberry.input(
    description="LABEL/ORDINAL: codes in sorted level order; ONE_HOT: one 0/1 column per level "
    "(at most 20, the rest in <column>_other)"
)
class EncodeStep:
    columns: list[str] | None = None
    strategy: EncodeStrategy


@strawberry.input
class ScaleStep:
    columns: list[str] | None = None
    strategy: ScaleStrategy


@strawberry.input
class DropColumnsStep:
    columns: list[str]


@strawberry.input
class RenameColumnsStep:
    mapping: JSON = strawberry.field(description='{"old": "new"}')


@strawberry.input
class CastStep:
    column: str
    to: SemanticType
    format: str | None = strawberry.field(default=None, description="strftime format for DATETIME, e.g. %d/%m/%Y")
    on_error: CastErrorMode | None = strawberry.field(
        default=CastErrorMode.FAIL,
        description="FAIL refuses the job with the count and a sample; NULL sets them to null",
    )


@strawberry.input
class DatetimeFeaturesStep:
    columns: list[str] | None = None
    parts: list[str] | None = strawberry.field(
        default=None,
        description="year, quarter, month, day, weekday, hour, minute, is_weekend, epoch "
        "(default year, month, day, weekday)",
    )


@strawberry.input
class DropDuplicatesStep:
    columns: list[str] | None = None


@strawberry.input
class ClipOutliersStep:
    columns: list[str] | None = None
    factor: float | None = 1.5


@strawberry.input(
    description="A column computed row by row from an expression: column names, literals, arithmetic, "
    "comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL, CASE, CAST and string, number "
    "and date functions (docs/expressions.md). Evaluated by DuckDB, never by Python."
)
class DeriveStep:
    name: str = strawberry.field(description="The new column's name; an existing column of that name is replaced")
    expression: str = strawberry.field(description="e.g. CASE WHEN price > 100 THEN 'high' ELSE 'low' END")


@strawberry.input(one_of=True)
class PreprocessStepInput:
    impute: ImputeStep | None = strawberry.UNSET
    encode: EncodeStep | None = strawberry.UNSET
    scale: ScaleStep | None = strawberry.UNSET
    drop_columns: DropColumnsStep | None = strawberry.UNSET
    rename_columns: RenameColumnsStep | None = strawberry.UNSET
    cast: CastStep | None = strawberry.UNSET
    datetime_features: DatetimeFeaturesStep | None = strawberry.UNSET
    drop_duplicates: DropDuplicatesStep | None = strawberry.UNSET
    clip_outliers: ClipOutliersStep | None = strawberry.UNSET
    derive: DeriveStep | None = strawberry.UNSET


@strawberry.input
class PreprocessDatasetInput:
    dataset_id: strawberry.ID
    steps: list[PreprocessStepInput]
    name: str | None = None
    priority: JobPriority = priority_input()


def step_to_params(step: PreprocessStepInput) -> tuple[str, dict[str, Any]]:
    """(step kind, plain parameters) of the one field that is set; the kind is the field's GraphQL name
    (dropColumns), so a step added to PreprocessStepInput needs nothing here."""
    for field in get_object_definition(PreprocessStepInput, strict=True).fields:
        value = getattr(step, field.python_name)
        if value is not None and value is not strawberry.UNSET:
            params: dict[str, Any] = {}
            for key, item in vars(value).items():
                if item is strawberry.UNSET:
                    continue
                params[key] = item.value if isinstance(item, Enum) else item
            return to_camel_case(field.python_name), params
    raise ValueError("a oneOf input without a value")  # GraphQL validation makes this unreachable
