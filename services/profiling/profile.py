"""A dataset's profile, within the job's memory budget.

Each column is profiled on its own: read into memory and described exactly with numpy and pyarrow when
that column fits its share of the budget, otherwise inside DuckDB (large_columns), where counts and
moments stay exact and quantiles and distinct counts become approximate. Table-wide figures run in
DuckDB over the whole table (duplicates, missing-value patterns: exact, spilling) or on a bounded seeded
sample (correlations). Every approximation is listed in `sampling.approximations`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services import dataplane
from services.profiling import alerts as alert_rules
from services.profiling import columns as col_stats
from services.profiling import statistics as table_stats
from services.profiling.column_profile import (
    MIXED_TYPES_ROWS,
    TYPE_INFERENCE_ROWS,
    column_memory,
    is_moment,
    is_number,
    profile_column,
    profile_large_column,
    row_order,
    value_hashes,
)
from services.profiling.correlation_sample import (
    MAX_CORRELATION_COLUMNS,
    correlation_columns,
    correlation_rows,
    sampled_figures,
)
from services.profiling.large_columns import LargeColumn, approximation, ident
from services.profiling.source import ArrowSource, ParquetSource, ProfiledSource

THREADS = min(2, os.cpu_count() or 1)
COLUMN_SHARE = 0.5  # of the budget, for the columns held in memory at once (one per thread)
MISSING_MATRIX_ROWS = 500  # rows drawn in the missing-values plot
MB = 1024 * 1024
WHOLE_TABLE_COPIES = 4  # decoded table + what profiling a column builds beside it, with room to spare


@dataclass(frozen=True)
class ProfileSettings:
    """What a profile is computed with, handed from the entry points below to profile_source."""

    bins: int | None  # histogram bins; None: chosen per column
    memory_mb: int  # the job's memory budget
    scratch_dir: Path | None  # where the engine spills
    checkpoint: Callable[[], None]  # raises when the job is cancelled


def profile_source(
    source: ProfiledSource,
    column_meta: list[dict[str, Any]],
    settings: ProfileSettings,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """`connection`: the engine, when the caller started it already (it is closed here)."""
    started = time.perf_counter()
    meta_by_name = {meta["name"]: meta for meta in column_meta}
    names, rows = source.names, source.rows
    if connection is None:
        connection = dataplane.connect(memory_mb=settings.memory_mb, scratch_dir=settings.scratch_dir)
    spill = dataplane.SpillWatch(settings.scratch_dir).__enter__()
    try:
        source.attach(connection)
        engine_bytes = dataplane.engine_memory_mb(settings.memory_mb) * MB
        per_column = settings.memory_mb * MB * COLUMN_SHARE / THREADS
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
                    if meta_by_name[name]["semantic_type"] == "NUMERIC" and is_number(source.schema.field(name).type)
                ][:MAX_CORRELATION_COLUMNS]
            )

            def in_memory_column(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
                column = source.column(name)
                encoded = name in source.encoded
                profile, extra = profile_column(
                    name, column, meta_by_name[name], settings.bins, hashes, encoded=encoded
                )
                floats = extra.pop("floats", None)
                categorical = meta_by_name[name]["semantic_type"] in ("CATEGORICAL", "BOOLEAN")
                if picks is not None and floats is not None and not categorical:
                    # a gather from the floats already made: what the correlations read, at a tenth of Arrow's take
                    extra["sample"] = pa.array(floats[picks])
                elif is_number(column.type) or categorical:
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
                settings.checkpoint()
                large = LargeColumn(connection, name, source.schema.field(name).type, rows, engine_bytes)
                results[name] = profile_large_column(large, source, meta_by_name[name], settings.bins)
                approximations += large.approximations
            ordered = [
                name
                for name in large_names
                if is_number(source.schema.field(name).type) or is_moment(source.schema.field(name).type)
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
            settings.checkpoint()
            column_profiles = [results[name][0] for name in names]
            extras = {name: results[name][1] for name in names}
            # A column without nulls whose values are all distinct means no two rows can be equal: skip hashing.
            has_key = any(
                p["is_unique"] and p["null_count"] == 0 and extras[p["name"]]["exact_distinct"] for p in column_profiles
            )
            numeric_names, categorical_names, sample = correlation_columns(
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
        raise dataplane.over_budget(settings.memory_mb, "Profiling this dataset", exc) from exc
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
    approximations += sampled_figures(rows, sampled, numeric_names, categorical_names, column_profiles)
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
            "memory_mb": settings.memory_mb,
            "spilled_bytes": spill.peak_bytes,
            "in_memory_columns": [name for name in names if fits[name]],
            "approximations": approximations,
        },
        "generated_at": datetime.now(UTC).isoformat(),
        "duration_ms": (time.perf_counter() - started) * 1000,
    }


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
    return profile_source(source, column_meta, ProfileSettings(bins, memory_mb, scratch_dir, checkpoint), connection)


def profile_table(
    table: pa.Table, column_meta: list[dict[str, Any]], *, bins: int | None = None, memory_mb: int = 2048
) -> dict[str, Any]:
    """Profile an Arrow table a caller already holds in memory (DuckDB scans it without copying)."""
    with tempfile.TemporaryDirectory(prefix="assay-profile-") as scratch:
        settings = ProfileSettings(bins, memory_mb, Path(scratch), checkpoint=lambda: None)
        return profile_source(ArrowSource(table), column_meta, settings)
