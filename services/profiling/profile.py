"""A dataset's profile, within the job's memory budget.

Each column is profiled on its own: read into memory and described exactly with numpy and pyarrow when
that column fits its share of the budget, otherwise inside DuckDB (large_columns), where counts and
moments stay exact and quantiles and distinct counts become approximate. Table-wide figures run in
DuckDB over the whole table (duplicates, missing-value patterns: exact, spilling) or on a bounded seeded
sample (correlations). Every approximation is listed in `sampling.approximations`.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services import dataplane
from services.profiling import alerts as alert_rules
from services.profiling import columns as col_stats
from services.profiling import statistics as table_stats
from services.profiling.large_columns import LargeColumn, approximation, ident
from services.profiling.source import ArrowSource, ParquetSource, ProfiledSource

THREADS = min(2, os.cpu_count() or 1)
NUMERIC_LIKE = r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$"
COLUMN_SHARE = 0.5  # of the budget, for the columns held in memory at once (one per thread)
BYTES_PER_NUMBER = 64  # a number column in memory: its float copy, sorted copy, deviations, steps...
MISSING_MATRIX_ROWS = 500  # rows drawn in the missing-values plot
TYPE_INFERENCE_ROWS, MIXED_TYPES_ROWS = 50_000, 10_000
MB = 1024 * 1024


def _is_number(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type))


def _is_moment(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type))


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def column_memory(arrow_type: pa.DataType, stored_bytes: int, rows: int) -> int:
    """What profiling one column in memory costs, from its decoded size and row count."""
    if _is_number(arrow_type):
        return stored_bytes + rows * BYTES_PER_NUMBER
    if _is_moment(arrow_type):
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
    is_number = _is_number(arrow_type)
    if is_number:
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
        integers = col_stats.moment_integers(column) if _is_moment(arrow_type) else None
        unique = col_stats.unique_moment_levels(column, integers) if integers is not None else None
        many = semantic in ("TEXT", "IDENTIFIER") and _is_text(arrow_type)  # free text: mostly distinct values
        top, distinct, level_counts = (
            unique
            if unique is not None
            else col_stats.top_values(column, count, hashes=hashes if many else None, levels=levels)
            if count
            else ([], 0, None)
        )
    profile = _column_profile(name, meta, rows, count, distinct, top, exact=True)
    if is_number:
        profile["numeric"] = col_stats.numeric_stats(values, ordered)
        profile["histogram"] = col_stats.histogram(ordered, bins, profile["numeric"].get("iqr"), is_sorted=True)
        finite = col_stats.finite_part(ordered)
        if finite.size and finite[-1] > finite[0]:
            extra["uniform_counts"] = col_stats.sorted_histogram(finite, 10, finite[0], finite[-1])[0].tolist()
    elif _is_moment(arrow_type):
        assert integers is not None  # read above for every date or time column
        seconds = col_stats.moment_seconds(integers, arrow_type)
        profile["datetime"], profile["histogram"] = col_stats.datetime_stats(seconds, bins)
        extra["seconds"] = seconds
        steps = np.diff(seconds)  # the time-series hint's usual step (a sort), for a column in row order only
        if seconds.size >= 3 and (np.all(steps >= 0) or np.all(steps <= 0)):
            extra["usual_step"] = table_stats.usual_step(seconds)
    elif _is_text(arrow_type):
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
    if _is_number(arrow_type):
        found, extra = large.number(bins)
    elif _is_moment(arrow_type):
        found, extra = large.moment(bins)
    elif _is_text(arrow_type):
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
    if _is_text(arrow_type) and profile["count"]:
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
            if _is_moment(column.type):
                values = col_stats.datetime_seconds(pa.chunked_array([column]))
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


def profile_source(
    source: ProfiledSource,
    column_meta: list[dict[str, Any]],
    *,
    bins: int | None = None,
    memory_mb: int = 2048,
    scratch_dir: Path | None = None,
    checkpoint: Callable[[], None] = lambda: None,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """`connection`: the engine, when the caller started it already (it is closed here)."""
    started = time.perf_counter()
    meta_by_name = {meta["name"]: meta for meta in column_meta}
    names, rows = source.names, source.rows
    if connection is None:
        connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    spill = dataplane.SpillWatch(scratch_dir).__enter__()
    try:
        source.attach(connection)
        engine_bytes = dataplane.engine_memory_mb(memory_mb) * MB
        per_column = memory_mb * MB * COLUMN_SHARE / THREADS
        fits = {
            name: column_memory(source.schema.field(name).type, source.column_bytes(name), rows) <= per_column
            for name in names
        }
        approximations: list[dict[str, Any]] = []
        results: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        with ThreadPoolExecutor(max_workers=THREADS) as pool:  # numpy and pyarrow release the GIL
            picks = correlation_rows(rows)
            hashes = value_hashes(connection)
            ranked = set(  # the first number columns the correlations may cover: ranked while in memory
                [
                    name
                    for name in names
                    if meta_by_name[name]["semantic_type"] == "NUMERIC" and _is_number(source.schema.field(name).type)
                ][:MAX_CORRELATION_COLUMNS]
            )

            def in_memory_column(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
                column = source.column(name)
                encoded = name in source.encoded
                profile, extra = profile_column(name, column, meta_by_name[name], bins, hashes, encoded=encoded)
                floats = extra.pop("floats", None)
                categorical = meta_by_name[name]["semantic_type"] in ("CATEGORICAL", "BOOLEAN")
                if picks is not None and floats is not None and not categorical:
                    # a gather from the floats already made: what the correlations read, at a tenth of Arrow's take
                    extra["sample"] = pa.array(floats[picks])
                elif _is_number(column.type) or categorical:
                    extra["sample"] = column if picks is None else column.take(picks)  # while it is in memory
                    if encoded:  # the correlations read the values, as from a column read as values
                        extra["sample"] = pc.cast(extra["sample"], column.type.value_type)
                if name in ranked and floats is not None and profile["count"] > 1:  # Spearman's, off the tail
                    extra["ranks"] = table_stats.average_ranks(floats if picks is None else floats[picks])
                return profile, extra

            # The costliest columns first, so that neither thread is left with a long one at the end.
            cost = {
                name: column_memory(source.schema.field(name).type, source.column_bytes(name), rows) for name in names
            }
            in_memory = {
                name: pool.submit(in_memory_column, name)
                for name in sorted((name for name in names if fits[name]), key=lambda name: -cost[name])
            }
            # The columns held in memory finish before DuckDB starts on the large ones: their shares of the
            # budget (COLUMN_SHARE, ENGINE_SHARE) are each most of it, so together they would overrun it.
            # On two cores running both at once gained little time.
            for name, future in in_memory.items():
                results[name] = future.result()
            large_names = [name for name in names if not fits[name]]
            for name in large_names:  # DuckDB runs its own threads; one query at a time keeps it in its budget
                checkpoint()
                large = LargeColumn(connection, name, source.schema.field(name).type, rows, engine_bytes)
                results[name] = profile_large_column(large, source, meta_by_name[name], bins)
                approximations += large.approximations
            ordered = [
                name
                for name in large_names
                if _is_number(source.schema.field(name).type) or _is_moment(source.schema.field(name).type)
            ]
            for name, entry in row_order(source, ordered).items():
                results[name][1]["row_order"] = entry
                numeric = results[name][0]["numeric"]
                if numeric is not None and entry["values"] > 1:
                    numeric["monotonic"] = (
                        "increasing"
                        if entry["up"] and entry["rise"]
                        else "decreasing"
                        if entry["down"] and entry["fall"]
                        else None
                    )
            checkpoint()
            column_profiles = [results[name][0] for name in names]
            extras = {name: results[name][1] for name in names}
            # A column without nulls whose values are all distinct means no two rows can be equal: skip hashing.
            has_key = any(
                p["is_unique"] and p["null_count"] == 0 and extras[p["name"]]["exact_distinct"] for p in column_profiles
            )
            numeric_names, categorical_names, sample = _correlation_columns(
                source, column_profiles, extras, picks, approximations
            )
            numbers = {name: col_stats.float_column(sample.column(name)) for name in numeric_names}
            # Kendall (the longest) and Cramér's V on the pool while Pearson and Spearman run here; with the table
            # in memory, the engine's table-wide figures beside them too (a table read from disk keeps the engine
            # to itself: its queries over the whole file are the memory peak).
            kendall = pool.submit(table_stats.kendall_matrix, numbers) if len(numbers) > 1 else None
            cramers = (
                pool.submit(
                    table_stats.categorical_correlations, {name: sample.column(name) for name in categorical_names}
                )
                if len(categorical_names) > 1
                else None
            )
            beside = (
                pool.submit(_engine_figures, source, connection, has_key) if isinstance(source, ArrowSource) else None
            )
            correlations = table_stats.numeric_correlations(
                numbers,
                ranks={name: extras[name]["ranks"] for name in numeric_names if "ranks" in extras[name]},
                kendall=kendall,
            )
            if cramers is not None:
                correlations["CRAMERS_V"] = cramers.result()
            sampled = rows if picks is None else len(picks)
            (duplicates, exact_duplicates), patterns, step, with_nulls, matrix = (
                beside.result() if beside is not None else _engine_figures(source, connection, has_key)
            )
            if not exact_duplicates:
                approximations.append(
                    approximation(
                        "DUPLICATE_ROWS",
                        None,
                        "ROW_HASH",
                        rows=rows,
                        detail="rows counted by their 64-bit hash: comparing rows that share one did not fit the "
                        "engine's memory (two different rows sharing a hash is about rows²/2⁶⁵ likely)",
                    )
                )
    except duckdb.OutOfMemoryException as exc:
        raise dataplane.over_budget(memory_mb, "Profiling this dataset", exc) from exc
    finally:
        connection.close()
        spill.__exit__()
    missing_cells = sum(p["null_count"] for p in column_profiles)
    cells = rows * len(names)
    alerts = [
        alert
        for p in column_profiles
        for alert in alert_rules.column_alerts(
            p,
            all_level_counts=extras[p["name"]]["all_level_counts"],
            uniform_counts=extras[p["name"]]["uniform_counts"],
            numeric_share=extras[p["name"]]["numeric_share"],
        )
    ]
    alerts += alert_rules.table_alerts(
        duplicate_rows=duplicates,
        row_count=max(1, rows),
        correlations=correlations,
        numeric_columns=numeric_names,
        categorical_columns=categorical_names,
    )
    approximations += _sampled_figures(rows, sampled, numeric_names, categorical_names, column_profiles)
    return {
        "row_count": rows,
        "column_count": len(names),
        "missing_cells": missing_cells,
        "missing_cells_ratio": missing_cells / cells if cells else 0.0,
        "duplicate_rows": duplicates,
        "memory_bytes": source.memory_bytes,
        "columns": column_profiles,
        "correlations": {
            "columns": {
                "PEARSON": numeric_names,
                "SPEARMAN": numeric_names,
                "KENDALL": numeric_names,
                "CRAMERS_V": categorical_names,
            },
            "values": correlations,
        },
        "missing_patterns": patterns,
        "alerts": alerts,
        "missing_matrix": {
            "step": step,
            "columns": with_nulls,
            "rows": ["".join("1" if flag else "0" for flag in row) for row in matrix],
        },
        "time_series": _time_series(column_profiles, extras),
        "sampling": {
            "kendall_rows": min(sampled, table_stats.KENDALL_SAMPLE_ROWS),
            "spearman_pairwise_reranked": sampled <= table_stats.SPEARMAN_EXACT_ROWS,
            "type_inference_rows": TYPE_INFERENCE_ROWS,
            "mixed_types_rows": MIXED_TYPES_ROWS,
            "correlation_rows": sampled,
            "memory_mb": memory_mb,
            "spilled_bytes": spill.peak_bytes,
            "in_memory_columns": [name for name in names if fits[name]],
            "approximations": approximations,
        },
        "generated_at": datetime.now(UTC).isoformat(),
        "duration_ms": (time.perf_counter() - started) * 1000,
    }


def _correlation_columns(
    source: ProfiledSource,
    column_profiles: list[dict[str, Any]],
    extras: dict[str, dict[str, Any]],
    picks: np.ndarray | None,
    approximations: list[dict[str, Any]],
) -> tuple[list[str], list[str], pa.Table]:
    """The numeric and categorical columns the correlations cover, and their sampled rows."""
    rows = source.rows
    numeric_names = [
        p["name"]
        for p in column_profiles
        if p["semantic_type"] == "NUMERIC" and p["numeric"] is not None and p["count"] > 1
    ]
    categorical_names = [
        p["name"]
        for p in column_profiles
        if p["semantic_type"] in ("CATEGORICAL", "BOOLEAN")
        and 1 < p["distinct_count"] <= table_stats.CRAMERS_MAX_LEVELS
    ]
    # A wide table (10,000 sensor or gene columns) would need 10,000 x 10,000 matrices per method:
    # correlations cover the first columns of each kind, saying so.
    if len(numeric_names) > MAX_CORRELATION_COLUMNS or len(categorical_names) > MAX_CORRELATION_COLUMNS:
        approximations.append(
            approximation(
                "CORRELATIONS",
                None,
                "COLUMN_SUBSET",
                rows=rows,
                detail=f"correlations cover the first {MAX_CORRELATION_COLUMNS} numeric (of "
                f"{len(numeric_names):,}) "
                f"and categorical (of {len(categorical_names):,}) columns in table order",
            )
        )
        numeric_names = numeric_names[:MAX_CORRELATION_COLUMNS]
        categorical_names = categorical_names[:MAX_CORRELATION_COLUMNS]
    return (
        numeric_names,
        categorical_names,
        _correlation_sample(source, extras, numeric_names + categorical_names, picks),
    )


def _engine_figures(
    source: ProfiledSource, connection: duckdb.DuckDBPyConnection, has_key: bool
) -> tuple[tuple[int, bool], list[dict[str, Any]], int, list[str], list[list[bool]]]:
    """Duplicate rows (and whether counted exactly), missing-value patterns and the missing-values matrix, from
    the engine, on a cursor of its own (so that it may run on the profile's pool, beside the correlations)."""
    names, rows = source.names, source.rows
    cursor = connection.cursor()
    try:
        source.attach(cursor)  # (a table registered on a connection is not seen by its cursors)
        duplicates = (0, True) if has_key else table_stats.duplicate_rows(cursor, names, rows)
        nulls = source.null_counts() or _null_counts(cursor, names)
        with_nulls = [name for name in names if nulls[name] > 0]
        patterns = table_stats.missing_patterns(cursor, with_nulls, rows)
        step = max(1, rows // MISSING_MATRIX_ROWS)
        matrix = source.rows_every(cursor, with_nulls, step) if rows else []
    finally:
        cursor.close()
    return duplicates, patterns, step, with_nulls, matrix


def _null_counts(connection: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, int]:
    found = connection.execute(
        "SELECT " + ", ".join(f"count(*) - count({ident(name)})" for name in names) + " FROM profiled"
    ).fetchall()[0]
    return dict(zip(names, found, strict=True))


WHOLE_TABLE_COPIES = 4  # decoded table + what profiling a column builds beside it, with room to spare
MAX_CORRELATION_COLUMNS = 100  # per kind (numeric, categorical); beyond, the first ones, stated


def correlation_rows(rows: int, seed: int = 42) -> np.ndarray | None:
    """The rows correlations are computed on: all (None) up to CORRELATION_SAMPLE_ROWS, else that many, seeded."""
    limit = table_stats.CORRELATION_SAMPLE_ROWS
    if rows <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))


