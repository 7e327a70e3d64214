"""Data-quality alerts. Each threshold is named here and documented in the README."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MISSING_RATIO = 0.05  # MISSING: more than 5% of a column is null
HIGH_CARDINALITY_LEVELS = 50  # HIGH_CARDINALITY: a categorical/text column with > 50 levels
HIGH_CARDINALITY_RATIO = 0.5  #   ... that are more than half of its values (but not all distinct)
HIGH_CORRELATION = 0.9  # HIGH_CORRELATION: |Pearson| or Cramér's V above 0.9
SKEWNESS = 2.0  # SKEWED: |skewness| above 2
IMBALANCE = 0.5  # IMBALANCED: 1 - normalised entropy of the levels above 0.5
ZEROS_RATIO = 0.10  # ZEROS: more than 10% zeros
OUTLIERS_RATIO = 0.01  # OUTLIERS: more than 1% of values beyond 1.5 IQR
UNIFORM_CV = 0.10  # UNIFORM: 10 equal-width bins whose counts vary by less than 10% (>= 100 values)
MIXED_LOW, MIXED_HIGH = 0.05, 0.95  # MIXED_TYPES: 5-95% of a text column's values look numeric


def _alert(
    kind: str, message: str, column: str | None = None, value: float | None = None, columns: list[str] | None = None
) -> dict[str, Any]:
    return {"kind": kind, "column": column, "columns": columns, "message": message, "value": value}


def imbalance(counts: list[int]) -> float | None:
    total = sum(counts)
    if len(counts) < 2 or total == 0:
        return None
    shares = np.array(counts, dtype=float) / total
    entropy = -float(np.sum(shares * np.log(shares)))
    return 1 - entropy / math.log(len(counts))


def column_alerts(
    profile: dict[str, Any],
    *,
    all_level_counts: list[int] | None,
    uniform_counts: list[int] | None,
    numeric_share: float | None,
) -> list[dict[str, Any]]:
    name, alerts = profile["name"], []
    count, semantic = profile["count"], profile["semantic_type"]
    if profile["null_ratio"] > MISSING_RATIO:
        alerts.append(_alert("MISSING", f"{name} is {profile['null_ratio']:.1%} missing", name, profile["null_ratio"]))
    if count and profile["distinct_count"] == 1:
        alerts.append(_alert("CONSTANT", f"{name} has one value only", name, 1))
    if count > 1 and profile["is_unique"]:
        alerts.append(_alert("UNIQUE", f"{name} has a different value in every row", name, 1))
    distinct_ratio = profile["distinct_count"] / count if count else 0
    if (
        semantic in ("CATEGORICAL", "TEXT")
        and profile["distinct_count"] > HIGH_CARDINALITY_LEVELS
        and distinct_ratio > HIGH_CARDINALITY_RATIO
        and not profile["is_unique"]
    ):
        alerts.append(
            _alert(
                "HIGH_CARDINALITY",
                f"{name} has {profile['distinct_count']:,} distinct values",
                name,
                profile["distinct_count"],
            )
        )
    numeric = profile.get("numeric")
    if numeric and semantic == "NUMERIC" and count:
        if numeric.get("skewness") is not None and abs(numeric["skewness"]) > SKEWNESS:
            alerts.append(
                _alert("SKEWED", f"{name} is skewed (skewness {numeric['skewness']:.2f})", name, numeric["skewness"])
            )
        if numeric["zeros"] / count > ZEROS_RATIO:
            alerts.append(
                _alert("ZEROS", f"{name} is {numeric['zeros'] / count:.1%} zeros", name, numeric["zeros"] / count)
            )
        if numeric["outliers"] / count > OUTLIERS_RATIO:
            alerts.append(
                _alert(
                    "OUTLIERS",
                    f"{name} has {numeric['outliers']:,} values beyond 1.5 IQR",
                    name,
                    numeric["outliers"] / count,
                )
            )
        if uniform_counts and count >= 100 and profile["distinct_count"] > 10:
            counts = np.array(uniform_counts, dtype=float)
            variation = float(counts.std() / counts.mean()) if counts.mean() else 1.0
            if variation < UNIFORM_CV:
                alerts.append(_alert("UNIFORM", f"{name} looks uniformly distributed", name, variation))
    if semantic in ("CATEGORICAL", "BOOLEAN") and all_level_counts:
        score = imbalance(all_level_counts)
        if score is not None and score > IMBALANCE:
            alerts.append(_alert("IMBALANCED", f"{name} is imbalanced (score {score:.2f})", name, score))
    if numeric_share is not None and MIXED_LOW < numeric_share < MIXED_HIGH:
        alerts.append(
            _alert(
                "MIXED_TYPES", f"{numeric_share:.0%} of {name} looks numeric, the rest does not", name, numeric_share
            )
        )
    return alerts


def ingest_alerts(ingest_info: dict[str, Any] | None) -> list[dict[str, Any]]:
    """REJECTED_LINES / PADDED_LINES: lines of the upload that did not have the header's field count."""
    info = ingest_info or {}
    alerts = []
    if info.get("rejected_lines"):
        alerts.append(
            _alert(
                "REJECTED_LINES",
                f"{info['rejected_lines']:,} line(s) of the file were rejected "
                "(another number of fields than the header); download them to see why",
                value=info["rejected_lines"],
            )
        )
    if info.get("padded_lines"):
        alerts.append(
            _alert(
                "PADDED_LINES",
                f"{info['padded_lines']:,} short line(s) of the file were padded with nulls",
                value=info["padded_lines"],
            )
        )
    return alerts


def table_alerts(
    *,
    duplicate_rows: int,
    row_count: int,
    correlations: dict[str, Any],
    numeric_columns: list[str],
    categorical_columns: list[str],
) -> list[dict[str, Any]]:
    alerts = []
    if duplicate_rows:
        alerts.append(
            _alert("DUPLICATES", f"{duplicate_rows:,} rows repeat an earlier row", value=duplicate_rows / row_count)
        )
    for method, names in (("PEARSON", numeric_columns), ("CRAMERS_V", categorical_columns)):
        matrix = correlations.get(method)
        if not matrix:
            continue
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                value = matrix[i][j]
                if value is not None and abs(value) > HIGH_CORRELATION:
                    alerts.append(
                        _alert(
                            "HIGH_CORRELATION",
                            f"{a} and {names[j]} are highly correlated ({method.lower()} {value:.2f})",
                            columns=[a, names[j]],
                            value=value,
                        )
                    )
    return alerts
