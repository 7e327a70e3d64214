"""Table-wide statistics: duplicates, correlations, missing-value patterns, time-series hints."""

from __future__ import annotations

import math
from concurrent.futures import Future
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats as scipy_stats

from services.profiling.large_columns import ident, on_fewer_threads

KENDALL_SAMPLE_ROWS = 5_000
CORRELATION_SAMPLE_ROWS = 100_000  # correlations (and Cramér's V) above this many rows use a seeded sample
SPEARMAN_EXACT_ROWS = 50_000  # above this, pairs with missing values reuse each column's own ranks
CRAMERS_MAX_LEVELS = 200


def duplicate_rows(connection: duckdb.DuckDBPyConnection, names: list[str], rows: int) -> tuple[int, bool]:
    """Rows equal to an earlier row (NaN equals NaN and null equals null, as in DISTINCT), and whether exact.

    The rows are grouped by DuckDB's 64-bit hash of the whole row, a spilling hash aggregation of 8-byte keys:
    a DISTINCT over the rows themselves held each distinct row (two text columns and eighteen others: ~1.3 GB
    beyond the engine's share at 20M rows). Rows whose hash is shared are then compared whole (a DISTINCT over
    those rows only), so a hash collision never counts two different rows as duplicates. Each step that runs
    out of memory is tried again on one thread (half the scan buffers and hash tables); when the whole-row
    comparison still does not fit, the count by hash is returned as not exact (a collision of two different
    rows is ~n²/2⁶⁵ likely: 1 in 10⁷ at 1M rows)."""
    if rows < 2 or not names:
        return 0, True
    row_hash = "hash(" + ", ".join(ident(name) for name in names) + ")"
    # The hashes are stored first (8 bytes a row, spillable): aggregating them in the same pipeline as the scan
    # of 20 columns ran out of DuckDB's 64 MB (1M x 20, a 100 MB budget) where each step alone fits.
    try:
        on_fewer_threads(connection, f"CREATE OR REPLACE TEMP TABLE row_hashes AS SELECT {row_hash} AS h FROM profiled")
        on_fewer_threads(
            connection,
            "CREATE OR REPLACE TEMP TABLE shared_hashes AS SELECT h, count(*) AS n FROM row_hashes GROUP BY h "
            "HAVING count(*) > 1",
        )
        connection.execute("DROP TABLE row_hashes")
        shared, in_shared = connection.execute("SELECT count(*), coalesce(sum(n), 0) FROM shared_hashes").fetchall()[0]
        if not shared:
            return 0, True
        columns = ", ".join(ident(name) for name in names)
        try:
            among_shared = on_fewer_threads(
                connection,
                f"SELECT count(*) FROM (SELECT DISTINCT {columns} FROM profiled "
                f"WHERE {row_hash} IN (SELECT h FROM shared_hashes))",
            )[0][0]
        except duckdb.OutOfMemoryException:
            return int(in_shared - shared), False
        return int(in_shared - among_shared), True
    finally:
        connection.execute("DROP TABLE IF EXISTS row_hashes")
        connection.execute("DROP TABLE IF EXISTS shared_hashes")


