"""Which column a user most likely wants predicted, when the ANALYZE job was given no target: a score per
column from its name, its levels and its type, best first. The clarify stage takes a clear winner, else asks."""

from __future__ import annotations

import re
from typing import Any

TARGET_NAMES = re.compile(
    r"^(target|label|class|y|outcome|result|churn(ed)?|default(ed)?|survived|diagnosis)$", re.IGNORECASE
)
TIME_PART_NAMES = re.compile(
    r"(^|[_\s-])(year|yr|month|quarter|week|weekday|day|hour|minute|date|time|timestamp)s?($|[_\s-])", re.IGNORECASE
)
LABEL_LEVELS = range(2, 21)  # a column with this many levels reads like classes, not a measurement


def looks_like_time(column: dict[str, Any], stats: dict[str, Any]) -> bool:
    """Years, months, days...: numbers people group or index by, rarely what they predict."""
    if TIME_PART_NAMES.search(column["name"]):
        return True
    numeric = stats.get("numeric") or {}
    return (
        str(stats.get("dtype", "")).startswith(("int", "uint"))
        and numeric.get("min") is not None
        and numeric["min"] >= 1800
        and numeric["max"] <= 2200
    )


def score_targets(columns: list[dict[str, Any]], profile: dict[str, Any]) -> list[tuple[float, str, str]]:
    """(score, column, why) for plausible targets, best first (ties keep the table's column order)."""
    by_name = {c["name"]: c for c in profile["columns"]}
    scored = []
    for index, column in enumerate(columns):
        stats = by_name[column["name"]]
        if column["semantic_type"] in ("IDENTIFIER", "EMPTY", "TEXT", "DATETIME") or stats["distinct_count"] < 2:
            continue
        score, reasons = 0.0, list[str]()
        named = bool(TARGET_NAMES.match(column["name"].strip()))
        few_levels = stats["distinct_count"] in LABEL_LEVELS
        if named:
            score, reasons = score + 4, [*reasons, "its name says so"]
        if looks_like_time(column, stats) and not named:
            score, reasons = score - 3, [*reasons, "it looks like a year or a time part"]
        elif few_levels and not str(stats.get("dtype", "")).startswith(("int", "uint", "float")):
            score, reasons = score + 2, [*reasons, f"it has {stats['distinct_count']} levels, as labels do"]
        if index == len(columns) - 1 and few_levels:
            score, reasons = score + 1, [*reasons, "it is a low-cardinality last column"]
        if stats["null_count"] == 0:
            score, reasons = score + 0.5, [*reasons, "it has no missing values"]
        if column["semantic_type"] in ("BOOLEAN", "CATEGORICAL"):
            score, reasons = score + 0.5, [*reasons, "its type suits a label"]
        scored.append((score, column["name"], ", ".join(reasons) or "no particular reason"))
    return sorted(scored, key=lambda item: -item[0])
