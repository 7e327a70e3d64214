"""Statistics of a column too large for the job's memory, computed inside DuckDB over the Parquet copy.

Counts, nulls, min/max, sum, mean, std, skewness and kurtosis stay exact (two passes: sums, then centred
moments, as in the in-memory path). Quantiles, median, MAD and the outlier count come from DuckDB's
T-Digest (`approx_quantile`); the distinct count from its HyperLogLog (`approx_count_distinct`) unless
a hash aggregation of the levels fits the engine's memory, in which case distinct count and top values
are exact (that aggregation spills when it has to). Each approximation is reported in `approximations`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from services.profiling import columns as col_stats
from services.profiling.columns import Histogram
from services.profiling.datetime_columns import frequency_name

QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95]
# Stated errors (measured in bench/engines.py and tests/profiling: see docs/data-engine.md)
QUANTILE_RANK_ERROR = 0.01  # T-Digest: a quantile is within 1% of rows of the asked rank
DISTINCT_RELATIVE_ERROR = 0.08  # HyperLogLog: within 8% of the true count (worst of 25 trials: 7.03%)
TOP_VALUES_SAMPLE_ROWS = 100_000  # top values of a column too large to hash exactly come from this many rows
GROUP_BYTES = 64  # what one group of a hash aggregation costs DuckDB, beyond its key


def ident(name: str) -> str:
    """A column name quoted for SQL (names are the user's)."""
    return '"' + name.replace('"', '""') + '"'


def on_fewer_threads(connection: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    """Run `sql`; if DuckDB runs out of memory, once more on one thread (its per-thread buffers halved)."""
    try:
        return connection.execute(sql).fetchall()
    except duckdb.OutOfMemoryException:
        threads = connection.execute("SELECT current_setting('threads')").fetchall()[0][0]
        if threads <= 1:
            raise
        connection.execute("SET threads = 1")
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.execute(f"SET threads = {int(threads)}")


def approximation(
    figure: str,
    column: str | None,
    method: str,
    *,
    rows: int,
    sample_rows: int | None = None,
    error_bound: float | None = None,
    detail: str,
) -> dict[str, Any]:
    return {
        "figure": figure,
        "column": column,
        "method": method,
        "rows": rows,
        "sample_rows": sample_rows,
        "error_bound": error_bound,
        "detail": detail,
    }


def _floats(values: list[float]) -> str:
    return "([" + ", ".join(repr(float(v)) for v in values) + "]::DOUBLE[])"


def binned(expression: str, low: float, high: float, bins: int) -> str:
    """The bin of each value exactly as np.histogram(range=(low, high)) assigns it (edges from np.linspace)."""
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    norm = bins / (high - low)
    first = f"least(CAST(floor(({expression} - {low!r}) * {norm!r}) AS BIGINT), {bins - 1})"
    edge_list = _floats(edges.tolist())
    # numpy then moves a value one bin down or up when floating point put it across an edge. Written inline,
    # not as a scalar subquery naming the value and its first bin once: DuckDB decorrelates such a subquery
    # into a join on the column's distinct values, which held ~60 MB per million rows beyond its memory limit.
    return (
        f"CASE WHEN {expression} < {edge_list}[{first} + 1] THEN {first} - 1 "
        f"WHEN {expression} >= {edge_list}[{first} + 2] AND {first} != {bins - 1} THEN {first} + 1 "
        f"ELSE {first} END"
    )


def histogram_from(counts: dict[Any, int] | None, low: float, high: float, bins: int) -> Histogram:
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    dense = [0] * bins
    for index, count in (counts or {}).items():
        dense[int(index)] += int(count)
    return Histogram(edges=edges.tolist(), counts=dense)


def fd_bins(bins: int | None, low: float, high: float, iqr: float, n: int) -> int:
    """Freedman–Diaconis, as columns.histogram does it."""
    if bins is None:
        width = 2 * iqr / np.cbrt(n)
        bins = int(np.ceil((high - low) / width)) if width > 0 else 1
    return max(1, min(col_stats.MAX_BINS, bins))


class LargeColumn:
    """One column profiled by queries on the `profiled` relation of a DuckDB connection."""

    def __init__(
        self, connection: duckdb.DuckDBPyConnection, name: str, arrow_type: pa.DataType, rows: int, engine_bytes: int
    ) -> None:
        self.connection, self.name, self.type, self.rows = connection, name, arrow_type, rows
        self.engine_bytes = engine_bytes
        self.column = ident(name)
        self.approximations: list[dict[str, Any]] = []

    def one(self, sql: str) -> tuple[Any, ...]:
        return on_fewer_threads(self.connection, sql)[0]

    def levels(
        self, value: str, where: str, non_null: int, *, key_bytes: float, order: str = "n DESC, v"
    ) -> tuple[list[tuple[Any, int]], int, np.ndarray | None]:
        """Top values, distinct count and (when exact) every level's count."""
        estimate = min(non_null, int(self.one(f"SELECT approx_count_distinct({value}) FROM profiled WHERE {where}")[0]))
        fits = estimate * (key_bytes + GROUP_BYTES) <= self.engine_bytes
        if fits:
            try:  # the estimate can be wrong: the scan's buffers of wide values share the engine's memory
                on_fewer_threads(
                    self.connection,
                    f"CREATE OR REPLACE TEMP TABLE levels AS SELECT {value} AS v, count(*) AS n "
                    f"FROM profiled WHERE {where} GROUP BY v",
                )
            except duckdb.OutOfMemoryException:
                fits = False
        if fits:
            distinct = self.one("SELECT count(*) FROM levels")[0]
            top = self.connection.sql(
                f"SELECT v, n FROM levels ORDER BY {order} LIMIT {col_stats.TOP_VALUES_KEPT}"
            ).to_arrow_table()
            all_counts = (
                np.array(self.one("SELECT list(n ORDER BY n DESC) FROM levels")[0] or [], dtype=np.int64)
                if distinct <= 10_000
                else None
            )
            self.connection.execute("DROP TABLE levels")
            return (
                list(zip(top.column(0).to_pylist(), top.column(1).to_pylist(), strict=True)),
                int(distinct),
                all_counts,
            )
        self.approximations.append(
            approximation(
                "DISTINCT_COUNT",
                self.name,
                "HYPERLOGLOG",
                rows=self.rows,
                error_bound=DISTINCT_RELATIVE_ERROR,
                detail=f"about {estimate:,} levels would not fit the engine's {self.engine_bytes >> 20} MB",
            )
        )
        sample = min(TOP_VALUES_SAMPLE_ROWS, non_null)
        top = self.connection.sql(
            f"SELECT v, count(*) AS n FROM (SELECT {value} AS v FROM profiled WHERE {where} "
            f"USING SAMPLE reservoir({sample} ROWS) REPEATABLE (7)) GROUP BY v ORDER BY {order} "
            f"LIMIT {col_stats.TOP_VALUES_KEPT}"
        ).to_arrow_table()
        scale = non_null / sample if sample else 0
        self.approximations.append(
            approximation(
                "TOP_VALUES",
                self.name,
                "SAMPLE",
                rows=self.rows,
                sample_rows=sample,
                error_bound=1.96 * math.sqrt(0.25 / sample) if sample else None,
                detail="counts scaled from a seeded reservoir sample; the bound is on each value's ratio (95%)",
            )
        )
        return (
            [
                (value, round(count * scale))
                for value, count in zip(top.column(0).to_pylist(), top.column(1).to_pylist(), strict=True)
            ],
            estimate,
            None,
        )

    @staticmethod
    def top_list(levels: list[tuple[Any, int]], non_null: int, convert: Callable[[Any], Any]) -> list[dict[str, Any]]:
        return [
            {"value": convert(value), "count": int(count), "ratio": count / non_null if non_null else 0.0}
            for value, count in levels
        ]

    def number(self, bins: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        v = f"CAST({self.column} AS DOUBLE)"
        present = f"{v} IS NOT NULL AND NOT isnan({v})"
        (non_null, n, zeros, negatives, total, low, high) = self.one(
            f"SELECT count_if({present}), count_if(isfinite({v})), count_if({v} = 0), count_if({v} < 0), "
            f"fsum({v}) FILTER (isfinite({v})), min({v}) FILTER (isfinite({v})), max({v}) FILTER (isfinite({v})) "
            "FROM profiled"
        )
        # count_if over no rows is NULL, not 0 (an empty table)
        non_null, n, zeros, negatives = (x or 0 for x in (non_null, n, zeros, negatives))
        integer = pa.types.is_integer(self.type)
        # integers are counted as themselves: past 2**53 neighbours share a double
        levels, distinct, all_counts = (
            self.levels(self.column, f"{self.column} IS NOT NULL", non_null, key_bytes=8, order="n DESC, v")
            if integer
            else self.levels(v, present, non_null, key_bytes=8, order="n DESC, v")
        )
        top = self.top_list(
            levels,
            non_null,
            lambda x: int(x) if integer and x is not None and math.isfinite(x) else col_stats.finite_or_none(x),
        )
        stats: dict[str, Any] = {"zeros": zeros, "negatives": negatives, "infinite": non_null - n}
        extra: dict[str, Any] = {
            "uniform_counts": None,
            "all_level_counts": all_counts if distinct <= len(top) else None,
        }
        if n == 0:
            return {
                "count": non_null,
                "distinct": distinct,
                "top": top,
                "numeric": stats | {"outliers": 0, "monotonic": None},
                "histogram": None,
            }, extra
        mean = total / n
        m2, m3, m4, quantiles = self.one(
            f"SELECT fsum(pow({v} - {mean!r}, 2)), fsum(pow({v} - {mean!r}, 3)), fsum(pow({v} - {mean!r}, 4)), "
            f"approx_quantile({v}, {QUANTILES}) FROM profiled WHERE isfinite({v})"
        )
        quantiles = [float(q) for q in quantiles]
        _, q1, median, q3, _ = quantiles
        iqr = q3 - q1
        self.approximations.append(
            approximation(
                "QUANTILES",
                self.name,
                "T_DIGEST",
                rows=self.rows,
                error_bound=QUANTILE_RANK_ERROR,
                detail="p5, q1, median, q3, p95, iqr, mad and the outlier count; the bound is on the rank (share "
                "of rows)",
            )
        )
        chosen = fd_bins(bins, low, high, iqr, n)
        mad, outliers, counts, uniform = self.one(
            f"SELECT approx_quantile(abs({v} - {median!r}), 0.5), count_if({v} < {q1 - 1.5 * iqr!r} OR {v} > "
            f"{q3 + 1.5 * iqr!r}), histogram({binned(v, low, high, chosen)}), "
            f"histogram({binned(v, low, high, 10)}) FROM profiled WHERE isfinite({v})"
        )
        moments = (m2 / n, m3 / n, m4 / n)
        stats |= col_stats.numeric_figures(n, (low, high), total, moments, quantiles, mad, int(outliers), None)
        if high > low:
            extra["uniform_counts"] = histogram_from(uniform, low, high, 10)["counts"]
        return {
            "count": non_null,
            "distinct": distinct,
            "top": top,
            "numeric": stats,
            "histogram": histogram_from(counts, low, high, chosen),
        }, extra

    def moment(self, bins: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """A date or timestamp column: seconds since the epoch, as the in-memory path uses."""
        seconds = f"floor(epoch({self.column}))"
        non_null, low, high, quartiles = self.one(
            f"SELECT count({self.column}), min({seconds}), max({seconds}), approx_quantile({seconds}, [0.25, 0.75]) "
            f"FROM profiled"
        )
        levels, distinct, _ = self.levels(
            self.column, f"{self.column} IS NOT NULL", non_null, key_bytes=8, order="n DESC, v"
        )
        top = self.top_list(levels, non_null, col_stats.json_scalar)
        if not non_null:
            return {"count": 0, "distinct": distinct, "top": top, "datetime": {}, "histogram": None}, {}
        chosen = fd_bins(bins, low, high, float(quartiles[1] - quartiles[0]), non_null)
        counts = self.one(
            f"SELECT histogram({binned(seconds, low, high, chosen)}) FROM profiled WHERE {self.column} IS NOT NULL"
        )[0]
        # The most common step between sorted timestamps (a sort that spills), and the steps over 1.5x it
        self.connection.execute(
            f"CREATE OR REPLACE TEMP TABLE steps AS SELECT d, count(*) AS n FROM (SELECT {seconds} - lag({seconds}) "
            f"OVER (ORDER BY {seconds}) AS d FROM profiled WHERE {self.column} IS NOT NULL) WHERE d > 0 GROUP BY d"
        )
        step, most, steps = self.one("SELECT max_by(d, (n, -d)), max(n), sum(n) FROM steps")
        gaps = self.one(f"SELECT coalesce(sum(n), 0) FROM steps WHERE d > 1.5 * {float(step or 0)!r}")[0] if step else 0
        self.connection.execute("DROP TABLE steps")
        frequency = frequency_name(float(step), int(most), int(steps)) if step and non_null >= 3 else None
        stats = {
            "min": datetime.fromtimestamp(low, UTC).isoformat(),
            "max": datetime.fromtimestamp(high, UTC).isoformat(),
            "range_seconds": high - low,
            "inferred_frequency": frequency,
        }
        return {
            "count": non_null,
            "distinct": distinct,
            "top": top,
            "datetime": stats,
            "histogram": histogram_from(counts, low, high, chosen),
        }, {"gaps": int(gaps)}

    def text(self) -> tuple[dict[str, Any], dict[str, Any]]:
        non_null, shortest, longest, mean_length = self.one(
            f"SELECT count({self.column}), min(length({self.column})), max(length({self.column})), "
            f"avg(length({self.column})) FROM profiled"
        )
        levels, distinct, all_counts = self.levels(
            self.column, f"{self.column} IS NOT NULL", non_null, key_bytes=16 + (mean_length or 0), order="n DESC, v"
        )
        text = {"min_length": shortest, "max_length": longest, "mean_length": mean_length} if non_null else {}
        return {
            "count": non_null,
            "distinct": distinct,
            "top": self.top_list(levels, non_null, col_stats.json_scalar),
            "text": text,
        }, {"all_level_counts": all_counts}

    def other(self) -> tuple[dict[str, Any], dict[str, Any]]:
        non_null = self.one(f"SELECT count({self.column}) FROM profiled")[0]
        levels, distinct, all_counts = self.levels(
            self.column, f"{self.column} IS NOT NULL", non_null, key_bytes=16, order="n DESC, v"
        )
        return {
            "count": non_null,
            "distinct": distinct,
            "top": self.top_list(levels, non_null, col_stats.json_scalar),
        }, {"all_level_counts": all_counts}
