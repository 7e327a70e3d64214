"""What the table-wide correlations read: which columns (at most MAX_CORRELATION_COLUMNS of each kind) and
which rows (a seeded sample past CORRELATION_SAMPLE_ROWS), and the approximations sampling makes, stated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from services.profiling import statistics as table_stats
from services.profiling.column_profile import MIXED_TYPES_ROWS, TYPE_INFERENCE_ROWS
from services.profiling.large_columns import approximation
from services.profiling.source import ProfiledSource

MAX_CORRELATION_COLUMNS = 100  # per kind (numeric, categorical); beyond, the first ones, stated


def correlation_rows(rows: int, seed: int = 42) -> np.ndarray | None:
    """The rows correlations are computed on: all (None) up to CORRELATION_SAMPLE_ROWS, else that many, seeded."""
    limit = table_stats.CORRELATION_SAMPLE_ROWS
    if rows <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))


def correlation_columns(
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


def sampled_figures(
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
