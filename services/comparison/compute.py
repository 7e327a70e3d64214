"""The statistics of a comparison, within the job's memory budget.

Only the compared columns are read. Counts, nulls, mean, std, min, max, histograms, top categories and
distinct counts up to 1,000 are exact, in DuckDB over every row (it spills to the job's scratch dir); quantiles are
exact (`quantile_cont`, numpy's linear interpolation) when every compared number fits the engine's memory,
else DuckDB's T-Digest, and the comparison says so. Drift tests run on at most `sample_rows` rows per side
(a seeded reservoir sample, kept in a DuckDB temp table and read one column at a time), so their cost is
bounded whatever the size; the stored `Sampling` says when and how much was sampled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from services import dataplane, drift
from services.comparison.models import CategoryCount, ColumnKind, DriftResult, Sampling, SideStatistics
from services.profiling.columns import Histogram
from services.profiling.large_columns import QUANTILES, histogram_from, ident

HISTOGRAM_BINS = 30
TOP_CATEGORIES = 10
QUANTILE_FIELDS = ("p5", "q1", "median", "q3", "p95")  # SideStatistics' names for the QUANTILES, in their order
SAMPLE_SEED = 7
BYTES_PER_QUANTILE_VALUE = 24  # what quantile_cont holds per value (the double and its share of the list)
MB = 1024 * 1024
EXACT_DISTINCT_BELOW = 1000  # distinct counts of numbers above this are HyperLogLog estimates (within ~8%)
NUMBER_TYPES = ("int", "uint", "float", "double", "decimal")
TIME_TYPES = ("datetime", "date", "timestamp")


def kind_of(reference_dtype: str, current_dtype: str) -> ColumnKind:
    """Numbers on both sides (or times on both sides) are NUMERIC; anything else is compared as categories."""
    numbers = all(d.startswith(NUMBER_TYPES) for d in (reference_dtype, current_dtype))
    times = all(d.startswith(TIME_TYPES) for d in (reference_dtype, current_dtype))
    return ColumnKind.NUMERIC if numbers or times else ColumnKind.CATEGORICAL


def value_sql(name: str, dtype: str, kind: ColumnKind) -> str:
    """The value a statistic sees: a finite double (NaN and ±inf count as missing; times as epoch seconds), or text."""
    column = ident(name)
    if kind is ColumnKind.CATEGORICAL:
        return f"CAST({column} AS VARCHAR)"
    number = f"CAST(epoch({column}) AS DOUBLE)" if dtype.startswith(TIME_TYPES) else f"CAST({column} AS DOUBLE)"
    return f"(CASE WHEN isfinite({number}) THEN {number} END)"


@dataclass(frozen=True)
class Planned:
    """One compared column as the service checked it."""

    name: str
    kind: ColumnKind
    reference_dtype: str
    current_dtype: str
    method: str | None  # forced by the user
    threshold: float | None
    test: bool  # identifiers are not tested unless the user asks

    @classmethod
    def from_params(cls, entry: dict[str, Any]) -> Planned:
        return cls(
            name=entry["name"],
            kind=ColumnKind(entry["kind"]),
            reference_dtype=entry["reference_dtype"],
            current_dtype=entry["current_dtype"],
            method=entry.get("method"),
            threshold=entry.get("threshold"),
            test=entry.get("test", True),
        )


class Side:
    """One dataset version's compared columns, as a DuckDB view."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        view: str,
        path: Path,
        columns: list[Planned],
        dtype: Callable[[Planned], str],
    ) -> None:
        self.connection, self.view = connection, view
        self.columns = columns
        self.values = {c.name: value_sql(c.name, dtype(c), c.kind) for c in columns}
        selected = ", ".join(f"{self.values[c.name]} AS {ident(c.name)}" for c in columns)
        connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {selected} FROM {dataplane.parquet_source(path)}"
        )
        self.rows = int(connection.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0])
        self.sample_table = f"{view}_sample"
        self.test_rows = 0

    def one(self, sql: str) -> tuple[Any, ...]:
        return self.connection.execute(sql).fetchall()[0]

    def numeric(self, names: list[str], exact_quantiles: bool) -> dict[str, SideStatistics]:
        """Every numeric column's moments and quantiles in one pass over the file."""
        if not names:
            return {}
        quantile = "quantile_cont" if exact_quantiles else "approx_quantile"
        parts = []
        for name in names:
            x = ident(name)
            parts.append(
                f"count({x}), approx_count_distinct({x}), avg({x}), stddev_samp({x}), min({x}), max({x}), "
                f"{quantile}({x}, {QUANTILES})"
            )
        found = list(self.one(f"SELECT {', '.join(parts)} FROM {self.view}"))
        # Exact distinct counts cost a hash table of every value; only small ones decide anything (the default
        # method treats <= 5 distinct numbers as categories), so only those are counted exactly.
        few = [index for index, _ in enumerate(names) if found[index * 7 + 1] <= EXACT_DISTINCT_BELOW]
        if few:
            exact = self.one(
                "SELECT " + ", ".join(f"count(DISTINCT {ident(names[i])})" for i in few) + f" FROM {self.view}"
            )
            for index, count in zip(few, exact, strict=True):
                found[index * 7 + 1] = count
        stats = {}
        for index, name in enumerate(names):
            count, distinct, mean, std, low, high, quantiles = found[index * 7 : (index + 1) * 7]
            stats[name] = self.side(
                count,
                distinct,
                distinct_exact=index in few,
                mean=_finite(mean),
                std=_finite(std),
                min=_finite(low),
                max=_finite(high),
                **(dict(zip(QUANTILE_FIELDS, map(float, quantiles), strict=True)) if quantiles else {}),
            )
        return stats

    def categorical(self, name: str) -> SideStatistics:
        x = ident(name)
        count, distinct = self.one(f"SELECT count({x}), count(DISTINCT {x}) FROM {self.view}")
        top = self.connection.execute(
            f"SELECT {x} AS v, count(*) AS n FROM {self.view} WHERE {x} IS NOT NULL "
            f"GROUP BY v ORDER BY n DESC, v LIMIT {TOP_CATEGORIES}"
        ).fetchall()
        return self.side(count, distinct, top=[CategoryCount(value=v, count=n, ratio=n / count) for v, n in top])

    def side(self, count: int, distinct: int, **figures: Any) -> SideStatistics:
        """One column on this side: its counts over the side's rows, then the figures of its kind."""
        nulls = self.rows - count
        return SideStatistics(
            rows=self.rows,
            count=count,
            nulls=nulls,
            null_ratio=nulls / self.rows if self.rows else 0.0,
            distinct=distinct,
            **figures,
        )

    def histograms(self, ranges: dict[str, tuple[float, float]]) -> dict[str, Histogram]:
        """Counts over the same bins on both sides (numpy's histogram over the shared range), in one pass."""
        if not ranges:
            return {}
        parts = [
            f"histogram({_bin(ident(name), low, high)}) FILTER (WHERE {ident(name)} IS NOT NULL)"
            for name, (low, high) in ranges.items()
        ]
        found = self.one(f"SELECT {', '.join(parts)} FROM {self.view}")
        return {
            name: histogram_from(counts, low, high, HISTOGRAM_BINS)
            for (name, (low, high)), counts in zip(ranges.items(), found, strict=True)
        }

    def sample(self, sample_rows: int) -> None:
        """The rows the drift tests read: all of them, or a seeded reservoir sample, kept in a temp table that
        spills."""
        draw = (
            f" USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE ({SAMPLE_SEED})"
            if self.rows > sample_rows
            else ""
        )
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {self.sample_table} AS SELECT * FROM {self.view}{draw}")
        self.test_rows = int(self.one(f"SELECT count(*) FROM {self.sample_table}")[0])

    def sampled_values(self, name: str, kind: ColumnKind) -> pd.Series:
        table = self.connection.sql(f"SELECT {ident(name)} FROM {self.sample_table}").to_arrow_table()
        column = table.column(0)
        if kind is ColumnKind.NUMERIC:
            return pd.Series(column.to_numpy(zero_copy_only=False), dtype="float64")
        values: pd.Series = column.to_pandas()  # (pyarrow is untyped)
        return values.astype("object")  # text, None where missing


