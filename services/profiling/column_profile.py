"""One column's profile: exact from its values in memory (numpy, pyarrow), or inside DuckDB when the column
does not fit its share of the budget (large_columns); and the row-order pass over the number and date columns.
profile.py assembles the table's profile from these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.profiling import columns as col_stats
from services.profiling import datetime_columns as moments
from services.profiling import statistics as table_stats
from services.profiling.large_columns import LargeColumn, approximation
from services.profiling.source import ProfiledSource

TYPE_INFERENCE_ROWS, MIXED_TYPES_ROWS = 50_000, 10_000
NUMERIC_LIKE = r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$"
BYTES_PER_NUMBER = 64  # a number column in memory: its float copy, sorted copy, deviations, steps...


def is_number(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type))


def is_moment(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type))


def is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def column_memory(arrow_type: pa.DataType, stored_bytes: int, rows: int) -> int:
    """What profiling one column in memory costs, from its decoded size and row count."""
    if is_number(arrow_type):
        return stored_bytes + rows * BYTES_PER_NUMBER
    if is_moment(arrow_type):
        return stored_bytes + rows * 40
    return 3 * stored_bytes + rows * 16  # a hash table of the levels beside the values


FLOAT_EXACT_INTEGERS = 2**53  # beyond it, not every integer has a float of its own


def profile_column(
    name: str,
    column: pa.ChunkedArray,
    meta: dict[str, Any],
    bins: int | None,
    hashes: Callable[[pa.ChunkedArray], np.ndarray] | None = None,
    *,
    encoded: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The column's profile, exact, from its values in memory; and what the alert rules need beyond it.
    `hashes` (value_hashes) makes free text's levels come from one sort of hashes instead of a hash table;
    `encoded`: a category column read as dictionary codes, whose levels are counted by code."""
    rows = len(column)
    semantic = meta["semantic_type"]
    arrow_type = column.type
    levels = None
    if encoded:
        arrow_type = arrow_type.value_type
        levels = col_stats.encoded_levels(column)
        if levels is None:  # no codes, or not first seen in dictionary order: the values themselves
            column = pc.cast(column, arrow_type)
    extra: dict[str, Any] = {
        "all_level_counts": None,
        "uniform_counts": None,
        "numeric_share": None,
        "exact_distinct": True,
    }
    numeric = is_number(arrow_type)
    if numeric:
        full = col_stats.float_column(column)
        missing = np.isnan(full)
        values = full[~missing] if missing.any() else full
        extra["floats"] = full  # every row, NaN for null: the correlation sample is gathered from it
        count = int(values.size)  # NaN counts as missing, as in pandas
        top, distinct, all_counts, ordered = col_stats.numeric_levels(values, count, pa.types.is_integer(arrow_type))
        level_counts: np.ndarray | None = all_counts if distinct <= len(top) else None
        if pa.types.is_integer(arrow_type) and count and max(-ordered[0], ordered[-1]) > FLOAT_EXACT_INTEGERS:
            # neighbours past 2**53 share a float: their levels are counted on the integers themselves
            top, distinct, level_counts = col_stats.top_values(column, count)
    else:
        count = rows - column.null_count
        integers = moments.moment_integers(column) if is_moment(arrow_type) else None
        unique = moments.unique_moment_levels(column, integers) if integers is not None else None
        many = semantic in ("TEXT", "IDENTIFIER") and is_text(arrow_type)  # free text: mostly distinct values
        top, distinct, level_counts = (
            unique
            if unique is not None
            else col_stats.top_values(column, count, hashes=hashes if many else None, levels=levels)
            if count
            else ([], 0, None)
        )
    profile = _column_profile(name, meta, rows, count, distinct, top, exact=True)
    if numeric:
        profile["numeric"] = col_stats.numeric_stats(values, ordered)
        profile["histogram"] = col_stats.histogram(ordered, bins, profile["numeric"].get("iqr"), is_sorted=True)
        finite = col_stats.finite_part(ordered)
        if finite.size and finite[-1] > finite[0]:
            extra["uniform_counts"] = col_stats.sorted_histogram(finite, 10, finite[0], finite[-1])[0].tolist()
    elif is_moment(arrow_type):
        assert integers is not None  # read above for every date or time column
        seconds = moments.moment_seconds(integers, arrow_type)
        profile["datetime"], profile["histogram"] = moments.datetime_stats(seconds, bins)
        extra["seconds"] = seconds
        steps = np.diff(seconds)  # the time-series hint's usual step (a sort), for a column in row order only
        if seconds.size >= 3 and (np.all(steps >= 0) or np.all(steps <= 0)):
            extra["usual_step"] = table_stats.usual_step(seconds)
    elif is_text(arrow_type):
        profile["text"] = col_stats.text_stats(column, levels)
        if count:
            extra["numeric_share"] = _numeric_share(
                pc.cast(pc.drop_null(column).slice(0, MIXED_TYPES_ROWS), arrow_type)
            )
    _level_counts(extra, semantic, count, distinct, level_counts)
    return profile, extra


