"""Semantic types from an Arrow table: what a column means, beyond how it is stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DATETIME_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%b %d, %Y",
    "%d %b %Y",
    "%B %d, %Y",
    "%d %B %Y",
]
_ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key|code)$|^id", re.IGNORECASE)
IDENTIFIER_MIN_ROWS = 50
CATEGORICAL_MAX_LEVELS = 50
TEXT_MIN_MEAN_LENGTH = 30
SAMPLE_SIZE = 50_000
DATETIME_MIN_RATIO = 0.95  # a text column becomes DATETIME when one format parses this share of its values


def physical_dtype(arrow_type: pa.DataType) -> str:
    """A pandas-style name for the storage type: int64, float64, bool, string, datetime64[s]..."""
    if pa.types.is_floating(arrow_type):
        return f"float{arrow_type.bit_width}"
    if pa.types.is_integer(arrow_type):
        return str(arrow_type)
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_timestamp(arrow_type):
        return f"datetime64[{arrow_type.unit}]" + (f", {arrow_type.tz}" if arrow_type.tz else "")
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_null(arrow_type):
        return "null"
    return str(arrow_type)


def datetime_format(column: pa.ChunkedArray | pa.Array, *, min_ratio: float = DATETIME_MIN_RATIO) -> str | None:
    """The known format that parses nearly every non-null value of the column's first 2,000, if any."""
    values = pc.drop_null(column)
    if len(values) == 0:
        return None
    sample = values.slice(0, 2000).combine_chunks() if isinstance(values, pa.ChunkedArray) else values.slice(0, 2000)
    lengths = pc.utf8_length(sample)
    if pc.max(lengths).as_py() > 40 or pc.min(lengths).as_py() < 6:
        return None
    best_format, best_parsed = None, 0
    # A format failing on this many leading values cannot parse min_ratio of the sample; trying it on
    # them first rules out most formats for ordinary text at a twentieth of the cost.
    head = sample.slice(0, int((1 - min_ratio) * len(sample)) + 1)
    for fmt in DATETIME_FORMATS:
        if pc.strptime(head, format=fmt, unit="s", error_is_null=True).null_count == len(head):
            continue
        parsed = len(sample) - pc.strptime(sample, format=fmt, unit="s", error_is_null=True).null_count
        if parsed > best_parsed:
            best_format, best_parsed = fmt, parsed
        if parsed == len(sample):
            break
    if best_format is None or best_parsed < min_ratio * len(sample):
        return None
    return best_format


def unparsed_datetimes(original: pa.ChunkedArray | pa.Array, parsed: pa.ChunkedArray | pa.Array) -> int:
    """Values the format turned into nulls."""
    return int(parsed.null_count - original.null_count)


def few_enough_unparsed(unparsed: int, values: int, *, min_ratio: float = DATETIME_MIN_RATIO) -> bool:
    return unparsed <= (1 - min_ratio) * max(1, values)


def parse_datetime_strings(column: pa.ChunkedArray, *, min_ratio: float = DATETIME_MIN_RATIO) -> pa.ChunkedArray | None:
    """Timestamps when one known format parses nearly every non-null value of a sample and of the column."""
    best_format = datetime_format(column, min_ratio=min_ratio)
    if best_format is None:
        return None
    parsed = pc.strptime(column, format=best_format, unit="s", error_is_null=True)
    if not few_enough_unparsed(
        unparsed_datetimes(column, parsed), len(column) - column.null_count, min_ratio=min_ratio
    ):
        return None
    return parsed