def _correlation_sample(
    source: ProfiledSource, extras: dict[str, dict[str, Any]], names: list[str], picks: np.ndarray | None
) -> pa.Table:
    """The sampled rows of `names`: taken while each in-memory column was read, streamed for the others."""
    streamed = [name for name in names if "sample" not in extras[name]]
    columns = {name: extras[name]["sample"] for name in names if name not in streamed}
    if streamed:
        if picks is None:
            columns |= {name: source.read(streamed).column(name) for name in streamed}
        else:
            taken: list[pa.Table] = []
            start = 0
            for batch in source.batches(streamed):  # only the sampled rows of each batch are kept
                end = start + batch.num_rows
                inside = picks[(picks >= start) & (picks < end)] - start
                taken.append(pa.Table.from_batches([batch]).take(pa.array(inside)))
                start = end
            table = pa.concat_tables(taken)
            columns |= {name: table.column(name) for name in streamed}
    return pa.table({name: columns[name] for name in names}) if names else pa.table({})


def _sampled_figures(
    rows: int,
    sample_rows: int,
    numeric_names: list[str],
    categorical_names: list[str],
    column_profiles: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    found = []
    if sample_rows < rows and (len(numeric_names) > 1 or len(categorical_names) > 1):
        found.append(
            approximation(
                "CORRELATIONS",
                None,
                "SAMPLE",
                rows=rows,
                sample_rows=sample_rows,
                error_bound=1.96 / math.sqrt(sample_rows),
                detail="Pearson, Spearman and Cramér's V on a seeded uniform sample of rows; the bound is the 95% "
                "interval of a correlation near 0",
            )
        )
    kendall = min(sample_rows, table_stats.KENDALL_SAMPLE_ROWS)
    if kendall < rows and len(numeric_names) > 1:
        found.append(
            approximation(
                "KENDALL",
                None,
                "SAMPLE",
                rows=rows,
                sample_rows=kendall,
                error_bound=1.96 * math.sqrt(2 * (2 * kendall + 5) / (9 * kendall * (kendall - 1))),
                detail="Kendall's tau-b on a seeded sample; the bound is the 95% interval of a tau near 0",
            )
        )
    if rows > TYPE_INFERENCE_ROWS:
        found.append(
            approximation(
                "SEMANTIC_TYPES",
                None,
                "SAMPLE",
                rows=rows,
                sample_rows=TYPE_INFERENCE_ROWS,
                detail="column types were inferred at ingest from the first rows",
            )
        )
    found.extend(
        approximation(
            "MIXED_TYPES",
            profile["name"],
            "SAMPLE",
            rows=rows,
            sample_rows=MIXED_TYPES_ROWS,
            detail="the share of numeric-looking values is taken from the first values",
        )
        for profile in column_profiles
        if profile["text"] is not None and profile["count"] > MIXED_TYPES_ROWS
    )
    return found


def _time_series(column_profiles: list[dict[str, Any]], extras: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    for profile in column_profiles:
        extra = extras[profile["name"]]
        seconds = extra.get("seconds")
        if seconds is not None:
            if seconds.size < 3:
                continue
            if "usual_step" not in extra:  # not in row order: no hint
                continue
            hint = table_stats.time_series_hint(
                profile["name"], seconds, profile["datetime"]["inferred_frequency"], extra["usual_step"]
            )
        elif "gaps" in extra and extra["row_order"]["values"] >= 3:
            order = extra["row_order"]
            hint = (
                {
                    "column": profile["name"],
                    "frequency": profile["datetime"]["inferred_frequency"],
                    "monotonic": True,
                    "gaps": extra["gaps"],
                }
                if order["up"] or order["down"]
                else None
            )
        else:
            continue
        if hint:
            return hint
    return None


def profile_parquet(
    path: Path,
    column_meta: list[dict[str, Any]],
    *,
    bins: int | None = None,
    memory_mb: int = 2048,
    scratch_dir: Path | None = None,
    checkpoint: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Profile a Parquet file within `memory_mb`, spilling to `scratch_dir`."""
    source: ProfiledSource = ParquetSource(path)
    connection = None
    if source.memory_bytes * WHOLE_TABLE_COPIES <= memory_mb * MB * COLUMN_SHARE:
        # Known to fit: one read, not one per column. Reading a column re-parses the file's footer, whose
        # size grows with the column count, so a 10,000-column file read column by column took minutes.
        # Categories are read as dictionary codes: decoding a million strings, then hashing them back into
        # a few levels, cost four times counting the codes.
        semantic = {meta["name"]: meta["semantic_type"] for meta in column_meta}
        encoded = [
            field.name
            for field in source.schema
            if pa.types.is_string(field.type) and semantic.get(field.name) in ("CATEGORICAL", "BOOLEAN")
        ]
        with ThreadPoolExecutor(max_workers=1) as reader:  # the engine starts while the file is read
            table = reader.submit(pq.read_table, path, read_dictionary=encoded)
            connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
            try:
                source = ArrowSource(table.result(), memory_bytes=source.memory_bytes, encoded=encoded)
            except BaseException:
                connection.close()
                raise
    return profile_source(
        source,
        column_meta,
        bins=bins,
        memory_mb=memory_mb,
        scratch_dir=scratch_dir,
        checkpoint=checkpoint,
        connection=connection,
    )


def profile_table(
    table: pa.Table, column_meta: list[dict[str, Any]], *, bins: int | None = None, memory_mb: int = 2048
) -> dict[str, Any]:
    """Profile an Arrow table a caller already holds in memory (DuckDB scans it without copying)."""
    with tempfile.TemporaryDirectory(prefix="assay-profile-") as scratch:
        return profile_source(
            ArrowSource(table), column_meta, bins=bins, memory_mb=memory_mb, scratch_dir=Path(scratch)
        )