def _clean_matrix(matrix: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if math.isfinite(v) else None for v in row] for row in matrix]


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks of the non-NaN values (NaN stays NaN), as pandas ranks for Spearman."""
    ranks = np.full(values.size, np.nan)
    present = ~np.isnan(values)
    kept = values[present]
    # scipy's rankdata(method="average") without its per-call overhead (a third of the correlations' time):
    # ranks are whole or half numbers, so the average of a tie group's ranks is exact either way
    order = np.argsort(kept)
    ordered = kept[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    averaged = np.empty(kept.size)
    averaged[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    ranks[present] = averaged
    return ranks


def numeric_correlations(
    values: dict[str, np.ndarray],
    seed: int = 0,
    *,
    ranks: dict[str, np.ndarray] | None = None,
    kendall: Future[list[list[float | None]]] | None = None,
) -> dict[str, Any]:
    """Pearson and Spearman (Pearson of average ranks), pairwise complete as in pandas, on the rows given (all
    rows or the profile's bounded sample); Kendall's tau-b on a seeded sample of KENDALL_SAMPLE_ROWS of them.
    `ranks`: average_ranks already computed for some columns; `kendall`: kendall_matrix(values, seed) running
    meanwhile on a pool."""
    if len(values) < 2:
        return {}
    frame = pd.DataFrame(values)
    known = ranks or {}
    ranked = {name: known[name] if name in known else average_ranks(column) for name, column in values.items()}
    result: dict[str, Any] = {"PEARSON": _clean_matrix(frame.corr(method="pearson").to_numpy())}
    spearman = pd.DataFrame(ranked).corr(method="pearson").to_numpy().copy()
    if len(frame) <= SPEARMAN_EXACT_ROWS:
        _rerank_incomplete_pairs(frame, spearman)
    result["SPEARMAN"] = _clean_matrix(spearman)
    result["KENDALL"] = kendall.result() if kendall is not None else kendall_matrix(values, seed)
    return result


def kendall_matrix(values: dict[str, np.ndarray], seed: int = 0) -> list[list[float | None]]:
    """Kendall's tau-b of every pair, on a seeded sample of KENDALL_SAMPLE_ROWS rows (pairwise complete)."""
    frame = pd.DataFrame(values)  # its own frame: pandas may consolidate a frame's blocks while reading it
    sample = frame if len(frame) <= KENDALL_SAMPLE_ROWS else frame.sample(KENDALL_SAMPLE_ROWS, random_state=seed)
    k = frame.shape[1]
    kendall = np.eye(k)
    columns = sample.to_numpy(dtype=np.float64).T  # the pairs' complete rows by mask: pandas' dropna per pair cost
    present = ~np.isnan(columns)  # as much as the statistic
    for i in range(k):
        for j in range(i + 1, k):
            both = present[i] & present[j]
            tau = (
                scipy_stats.kendalltau(columns[i][both], columns[j][both]).statistic
                if np.count_nonzero(both) > 1
                else np.nan
            )
            kendall[i, j] = kendall[j, i] = tau
    return _clean_matrix(kendall)


def _rerank_incomplete_pairs(frame: pd.DataFrame, spearman: np.ndarray) -> None:
    """Where a pair has missing values, rank only the rows both have (as pandas and scipy do)."""
    has_nulls = frame.isna().any().to_numpy()
    columns = frame.columns
    for i in range(len(columns)):
        for j in range(i + 1, len(columns)):
            if has_nulls[i] or has_nulls[j]:
                pair = frame.iloc[:, [i, j]].dropna()
                value = scipy_stats.spearmanr(pair.iloc[:, 0], pair.iloc[:, 1]).statistic if len(pair) > 1 else np.nan
                spearman[i, j] = spearman[j, i] = value


def cramers_v(codes_a: np.ndarray, levels_a: int, codes_b: np.ndarray, levels_b: int) -> float | None:
    """Bias-corrected Cramér's V (Bergsma 2013) from factorised codes; rows with a missing value are skipped."""
    keep = (codes_a >= 0) & (codes_b >= 0)
    n = int(keep.sum())
    if n < 2 or levels_a < 2 or levels_b < 2:
        return None
    table = np.bincount(codes_a[keep] * levels_b + codes_b[keep], minlength=levels_a * levels_b)
    table = table.reshape(levels_a, levels_b).astype(np.float64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    rows, cols = table.shape
    if rows < 2 or cols < 2:
        return None
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (rows - 1) * (cols - 1) / (n - 1))
    rows_c = rows - (rows - 1) ** 2 / (n - 1)
    cols_c = cols - (cols - 1) ** 2 / (n - 1)
    denominator = min(rows_c - 1, cols_c - 1)
    return math.sqrt(phi2 / denominator) if denominator > 0 else None


def categorical_correlations(columns: dict[str, pa.ChunkedArray]) -> list[list[float | None]]:
    coded = {}
    for name, column in columns.items():
        codes, uniques = pd.factorize(column.to_pandas(), use_na_sentinel=True)
        coded[name] = (codes.astype(np.int64), len(uniques))
    names = list(coded)
    matrix: list[list[float | None]] = [[None] * len(names) for _ in names]
    for i, a in enumerate(names):
        matrix[i][i] = 1.0
        for j in range(i + 1, len(names)):
            value = cramers_v(*coded[a], *coded[names[j]])
            matrix[i][j] = matrix[j][i] = value
    return matrix


def missing_patterns(
    connection: duckdb.DuckDBPyConnection, with_nulls: list[str], rows: int, limit: int = 50
) -> list[dict[str, Any]]:
    """The most frequent sets of columns missing together (rows with nothing missing are left out), exact:
    a hash aggregation of each row's null flags over the columns that have nulls."""
    if not with_nulls:
        return []
    if len(with_nulls) <= 63:  # one integer per row hashes far faster than a list of flags
        flags = " | ".join(f"(CAST({ident(name)} IS NULL AS UBIGINT) << {bit})" for bit, name in enumerate(with_nulls))
        found = connection.execute(f"SELECT {flags} AS p, count(*) AS n FROM profiled GROUP BY p").fetchall()
    else:
        flags = "[" + ", ".join(f"{ident(name)} IS NULL" for name in with_nulls) + "]"
        found = [
            (sum(1 << bit for bit, flag in enumerate(pattern) if flag), count)
            for pattern, count in connection.execute(
                f"SELECT {flags} AS p, count(*) AS n FROM profiled GROUP BY p"
            ).fetchall()
        ]
    coded = sorted(((-count, int(pattern), count) for pattern, count in found), key=lambda entry: entry[:2])
    result = []
    for _, pattern, count in coded:
        if pattern == 0:
            continue
        columns = [name for bit, name in enumerate(with_nulls) if pattern >> bit & 1]
        result.append({"columns": columns, "count": int(count), "ratio": float(count) / rows})
        if len(result) >= limit:
            break
    return result


def time_series_hint(
    column_name: str, seconds: np.ndarray, frequency: str | None, step: float | None
) -> dict[str, Any] | None:
    """When a datetime column is monotonic in row order: its frequency and the gaps (steps over 1.5x the usual)."""
    if seconds.size < 3:
        return None
    steps = np.diff(seconds)
    increasing = bool(np.all(steps >= 0))
    if not increasing and not np.all(steps <= 0):
        return None
    gaps = int(np.count_nonzero(np.abs(steps) > 1.5 * step)) if step else 0
    return {"column": column_name, "frequency": frequency, "monotonic": True, "gaps": gaps}


def usual_step(seconds: np.ndarray) -> float | None:
    steps = np.abs(np.diff(seconds))
    steps = steps[steps > 0]
    if steps.size == 0:
        return None
    values, counts = np.unique(steps, return_counts=True)
    return float(values[np.argmax(counts)])