def _bin(value: str, low: float, high: float) -> str:
    """The overlay bin of each value over np.linspace(low, high) edges (for drawing: a value on an edge may land
    one bin off numpy's choice; the drift tests never see bins)."""
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return (
        f"least(CAST(floor(({value} - {low!r}) * {HISTOGRAM_BINS / (high - low)!r}) AS BIGINT), {HISTOGRAM_BINS - 1})"
    )


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def compare_files(
    *,
    reference: Path,
    current: Path,
    columns: list[Planned],
    sample_rows: int,
    memory_mb: int,
    scratch_dir: Path | None,
    log: Callable[[str], None] = lambda _m: None,
    checkpoint: Callable[[], None] = lambda: None,
) -> tuple[
    dict[str, tuple[SideStatistics, SideStatistics]],
    dict[str, DriftResult | None],
    dict[str, tuple[Histogram, Histogram]],
    Sampling,
]:
    """Per column the two sides' statistics, its drift test (None when not tested), the histograms of numeric
    columns over shared bins (for the overlays), and how the tests sampled."""
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    try:
        ref = Side(connection, "reference_side", reference, columns, lambda c: c.reference_dtype)
        cur = Side(connection, "current_side", current, columns, lambda c: c.current_dtype)
        numbers = [c.name for c in columns if c.kind is ColumnKind.NUMERIC]
        held = (ref.rows + cur.rows) * len(numbers) * BYTES_PER_QUANTILE_VALUE
        exact = held <= dataplane.engine_memory_mb(memory_mb) * MB // 2
        log(
            f"Reading {len(columns)} column(s): {ref.rows:,} reference and {cur.rows:,} current rows; quantiles "
            + ("exact" if exact else "by T-Digest (the numbers would not fit the job's memory)")
        )
        stats_ref, stats_cur = ref.numeric(numbers, exact), cur.numeric(numbers, exact)
        checkpoint()
        for column in columns:
            if column.kind is ColumnKind.CATEGORICAL:
                stats_ref[column.name], stats_cur[column.name] = (
                    ref.categorical(column.name),
                    cur.categorical(column.name),
                )
        ranges = {}
        for name in numbers:
            lows = [v for v in (stats_ref[name].min, stats_cur[name].min) if v is not None]
            highs = [v for v in (stats_ref[name].max, stats_cur[name].max) if v is not None]
            if lows:
                ranges[name] = (min(lows), max(highs))
        hist_ref, hist_cur = ref.histograms(ranges), cur.histograms(ranges)
        checkpoint()
        ref.sample(sample_rows)
        cur.sample(sample_rows)
        sampled = ref.rows > sample_rows or cur.rows > sample_rows
        if sampled:
            log(
                f"Drift tests read a seeded reservoir sample of at most {sample_rows:,} rows per side "
                f"({ref.test_rows:,} reference, {cur.test_rows:,} current)"
            )
        tests: dict[str, DriftResult | None] = {}
        for column in columns:
            tests[column.name] = _test(ref, cur, column, stats_ref[column.name]) if column.test else None
            checkpoint()
    finally:
        connection.close()
    sampling = Sampling(
        sample_rows=sample_rows,
        sampled=sampled,
        reference_rows=ref.rows,
        current_rows=cur.rows,
        reference_test_rows=ref.test_rows,
        current_test_rows=cur.test_rows,
        method="RESERVOIR" if sampled else "ALL_ROWS",
        seed=SAMPLE_SEED,
        quantiles_exact=exact,
    )
    statistics = {c.name: (stats_ref[c.name], stats_cur[c.name]) for c in columns}
    histograms = {name: (hist_ref[name], hist_cur[name]) for name in ranges}
    return statistics, tests, histograms, sampling


def _test(ref: Side, cur: Side, column: Planned, reference_stats: SideStatistics) -> DriftResult:
    numeric = column.kind is ColumnKind.NUMERIC
    # The method is chosen from the whole reference (its size and distinct values), as Evidently chooses it.
    method = (
        drift.DriftMethod(column.method)
        if column.method
        else drift.choose_method(
            numeric=numeric, reference_rows=reference_stats.count, distinct_values=reference_stats.distinct or 0
        )
    )
    found = drift.drift_test(
        ref.sampled_values(column.name, column.kind),
        cur.sampled_values(column.name, column.kind),
        numeric=numeric,
        method=method,
        threshold=column.threshold,
        column=column.name,
    )
    return DriftResult(**found.figures(), score=found.score, chosen_by="USER" if column.method else "DEFAULT")
