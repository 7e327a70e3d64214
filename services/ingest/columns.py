"""Column types of a Parquet copy too large to hold: the same judgement as for a table in memory, streamed.

One pass over the row groups gathers each column's nulls, integer bounds, whether a null-free
integer only increases, and the same evenly spaced sample `types._sample` takes (the non-null
counts come from the footer first, so the spacing is known before the pass). The one exact check
that needs every value at once — are all values distinct? — is asked of DuckDB, held to the job's
budget and spilling to its scratch dir, and only for a column whose sample could be an identifier.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services import dataplane
from services.ingest.types import SAMPLE_SIZE, ColumnFacts, IntegerBounds, physical_dtype, semantic_type

BATCH_ROWS = 65_536
READ_BUFFER = 1 << 20


class _Tally:
    """One column's running facts over the batches."""

    def __init__(self, arrow_type: pa.DataType, non_null: int) -> None:
        self.type = arrow_type
        self.step = max(1, non_null // SAMPLE_SIZE)
        self.seen = 0  # non-null values passed so far
        self.picked: list[pa.Array] = []
        self.nulls = 0
        self.low: int | None = None
        self.high: int | None = None
        self.increasing = True
        self.last: int | None = None  # the batch before's last value, for `increasing`

    def is_increasing(self) -> bool:
        return self.increasing

    def add(self, column: pa.Array) -> None:
        self.nulls += column.null_count
        values = pc.drop_null(column) if column.null_count else column
        first = (-self.seen) % self.step  # the first index in this batch that falls on the spacing
        if first < len(values):
            self.picked.append(values.take(np.arange(first, len(values), self.step)))
        self.seen += len(values)
        if pa.types.is_integer(self.type) and len(values):
            bounds = pc.min_max(values).as_py()
            self.low = bounds["min"] if self.low is None else min(self.low, bounds["min"])
            self.high = bounds["max"] if self.high is None else max(self.high, bounds["max"])
            if self.increasing:
                array = values.to_numpy()
                self.increasing = bool(np.all(array[1:] > array[:-1])) and (self.last is None or array[0] > self.last)
                self.last = array[-1]


def describe_parquet(path: Path, *, memory_mb: int, scratch_dir: Path | None) -> list[dict[str, Any]]:
    """describe_columns for the Parquet file at `path`, holding one batch and the samples at a time."""
    parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER)  # (pre-buffering doubled the peak)
    schema, metadata = parquet.schema_arrow, parquet.metadata
    rows = metadata.num_rows
    non_null = _non_null_counts(parquet)
    tallies = [_Tally(field.type, non_null[index]) for index, field in enumerate(schema)]
    for batch in dataplane.batches(parquet, batch_rows=BATCH_ROWS):
        for tally, column in zip(tallies, batch.columns, strict=True):
            tally.add(column)
    engine: duckdb.DuckDBPyConnection | None = None

    def count_distinct(name: str) -> int:
        nonlocal engine
        engine = engine or dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
        quoted = '"' + name.replace('"', '""') + '"'
        row = engine.execute(f"SELECT count(DISTINCT {quoted}) FROM {dataplane.parquet_source(path)}").fetchone()  # noqa: S608 — name quoted above
        assert row is not None  # a count always has its row
        return int(row[0])

    described: list[dict[str, Any]] = []
    try:
        for index, (field, tally) in enumerate(zip(schema, tallies, strict=True)):
            sample = pa.concat_arrays(tally.picked) if tally.picked else pa.array([], field.type)
            bounds = (
                IntegerBounds(min=tally.low, max=tally.high)
                if tally.low is not None and tally.high is not None
                else None
            )
            facts = ColumnFacts(
                field.type, rows, tally.nulls, sample, bounds, tally.is_increasing, partial(count_distinct, field.name)
            )
            described.append(
                {
                    "name": field.name,
                    "index": index,
                    "semantic_type": semantic_type(field.name, facts),
                    "dtype": physical_dtype(field.type),
                    "null_count": tally.nulls,
                }
            )
    finally:
        if engine is not None:
            engine.close()
    return described


def _non_null_counts(parquet: pq.ParquetFile) -> list[int]:
    """Per column, its non-null values, from the footer's statistics (read from the data where one lacks them)."""
    metadata = parquet.metadata
    if metadata.num_columns != len(parquet.schema_arrow):  # nested columns: leaves are not columns
        return _counted_non_null(parquet)
    counts = []
    for index in range(metadata.num_columns):
        total = 0
        for group in range(metadata.num_row_groups):
            chunk = metadata.row_group(group).column(index)
            stats = chunk.statistics
            if stats is None or not stats.has_null_count:
                return _counted_non_null(parquet)
            total += metadata.row_group(group).num_rows - stats.null_count
        counts.append(total)
    return counts


def _counted_non_null(parquet: pq.ParquetFile) -> list[int]:
    counts = [0] * parquet.metadata.num_columns
    for batch in dataplane.batches(parquet, batch_rows=BATCH_ROWS):
        for index, column in enumerate(batch.columns):
            counts[index] += len(column) - column.null_count
    return counts
