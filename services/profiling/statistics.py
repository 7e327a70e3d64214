"""Table-wide statistics: duplicates, correlations, missing-value patterns, time-series hints."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats as scipy_stats

KENDALL_SAMPLE_ROWS = 5_000
SPEARMAN_EXACT_ROWS = 50_000  # above this, pairs with missing values reuse each column's own ranks
CRAMERS_MAX_LEVELS = 200


def duplicate_rows(table: pa.Table) -> int:
    """Rows equal to an earlier row, found through a 64-bit hash of each row (collisions: ~n²/2⁶⁵)."""
    if table.num_rows < 2:
        return 0
    frame = table.to_pandas(types_mapper=None, split_blocks=True, self_destruct=False)
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return int(hashes.size - np.unique(hashes).size)


def _clean_matrix(matrix: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if math.isfinite(v) else None for v in row] for row in matrix]


def numeric_correlations(values: dict[str, np.ndarray], ranks: dict[str, np.ndarray], seed: int = 0) -> dict[str, Any]:
    """Pearson and Spearman (Pearson of average ranks) on all rows, pairwise complete as in pandas;
    Kendall's tau-b on a seeded sample when there are more rows than KENDALL_SAMPLE_ROWS."""
    frame = pd.DataFrame(values)
    result: dict[str, Any] = {}
    if frame.shape[1] < 2:
        return result
    result["PEARSON"] = _clean_matrix(frame.corr(method="pearson").to_numpy())
    spearman = pd.DataFrame(ranks).corr(method="pearson").to_numpy().copy()
    if len(frame) <= SPEARMAN_EXACT_ROWS:
        _rerank_incomplete_pairs(frame, spearman)
    result["SPEARMAN"] = _clean_matrix(spearman)
    sample = frame if len(frame) <= KENDALL_SAMPLE_ROWS else frame.sample(KENDALL_SAMPLE_ROWS, random_state=seed)
    k = frame.shape[1]
    kendall = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            pair = sample.iloc[:, [i, j]].dropna()
            tau = scipy_stats.kendalltau(pair.iloc[:, 0], pair.iloc[:, 1]).statistic if len(pair) > 1 else np.nan
            kendall[i, j] = kendall[j, i] = tau
    result["KENDALL"] = _clean_matrix(kendall)
    return result


def _rerank_incomplete_pairs(frame: pd.DataFrame, spearman: np.ndarray) -> None:
    """Where a pair has missing values, rank only the rows both have (as pandas and scipy do)."""
    has_nulls = frame.isna().any().to_numpy()
    columns = frame.columns
    for i in range(len(columns)):
        for j in range(i + 1, len(columns)):
            if has_nulls[i] or has_nulls[j]:
                pair = frame.iloc[:, [i, j]].dropna()
                value = (scipy_stats.spearmanr(pair.iloc[:, 0], pair.iloc[:, 1]).statistic
                         if len(pair) > 1 else np.nan)
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


def missing_patterns(table: pa.Table, limit: int = 50) -> list[dict[str, Any]]:
    """The most frequent sets of columns missing together (rows with nothing missing are left out)."""
    with_nulls = [name for name in table.column_names if table.column(name).null_count > 0]
    if not with_nulls:
        return []
    patterns = np.zeros(table.num_rows, dtype=object if len(with_nulls) > 63 else np.uint64)
    for bit, name in enumerate(with_nulls):
        mask = pc.is_null(table.column(name)).to_numpy(zero_copy_only=False)
        patterns = patterns | (mask.astype(patterns.dtype) << (np.uint64(bit) if patterns.dtype != object else bit))
    values, counts = np.unique(patterns, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    result = []
    for index in order:
        pattern = int(values[index])
        if pattern == 0:
            continue
        columns = [name for bit, name in enumerate(with_nulls) if pattern >> bit & 1]
        result.append({"columns": columns, "count": int(counts[index]), "ratio": float(counts[index]) / table.num_rows})
        if len(result) >= limit:
            break
    return result


def time_series_hint(column_name: str, seconds: np.ndarray, frequency: str | None, step: float | None) -> dict | None:
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
