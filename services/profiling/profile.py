"""A dataset's profile: a pure function of its Arrow table and column types."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.profiling import alerts as alert_rules
from services.profiling import columns as col_stats
from services.profiling import statistics as table_stats

THREADS = min(4, os.cpu_count() or 1)
NUMERIC_LIKE = r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$"


def profile_column(name: str, column: pa.ChunkedArray, meta: dict[str, Any], bins: int | None
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The column's profile, and what the alert rules need beyond it."""
    rows = len(column)
    semantic = meta["semantic_type"]
    arrow_type = column.type
    extra: dict[str, Any] = {"all_level_counts": None, "uniform_counts": None, "numeric_share": None, "ranks": None}
    is_number = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    if is_number:
        full = col_stats.float_column(column)
        present = ~np.isnan(full)
        values = full[present]
        count = int(values.size)  # NaN counts as missing, as in pandas
        top, distinct, ranks, ordered = col_stats.numeric_levels(values, count, pa.types.is_integer(arrow_type))
        extra["ranks"] = np.full(rows, np.nan)
        extra["ranks"][present] = ranks
        extra["float"] = full
        level_counts = None
    else:
        count = rows - column.null_count
        top, distinct, level_counts = col_stats.top_values(column, count) if count else ([], 0, None)
    nulls = rows - count
    profile: dict[str, Any] = {
        "name": name, "semantic_type": semantic, "dtype": meta["dtype"], "count": count, "null_count": nulls,
        "null_ratio": nulls / rows if rows else 0.0, "distinct_count": distinct,
        "is_unique": count > 0 and distinct == count, "top_values": top,
        "numeric": None, "datetime": None, "text": None, "histogram": None}
    if is_number:
        profile["numeric"] = col_stats.numeric_stats(values, ordered)
        profile["histogram"] = col_stats.histogram(values, bins, profile["numeric"].get("iqr"))
        finite = values[np.isfinite(values)]
        if finite.size and finite.max() > finite.min():
            extra["uniform_counts"] = np.histogram(finite, bins=10)[0].tolist()
    elif pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        seconds = col_stats.datetime_seconds(column)
        profile["datetime"], profile["histogram"] = col_stats.datetime_stats(seconds, bins)
        extra["seconds"] = seconds
    elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        profile["text"] = col_stats.text_stats(column)
        if count:
            sample = pc.drop_null(column).slice(0, 10_000)
            extra["numeric_share"] = pc.sum(pc.match_substring_regex(sample, NUMERIC_LIKE)).as_py() / len(sample)
    if semantic in ("CATEGORICAL", "BOOLEAN") and count and distinct <= 10_000:
        extra["all_level_counts"] = (level_counts.tolist() if level_counts is not None
                                     else [t["count"] for t in top] if distinct <= len(top) else None)
    return profile, extra


def profile_table(table: pa.Table, column_meta: list[dict[str, Any]], *, bins: int | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    meta_by_name = {meta["name"]: meta for meta in column_meta}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:  # numpy and pyarrow release the GIL
        results = list(pool.map(lambda name: profile_column(name, table.column(name), meta_by_name[name], bins),
                                table.column_names))
        column_profiles = [profile for profile, _ in results]
        extras = {profile["name"]: extra for profile, extra in results}
        # A column without nulls whose values are all distinct means no two rows can be equal: skip hashing.
        has_key = any(p["is_unique"] and p["null_count"] == 0 for p in column_profiles)
        duplicates_future = pool.submit(lambda: 0 if has_key else table_stats.duplicate_rows(table))
        numeric_names = [p["name"] for p in column_profiles
                         if p["semantic_type"] == "NUMERIC" and p["numeric"] is not None and p["count"] > 1]
        categorical_names = [p["name"] for p in column_profiles if p["semantic_type"] in ("CATEGORICAL", "BOOLEAN")
                             and 1 < p["distinct_count"] <= table_stats.CRAMERS_MAX_LEVELS]
        cramers = pool.submit(table_stats.categorical_correlations,
                              {name: table.column(name) for name in categorical_names})
        correlations = table_stats.numeric_correlations(
            {name: extras[name]["float"] for name in numeric_names},
            {name: extras[name]["ranks"] for name in numeric_names}) if len(numeric_names) > 1 else {}
        if len(categorical_names) > 1:
            correlations["CRAMERS_V"] = cramers.result()
        duplicates = duplicates_future.result()
    missing_cells = sum(p["null_count"] for p in column_profiles)
    cells = table.num_rows * table.num_columns
    alerts = [alert for p in column_profiles for alert in alert_rules.column_alerts(
        p, all_level_counts=extras[p["name"]]["all_level_counts"], uniform_counts=extras[p["name"]]["uniform_counts"],
        numeric_share=extras[p["name"]]["numeric_share"])]
    alerts += alert_rules.table_alerts(duplicate_rows=duplicates, row_count=max(1, table.num_rows),
                                       correlations=correlations, numeric_columns=numeric_names,
                                       categorical_columns=categorical_names)
    return {
        "row_count": table.num_rows, "column_count": table.num_columns, "missing_cells": missing_cells,
        "missing_cells_ratio": missing_cells / cells if cells else 0.0, "duplicate_rows": duplicates,
        "memory_bytes": table.nbytes, "columns": column_profiles,
        "correlations": {"columns": {"PEARSON": numeric_names, "SPEARMAN": numeric_names, "KENDALL": numeric_names,
                                     "CRAMERS_V": categorical_names}, "values": correlations},
        "missing_patterns": table_stats.missing_patterns(table), "alerts": alerts,
        "time_series": _time_series(column_profiles, extras),
        "sampling": {"kendall_rows": min(table.num_rows, table_stats.KENDALL_SAMPLE_ROWS),
                     "spearman_pairwise_reranked": table.num_rows <= table_stats.SPEARMAN_EXACT_ROWS,
                     "type_inference_rows": 50_000, "mixed_types_rows": 10_000},
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "duration_ms": (time.perf_counter() - started) * 1000}


def _time_series(column_profiles: list[dict], extras: dict[str, dict]) -> dict | None:
    for profile in column_profiles:
        seconds = extras[profile["name"]].get("seconds")
        if seconds is None or seconds.size < 3:
            continue
        hint = table_stats.time_series_hint(profile["name"], seconds, profile["datetime"]["inferred_frequency"],
                                            table_stats.usual_step(seconds))
        if hint:
            return hint
    return None
