"""A suite drafted from a dataset's profile: what the profiled version already meets, loosened by stated
margins so that the next month's file of the same kind passes and a broken one does not.

Every suggestion holds on the profiled version itself (its own validation passes): ranges include the
observed extremes, null caps sit above the observed ratio, allowed values are every level seen.
"""

from __future__ import annotations

import math
from typing import Any

from services.pipelines.config.checks import DriftRule, PipelineCheck

ROW_MARGIN = 0.5  # row count bounds: half to one and a half times the profiled count
NULL_MARGIN = 0.05  # a column with missing values may have this much more of them (absolute)
RANGE_MARGIN = 0.1  # ranges widen by this share of the p5..p95 spread beyond the observed min and max
MAX_CATEGORIES = 20  # allowed values are suggested for categorical columns with at most this many levels
DRIFT_TYPES = ("NUMERIC", "CATEGORICAL", "BOOLEAN")
UNIQUE_TYPES = ("IDENTIFIER", "NUMERIC", "TEXT", "CATEGORICAL")


def suggest_checks(profile: dict[str, Any]) -> list[PipelineCheck]:
    """The draft: table row bounds first, then per column its type, missing values, range or categories,
    uniqueness and drift from this version, in the dataset's column order."""
    rows = int(profile["row_count"])
    # Distinct counts estimated on large columns (HyperLogLog) could call a column unique that is not, or miss
    # a level: such columns get no `unique` or `allowed_values`, so the draft still holds on its own version.
    estimated = {
        a["column"]
        for a in (profile.get("sampling") or {}).get("approximations") or []
        if a["figure"] in ("DISTINCT_COUNT", "IS_UNIQUE")
    }
    checks = [PipelineCheck(min_rows=math.floor(rows * (1 - ROW_MARGIN)), max_rows=math.ceil(rows * (1 + ROW_MARGIN)))]
    for column in profile["columns"]:
        rules = _column_rules(column, rows, exact=column["name"] not in estimated)
        if rules:
            checks.append(PipelineCheck(column=column["name"], **rules))
    return checks


def _column_rules(column: dict[str, Any], rows: int, *, exact: bool) -> dict[str, Any]:
    semantic = column["semantic_type"]
    if semantic == "EMPTY" or not rows:
        return {"semantic_type": semantic}
    rules: dict[str, Any] = {"semantic_type": semantic}
    ratio = float(column["null_ratio"])
    if ratio == 0:
        rules["not_null"] = True
    else:
        rules["max_null_ratio"] = round(min(1.0, ratio + NULL_MARGIN), 4)
    numeric = column.get("numeric")
    if semantic == "NUMERIC" and numeric and numeric.get("min") is not None:
        rules.update(_range(numeric))
    levels = column.get("top_values") or []
    if (
        exact
        and semantic in ("CATEGORICAL", "BOOLEAN")
        and 0 < column["distinct_count"] <= MAX_CATEGORIES
        and len(levels) == column["distinct_count"]
    ):
        rules["allowed_values"] = sorted({_text(level["value"]) for level in levels})
    if exact and column.get("is_unique") and semantic in UNIQUE_TYPES and column["count"] > 1:
        rules["unique"] = True
    if semantic in DRIFT_TYPES and not column.get("is_unique"):
        rules["drift"] = DriftRule()
    return rules


def _range(numeric: dict[str, Any]) -> dict[str, float]:
    low, high = float(numeric["min"]), float(numeric["max"])
    p5, p95 = numeric.get("p5"), numeric.get("p95")
    spread = (float(p95) - float(p5)) if p5 is not None and p95 is not None else high - low
    margin = RANGE_MARGIN * (spread if spread > 0 else abs(high - low) or 1.0)
    low_bound, high_bound = low - margin, high + margin
    if low >= 0 > low_bound:  # a count or an amount stays non-negative
        low_bound = 0.0
    return {"min": _rounded(low_bound, down=True), "max": _rounded(high_bound, down=False)}


def _rounded(value: float, *, down: bool) -> float:
    """To 4 significant digits, outward, so the bound reads well and still includes what was seen."""
    if value == 0 or not math.isfinite(value):
        return value
    scale: float = 10 ** (math.floor(math.log10(abs(value))) - 3)  # an int for large values (kept: it shapes the JSON)
    steps = math.floor(value / scale) if down else math.ceil(value / scale)
    return round(steps * scale, 10)


def _text(value: Any) -> str:
    """A level as checks compare it: as text (DuckDB's CAST AS VARCHAR spells booleans true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
