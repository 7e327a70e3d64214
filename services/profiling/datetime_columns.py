"""Per-column statistics of dates and timestamps, from the integers Arrow stores them as (numpy, no per-value
Python): seconds since the epoch, the levels of a column whose values all differ, and the step between them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.profiling.columns import Histogram, histogram, json_scalar, most_frequent

UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def moment_integers(column: pa.ChunkedArray) -> np.ndarray:
    """Non-null dates or timestamps as the integers Arrow stores (days, or the type's unit since the epoch, UTC)."""
    values = pc.drop_null(column)
    if len(values) == 0:
        return np.empty(0, np.int64)
    width = pa.int32() if pa.types.is_date32(values.type) else pa.int64()
    return np.concatenate([chunk.view(width).to_numpy() for chunk in values.chunks if len(chunk)]).astype(np.int64)


def moment_seconds(integers: np.ndarray, arrow_type: pa.DataType) -> np.ndarray:
    """Whole seconds since the epoch, as floats, rounded down as the engine's floor(epoch(...)) does."""
    if pa.types.is_date32(arrow_type):
        seconds = integers * 86_400
    else:
        seconds = integers // (1_000 if pa.types.is_date64(arrow_type) else UNITS_PER_SECOND[arrow_type.unit])
    return seconds.astype(np.float64)


def datetime_seconds(column: pa.ChunkedArray) -> np.ndarray:
    """Non-null timestamps as float seconds since the epoch (a sub-second part is dropped)."""
    return moment_seconds(moment_integers(column), column.type)


def unique_moment_levels(
    column: pa.ChunkedArray, integers: np.ndarray
) -> tuple[list[dict[str, Any]], int, np.ndarray] | None:
    """top_values(column) when every non-null value differs (a time column, mostly), from one sort of the
    integers instead of a hash table of a million keys; None when some value repeats.

    With every count 1 the hash kernel's levels are the values in row order, so the same picks of the same
    indexes give the same answer."""
    if integers.size == 0:
        return None
    ordered = np.sort(integers)
    if np.any(ordered[1:] == ordered[:-1]):
        return None
    frequencies = np.ones(integers.size, dtype=np.int64)
    order = most_frequent(frequencies)
    values = pc.drop_null(column).take(pa.array(order)).to_pylist()
    top = [{"value": json_scalar(value), "count": 1, "ratio": 1.0 / integers.size} for value in values]
    return top, int(integers.size), frequencies


FREQUENCIES = [(1, "s"), (60, "min"), (3600, "h"), (86400, "D"), (7 * 86400, "W")]


def inferred_frequency(seconds: np.ndarray, *, is_sorted: bool = False) -> str | None:
    """The most common step between consecutive sorted timestamps, named like pandas offsets."""
    if seconds.size < 3:
        return None
    steps = np.diff(seconds if is_sorted else np.sort(seconds))
    steps = steps[steps > 0]
    if steps.size == 0:
        return None
    values, counts = np.unique(steps, return_counts=True)
    return frequency_name(float(values[np.argmax(counts)]), int(counts.max()), int(steps.size))


def frequency_name(step: float, most: int, steps: int) -> str:
    """Names the most common step (`most` of the `steps` positive steps between sorted timestamps)."""
    if 28 * 86400 <= step <= 31 * 86400:
        return "MS" if most / steps < 1 else "M"
    if 365 * 86400 <= step <= 366 * 86400:
        return "YS"
    for unit, name in reversed(FREQUENCIES):
        if step % unit == 0:
            multiple = int(step // unit)
            return name if multiple == 1 else f"{multiple}{name}"
    return f"{step:g}s"


def datetime_stats(seconds: np.ndarray, bins: int | None) -> tuple[dict[str, Any], Histogram | None]:
    if seconds.size == 0:
        return {}, None
    ordered = np.sort(seconds)  # once, for the frequency, the quartiles and the histogram
    low, high = float(ordered[0]), float(ordered[-1])
    stats = {
        "min": datetime.fromtimestamp(low, UTC).isoformat(),
        "max": datetime.fromtimestamp(high, UTC).isoformat(),
        "range_seconds": high - low,
        "inferred_frequency": inferred_frequency(ordered, is_sorted=True),
    }
    return stats, histogram(ordered, bins, is_sorted=True)
