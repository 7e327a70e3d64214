"""Per-column statistics, vectorised with numpy and pyarrow compute: no per-value Python."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

TOP_VALUES_KEPT = 50
MAX_BINS = 100


class Histogram(TypedDict):
    """Counts over equal-width bins: `edges` has one more entry than `counts` (as numpy's histogram gives)."""

    edges: list[float]
    counts: list[int]


def finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def float_column(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """Every row as float64, nulls as NaN, so arrays of different columns stay aligned by row. Unsafe on purpose:
    integers past 2**53 (ids, counters) round to the nearest float, as numpy's astype does, where Arrow's safe
    cast refused them and failed the whole profile."""
    return np.asarray(pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)


def sorted_histogram(ordered: np.ndarray, bins: int, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """np.histogram(ordered, bins, range=(low, high)) of sorted values, by binary search instead of a pass:
    a value is in bin i when edges[i] <= value < edges[i + 1], the last bin closed, exactly as numpy bins it."""
    edges = np.linspace(low, high, bins + 1)
    starts = np.searchsorted(ordered, edges[:-1], side="left")
    return np.diff(np.r_[starts, np.searchsorted(ordered, high, side="right")]), edges


def histogram(
    values: np.ndarray, bins: int | None, iqr: float | None = None, *, is_sorted: bool = False
) -> Histogram | None:
    """Freedman–Diaconis bin width unless a bin count is asked for; finite values only."""
    finite = finite_part(values) if is_sorted else values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    if bins is None:
        if iqr is None:
            q1, q3 = _quantiles(finite, [0.25, 0.75]) if is_sorted else np.percentile(finite, [25, 75])
            iqr = q3 - q1
        width = 2 * iqr / np.cbrt(finite.size)
        bins = int(np.ceil((high - low) / width)) if width > 0 else 1
    bins = max(1, min(MAX_BINS, bins))
    span = (low, high) if high > low else (low - 0.5, high + 0.5)
    counts, edges = sorted_histogram(finite, bins, *span) if is_sorted else np.histogram(finite, bins=bins, range=span)
    return Histogram(edges=edges.tolist(), counts=counts.tolist())


def finite_part(ordered: np.ndarray) -> np.ndarray:
    """The finite values of sorted NaN-free values, as a view: -inf sorts first and +inf last, so no mask copy."""
    return ordered[np.searchsorted(ordered, -np.inf, side="right") : np.searchsorted(ordered, np.inf, side="left")]


def sorted_mad(deviations: np.ndarray, shift: float) -> float:
    """np.median(np.abs(deviations + shift)) of sorted `deviations`, bit for bit, in O(log n) instead of a
    selection over a copy (which cost more than the rest of a number column's statistics together).

    d = deviations + shift never decreases along the sorted values, so |d| falls to the first non-negative d
    and rises after it: two sorted runs, whose k-th smallest value a binary search finds.
    """
    n = deviations.size
    if not (math.isfinite(shift) and np.isfinite(deviations[0]) and np.isfinite(deviations[-1])):
        return float(np.median(np.abs(deviations + shift)))  # an overflow could break the order: the plain way
    low, high = 0, n
    while low < high:  # the first non-negative d
        middle = (low + high) // 2
        if deviations[middle] + shift < 0:
            low = middle + 1
        else:
            high = middle
    split = low

    def falling(j: int) -> float:  # |d| left of the split, nearest first
        return float(-(deviations[split - 1 - j] + shift))

    def rising(j: int) -> float:  # |d| from the split on
        return float(deviations[split + j] + shift)

    def smallest(k: int) -> float:  # the k-th smallest (from 0) of both runs
        taken, lefts, rights = k + 1, split, n - split
        low, high = max(0, taken - rights), min(taken, lefts)
        while low < high:
            middle = (low + high) // 2
            if falling(middle) < rising(taken - middle - 1):
                low = middle + 1
            else:
                high = middle
        ends = ([falling(low - 1)] if low > 0 else []) + ([rising(taken - low - 1)] if taken - low > 0 else [])
        return max(ends)

    middle = n // 2
    pair = [smallest(middle)] if n % 2 else [smallest(middle - 1), smallest(middle)]
    return float(np.mean(np.array(pair, dtype=np.float64)))  # np.median averages the middle pair the same way


def _quantiles(ordered: np.ndarray, qs: list[float]) -> list[float]:
    """Linear-interpolated quantiles of sorted values (numpy's and pandas' default method)."""
    positions = np.array(qs) * (ordered.size - 1)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, ordered.size - 1)
    fraction = positions - low
    found: list[float] = (ordered[low] + (ordered[high] - ordered[low]) * fraction).tolist()
    return found


def spread_and_shape(n: int, m2: float, m3: float, m4: float) -> tuple[float | None, float | None, float | None]:
    """Sample std, bias-corrected skewness and excess kurtosis (pandas' definitions) from the central moments
    m2, m3, m4 (each divided by n); None where n is too small or the values do not vary. One definition for
    the in-memory and the engine's profile."""
    std = math.sqrt(m2 * n / (n - 1)) if n > 1 else None
    skewness = math.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5 if n > 2 and m2 > 0 else None
    kurtosis = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / m2**2 - 3 * (n - 1)) if n > 3 and m2 > 0 else None
    return std, skewness, kurtosis


def numeric_stats(values: np.ndarray, ordered: np.ndarray) -> dict[str, Any]:
    """Matches pandas (sample std, bias-corrected skew and excess kurtosis) and scipy (MAD, scale 1).

    `values` are the non-null values in row order, `ordered` the same values sorted.
    """
    finite_ordered = finite_part(ordered)
    n = finite_ordered.size
    # counted on the sorted values by binary search (-0.0 sorts with 0.0, as == 0 counts it)
    below_zero, up_to_zero = np.searchsorted(ordered, 0.0, side="left"), np.searchsorted(ordered, 0.0, side="right")
    stats: dict[str, Any] = {
        "zeros": int(up_to_zero - below_zero),
        "negatives": int(below_zero),
        "infinite": int(ordered.size - n),
    }
    if n == 0:
        return stats | {"outliers": 0, "monotonic": None}
    quantiles = _quantiles(finite_ordered, [0.05, 0.25, 0.5, 0.75, 0.95])
    _, q1, median, q3, _ = quantiles
    total = float(finite_ordered.sum())
    mean = total / n
    deviations = finite_ordered - mean
    squared = deviations * deviations
    m2 = float(squared.sum()) / n
    m3 = float(np.dot(squared, deviations)) / n if n > 2 and m2 > 0 else 0.0  # not summed where unused
    m4 = float(np.dot(squared, squared)) / n if n > 3 and m2 > 0 else 0.0
    iqr = q3 - q1
    below = np.searchsorted(finite_ordered, q1 - 1.5 * iqr, side="left")
    above = n - np.searchsorted(finite_ordered, q3 + 1.5 * iqr, side="right")
    bounds = (finite_ordered[0], finite_ordered[-1])
    mad = sorted_mad(deviations, mean - median)
    return stats | numeric_figures(
        n, bounds, total, (m2, m3, m4), quantiles, mad, int(below + above), monotonic(values)
    )


def numeric_figures(
    n: int,
    bounds: tuple[float, float],
    total: float,
    moments: tuple[float, float, float],
    quantiles: list[float],
    mad: float,
    outliers: int,
    order: str | None,
) -> dict[str, Any]:
    """The figures of `n` finite numbers from their (min, max), sum, central moments (m2, m3, m4, each divided
    by n) and quantiles (p5, q1, median, q3, p95): one layout for the in-memory and the engine's profile."""
    p5, q1, median, q3, p95 = quantiles
    std, skewness, kurtosis = spread_and_shape(n, *moments)
    return {
        "min": float(bounds[0]),
        "max": float(bounds[1]),
        "mean": total / n,
        "std": std,
        "p5": p5,
        "q1": q1,
        "median": median,
        "q3": q3,
        "p95": p95,
        "iqr": float(q3 - q1),
        "mad": float(mad),
        "skewness": skewness,
        "kurtosis": kurtosis,
        "sum": float(total),
        "outliers": outliers,
        "monotonic": order,
    }


MONOTONIC_PROBE = 1024  # values looked at first: most columns are told not monotonic without a full pass


def monotonic(values: np.ndarray) -> str | None:
    """ "increasing" or "decreasing" (not constant) in row order, else None."""
    if values.size < 2:
        return None
    probe = np.diff(values[: MONOTONIC_PROBE + 1])
    if not (np.all(probe >= 0) or np.all(probe <= 0)):
        return None
    steps = np.diff(values)
    if np.all(steps >= 0) and np.any(steps > 0):
        return "increasing"
    if np.all(steps <= 0) and np.any(steps < 0):
        return "decreasing"
    return None


def most_frequent(frequencies: np.ndarray, keep: int = TOP_VALUES_KEPT) -> np.ndarray:
    """Indexes of the `keep` largest counts, largest first (ties in first-seen order), without a full sort."""
    if frequencies.size > keep:
        candidates = np.argpartition(-frequencies, keep - 1)[:keep]
        return candidates[np.lexsort((candidates, -frequencies[candidates]))]
    return np.lexsort((np.arange(frequencies.size), -frequencies))


def level_counts(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Every level in first-seen order and its count, as pc.value_counts gives them."""
    counts = pc.value_counts(pc.drop_null(column))
    return counts.field("values"), counts.field("counts").to_numpy()


def hashed_levels(present: pa.Array | pa.ChunkedArray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """level_counts of non-null values with mostly distinct levels (free text), from their 64-bit hashes: each
    level as the row of its first occurrence, in first-seen order, and its count. Exact: one sort of the hashes
    instead of a hash table of a million strings (a third of the time); only the rows whose hash is shared are
    compared as strings, so equal hashes of different strings stay different levels.

    The hash's low bits carry the row (the sort then keeps each run in row order); the rest of the hash, still
    over 40 bits for the columns profiled in memory, tells the levels apart before the strings are compared."""
    n = len(present)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    shift = np.uint64(max(1, (n - 1).bit_length()))
    keys = hashes >> shift
    keys <<= shift
    keys |= np.arange(n, dtype=np.uint64)
    keys.sort()
    prefixes = keys >> shift
    rows = (keys & ((np.uint64(1) << shift) - np.uint64(1))).view(np.int64)
    same = prefixes[1:] == prefixes[:-1]
    shared = np.zeros(n, dtype=bool)
    shared[1:] = same
    shared[:-1] |= same
    counts = np.zeros(n, dtype=np.int64)  # by row: a level's count at the row where it first occurs
    counts[rows[~shared]] = 1
    if same.any():
        compared = np.sort(rows[shared])
        taken = pc.take(present, pa.array(compared))
        encoded = pc.dictionary_encode(taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken)
        codes = encoded.indices.to_numpy()  # codes number the levels in first-seen order
        first = codes > np.r_[-1, np.maximum.accumulate(codes)[:-1]]
        counts[compared[first]] = np.bincount(codes, minlength=len(encoded.dictionary))
    first_rows = np.flatnonzero(counts)
    return first_rows, counts[first_rows]


def encoded_levels(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray] | None:
    """level_counts of a dictionary-encoded column (a category read as codes), from one count per code instead of
    hashing every string. None when the codes do not first occur in dictionary order (a dictionary not built in
    row order): the caller then decodes the column."""
    chunks = [chunk for chunk in column.unify_dictionaries().chunks if len(chunk)]
    if not chunks or chunks[0].dictionary.null_count:
        return None
    dictionary = chunks[0].dictionary  # one dictionary for every chunk once unified
    codes = np.concatenate([pc.drop_null(chunk.indices).to_numpy() for chunk in chunks]).astype(np.int64)
    if codes.size == 0:
        return None
    counts = np.bincount(codes, minlength=len(dictionary))
    firsts = codes[codes > np.r_[-1, np.maximum.accumulate(codes)[:-1]]]  # each code where it first occurs
    used = int(np.count_nonzero(counts))
    if firsts.size != used or not np.array_equal(firsts, np.arange(used)):
        return None
    levels = dictionary.slice(0, used)  # the codes used are 0..used-1, first seen in that order
    if len(pc.unique(levels)) != used:
        return None
    return levels, counts[:used]


def top_values(
    column: pa.ChunkedArray,
    non_null: int,
    *,
    hashes: Callable[[pa.ChunkedArray], np.ndarray] | None = None,
    levels: tuple[pa.Array, np.ndarray] | None = None,
) -> tuple[list[dict[str, Any]], int, np.ndarray]:
    """The most frequent values, the distinct count and every level's count, from one hash pass; or, given a
    way to hash the values (for free text), from one sort of their hashes (hashed_levels); or from the `levels`
    and counts already found (encoded_levels)."""
    if hashes is None:
        found, frequencies = levels if levels is not None else level_counts(column)
        if len(found) == 0:
            return [], 0, np.empty(0, dtype=np.int64)
        order = most_frequent(frequencies)
        values = found.take(pa.array(order)).to_pylist()
    else:
        present = pc.drop_null(column)
        first_rows, frequencies = hashed_levels(present, hashes(present))
        if len(first_rows) == 0:
            return [], 0, np.empty(0, dtype=np.int64)
        order = most_frequent(frequencies)
        values = pc.take(present, pa.array(first_rows[order])).to_pylist()
    top = [
        {"value": json_scalar(value), "count": int(frequencies[i]), "ratio": float(frequencies[i]) / non_null}
        for value, i in zip(values, order, strict=True)
    ]
    return top, len(frequencies), frequencies


def numeric_levels(
    values: np.ndarray, non_null: int, integer: bool
) -> tuple[list[dict[str, Any]], int, np.ndarray, np.ndarray]:
    """Top values, distinct count, every level's count and the sorted values, from one sort."""
    ordered = np.sort(values)
    change = np.empty(ordered.size, dtype=bool)  # where a new value starts (-0.0 is 0.0)
    if ordered.size:
        change[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    if change.all():  # every value distinct (a measurement, an id): no gather, no differences
        frequencies, uniques = np.ones(ordered.size, dtype=np.int64), ordered
    else:
        starts = np.flatnonzero(change)
        frequencies, uniques = np.diff(starts, append=ordered.size), ordered[starts]
    order = most_frequent(frequencies)
    top = [
        {
            "value": int(uniques[i]) if integer else finite_or_none(uniques[i]),
            "count": int(frequencies[i]),
            "ratio": float(frequencies[i]) / non_null,
        }
        for i in order
    ]
    return top, int(uniques.size), frequencies, ordered


def json_scalar(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def text_stats(column: pa.ChunkedArray, levels: tuple[pa.Array, np.ndarray] | None = None) -> dict[str, Any]:
    """Lengths in characters; from the `levels` and their counts when known (a category: a few lengths weighted
    by counts instead of a million lengths; the mean is the same integer total over the same count)."""
    if levels is not None:
        found, counts = levels
        sizes = pc.utf8_length(found).to_numpy().astype(np.int64)
        if sizes.size == 0:
            return {}
        total = int(np.dot(sizes, counts))  # integers: exact, as Arrow's integer sum is
        return {
            "min_length": int(sizes.min()),
            "max_length": int(sizes.max()),
            "mean_length": total / int(counts.sum()),
        }
    lengths = pc.utf8_length(pc.drop_null(column))
    if len(lengths) == 0:
        return {}
    bounds = pc.min_max(lengths).as_py()
    return {"min_length": bounds["min"], "max_length": bounds["max"], "mean_length": pc.mean(lengths).as_py()}