def _column_profile(
    name: str, meta: dict[str, Any], rows: int, count: int, distinct: int, top: list[dict[str, Any]], *, exact: bool
) -> dict[str, Any]:
    nulls = rows - count
    unique = count > 0 and (distinct == count if exact else distinct >= count)
    return {
        "name": name,
        "semantic_type": meta["semantic_type"],
        "dtype": meta["dtype"],
        "count": count,
        "null_count": nulls,
        "null_ratio": nulls / rows if rows else 0.0,
        "distinct_count": distinct,
        "is_unique": unique,
        "top_values": top,
        "numeric": None,
        "datetime": None,
        "text": None,
        "histogram": None,
    }


def _level_counts(
    extra: dict[str, Any], semantic: str, count: int, distinct: int, level_counts: np.ndarray | None
) -> None:
    if semantic in ("CATEGORICAL", "BOOLEAN") and count and distinct <= 10_000 and level_counts is not None:
        extra["all_level_counts"] = level_counts.tolist()


def value_hashes(connection: duckdb.DuckDBPyConnection) -> Callable[[pa.ChunkedArray], np.ndarray]:
    """DuckDB's 64-bit hash of each value, in row order: a few times faster than Arrow's hash table builds its
    levels. Each call has its own cursor (the columns' threads share the connection); the row number travels
    with the hash because a parallel scan may return rows in any order."""

    def hashes(values: pa.ChunkedArray) -> np.ndarray:
        cursor = connection.cursor()
        try:
            cursor.register("hashed", pa.table({"i": np.arange(len(values), dtype=np.int64), "v": values}))
            found = cursor.execute("SELECT i, hash(v) AS h FROM hashed").fetchnumpy()
        finally:
            cursor.close()
        ordered = np.empty(len(values), dtype=np.uint64)
        ordered[found["i"]] = found["h"]
        return ordered

    return hashes


def _numeric_share(sample: pa.Array | pa.ChunkedArray) -> float:
    matching: int = pc.sum(pc.match_substring_regex(sample, NUMERIC_LIKE)).as_py()
    return matching / len(sample)


def profile_large_column(
    large: LargeColumn, source: ProfiledSource, meta: dict[str, Any], bins: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The column's profile from DuckDB queries: for a column too large for its share of the budget."""
    arrow_type = large.type
    if is_number(arrow_type):
        found, extra = large.number(bins)
    elif is_moment(arrow_type):
        found, extra = large.moment(bins)
    elif is_text(arrow_type):
        found, extra = large.text()
    else:
        found, extra = large.other()
    exact = not any(a["figure"] == "DISTINCT_COUNT" for a in large.approximations)
    profile = _column_profile(
        large.name, meta, source.rows, found["count"], found["distinct"], found["top"], exact=exact
    )
    for key in ("numeric", "datetime", "text", "histogram"):
        profile[key] = found.get(key, profile[key])
    extra = {"all_level_counts": None, "uniform_counts": None, "numeric_share": None, **extra, "exact_distinct": exact}
    counts = extra.get("all_level_counts")
    extra["all_level_counts"] = None
    _level_counts(extra, meta["semantic_type"], profile["count"], profile["distinct_count"], counts)
    if not exact:
        large.approximations.append(
            approximation(
                "IS_UNIQUE",
                large.name,
                "HYPERLOGLOG",
                rows=source.rows,
                error_bound=None,
                detail="unique when the estimated distinct count reaches the non-null count",
            )
        )
    if is_text(arrow_type) and profile["count"]:
        extra["numeric_share"] = _numeric_share(_first_values(source, large.name, MIXED_TYPES_ROWS))
    return profile, extra


def _first_values(source: ProfiledSource, name: str, limit: int) -> pa.Array:
    """The first `limit` non-null values in row order, reading only as many batches as needed."""
    kept: list[pa.Array] = []
    total = 0
    for batch in source.batches([name]):
        values = pc.drop_null(batch.column(0))
        kept.append(values)
        total += len(values)
        if total >= limit:
            break
    return pa.concat_arrays(kept).slice(0, limit) if kept else pa.array([], pa.string())


class RowOrder(TypedDict):
    """How a column's values move in row order: `up`/`down` while never falling/rising, `rise`/`fall` once seen."""

    last: Any  # the last value read (a float or datetime seconds), None before any
    up: bool
    down: bool
    rise: bool
    fall: bool
    values: int


def row_order(source: ProfiledSource, names: list[str]) -> dict[str, RowOrder]:
    """Monotonicity of number and date columns in row order, streamed batch by batch (nulls skipped)."""
    state: dict[str, RowOrder] = {
        name: {"last": None, "up": True, "down": True, "rise": False, "fall": False, "values": 0} for name in names
    }
    if not names:
        return state
    for batch in source.batches(names):
        for index, name in enumerate(names):
            entry = state[name]
            if not (entry["up"] or entry["down"]):
                continue
            column = batch.column(index)
            if is_moment(column.type):
                values = moments.datetime_seconds(pa.chunked_array([column]))
            else:
                values = col_stats.float_column(pa.chunked_array([column]))
                values = values[~np.isnan(values)]
            if values.size == 0:
                continue
            steps = np.diff(values if entry["last"] is None else np.r_[entry["last"], values])
            entry["up"] &= bool(np.all(steps >= 0))
            entry["down"] &= bool(np.all(steps <= 0))
            entry["rise"] |= bool(np.any(steps > 0))
            entry["fall"] |= bool(np.any(steps < 0))
            entry["last"], entry["values"] = values[-1], entry["values"] + values.size
    return state