def _sample(column: pa.ChunkedArray, size: int = SAMPLE_SIZE) -> pa.Array:
    """Up to `size` non-null values, spread over the whole column (every k-th value)."""
    values = pc.drop_null(column) if column.null_count else column
    step = max(1, len(values) // size)
    picked = values.take(np.arange(0, len(values), step)) if step > 1 else values
    return picked.combine_chunks() if isinstance(picked, pa.ChunkedArray) else picked


class IntegerBounds(TypedDict):
    min: int
    max: int


@dataclass
class ColumnFacts:
    """What judging a column's meaning needs, from a table in memory or streamed from a Parquet file.

    The costly exact checks are callables, asked only when the sample cannot settle the answer.
    """

    type: pa.DataType
    rows: int
    null_count: int
    sample: pa.Array  # up to SAMPLE_SIZE non-null values, every k-th (see _sample)
    bounds: IntegerBounds | None  # integers only
    increasing: Callable[[], bool]  # null-free integers: every value above the one before
    count_distinct: Callable[[], int]  # exact count of distinct non-null values

    @property
    def non_null(self) -> int:
        return self.rows - self.null_count


def facts_of_column(column: pa.ChunkedArray) -> ColumnFacts:
    integer = pa.types.is_integer(column.type) and len(column) > column.null_count

    def increasing() -> bool:
        values = column.to_numpy()
        return bool(np.all(values[1:] > values[:-1]))

    return ColumnFacts(
        column.type,
        len(column),
        column.null_count,
        _sample(column) if len(column) > column.null_count else pa.array([], column.type),
        pc.min_max(column).as_py() if integer else None,
        increasing,
        lambda: pc.count_distinct(column).as_py(),
    )


def _is_unique(facts: ColumnFacts) -> bool:
    """Exact uniqueness, computed only when the cheap sample does not already rule it out.

    A null-free integer column that only ever increases (the usual id) is proven unique in a few
    milliseconds; hashing every value of a million-row column takes ~180 ms.
    """
    if pc.count_distinct(facts.sample).as_py() != len(facts.sample):
        return False
    if pa.types.is_integer(facts.type) and facts.null_count == 0 and facts.increasing():
        return True
    return facts.count_distinct() == facts.non_null


class SemanticType(StrEnum):
    """What `semantic_type` decides a column means; the stored columns keep the name, the schema shows this enum."""

    NUMERIC = "NUMERIC"
    CATEGORICAL = "CATEGORICAL"
    BOOLEAN = "BOOLEAN"
    DATETIME = "DATETIME"
    TEXT = "TEXT"
    IDENTIFIER = "IDENTIFIER"
    EMPTY = "EMPTY"


def semantic_type(name: str, column: pa.ChunkedArray | ColumnFacts) -> str:
    """NUMERIC, CATEGORICAL, BOOLEAN, DATETIME, TEXT, IDENTIFIER or EMPTY (sampled: it is a judgement, not a stat)."""
    facts = column if isinstance(column, ColumnFacts) else facts_of_column(column)
    arrow_type, non_null = facts.type, facts.non_null
    if non_null == 0 or pa.types.is_null(arrow_type):
        return "EMPTY"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "DATETIME"
    if pa.types.is_integer(arrow_type):
        bounds = facts.bounds
        if bounds is not None and bounds["min"] in (0, 1) and bounds["max"] in (0, 1):
            return "BOOLEAN"
        if non_null >= IDENTIFIER_MIN_ROWS and _ID_NAME.search(name) and _is_unique(facts):
            return "IDENTIFIER"
        return "NUMERIC"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "NUMERIC"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        sample = facts.sample
        mean_length = pc.mean(pc.utf8_length(sample)).as_py() or 0
        if (
            non_null >= IDENTIFIER_MIN_ROWS
            and mean_length < TEXT_MIN_MEAN_LENGTH
            and (not pc.any(pc.match_substring(sample, " ")).as_py() or _ID_NAME.search(name))
            and _is_unique(facts)
        ):
            return "IDENTIFIER"
        if mean_length >= TEXT_MIN_MEAN_LENGTH:
            return "TEXT"
        distinct = pc.count_distinct(sample).as_py()
        if distinct <= max(CATEGORICAL_MAX_LEVELS, 0.05 * len(sample)) or distinct / len(sample) < 0.5:
            return "CATEGORICAL"
        return "TEXT"
    return "TEXT"


def describe_columns(table: pa.Table) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "index": index,
            "semantic_type": semantic_type(name, table.column(index)),
            "dtype": physical_dtype(table.column(index).type),
            "null_count": table.column(index).null_count,
        }
        for index, name in enumerate(table.column_names)
    ]
