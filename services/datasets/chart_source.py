"""One chart's view of a dataset's Parquet copy: SQL over it in DuckDB (held to the memory budget, spilling to a
scratch dir of its own), or its columns read straight from the file."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from services import dataplane


class Source:
    """One chart's view of the Parquet copy: SQL over it in DuckDB, or its columns streamed in batches."""

    def __init__(self, path: Path, connection: Any, memory_mb: int) -> None:
        self.path, self.connection, self.memory_mb = path, connection, memory_mb
        self.schema = pq.read_schema(path)
        self.table = dataplane.parquet_source(path)

    def column(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def kind(self, name: str) -> pa.DataType:
        return self.schema.field(name).type

    def present(self, name: str) -> str:
        """SQL: the value is there (not null; for floats, also not NaN, as pandas counts NaN as missing)."""
        column = self.column(name)
        if pa.types.is_floating(self.kind(name)):
            return f"({column} IS NOT NULL AND NOT isnan({column}))"
        return f"{column} IS NOT NULL"

    def number(self, name: str) -> str:
        """SQL: the value as a double, NaN as NULL; times as epoch seconds (whole, as datetime64[s] had them)."""
        column, kind = self.column(name), self.kind(name)
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return f"floor(epoch_us(CAST({column} AS TIMESTAMP{'TZ' if getattr(kind, 'tz', None) else ''})) / 1e6)"
        return f"(CASE WHEN isnan(CAST({column} AS DOUBLE)) THEN NULL ELSE CAST({column} AS DOUBLE) END)"

    def line_x(self, name: str) -> str:
        """SQL: x as the number the line is shaped on (times in epoch nanoseconds, as pandas' int64 view)."""
        kind = self.kind(name)
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return (
                f"CAST(epoch_ns(CAST({self.column(name)} AS "
                f"TIMESTAMP{'TZ' if getattr(kind, 'tz', None) else ''})) AS DOUBLE)"
            )
        return self.number(name)

    def one(self, sql: str) -> tuple[Any, ...]:
        row: tuple[Any, ...] = self.connection.sql(sql).fetchall()[0]
        return row

    def arrow(self, sql: str, parameters: list[Any] | None = None) -> pa.Table:
        return self.connection.sql(sql, params=parameters or None).to_arrow_table()

    def rows_at(self, columns: list[str], positions: np.ndarray) -> pa.Table:
        """The rows at these file positions (sorted, distinct), in that order, read batch by batch."""
        parquet, taken, start = pq.ParquetFile(self.path), [], 0
        positions = np.asarray(positions, dtype=np.int64)
        for group in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            low, high = np.searchsorted(positions, [start, start + size])
            if high > low:
                taken.append(parquet.read_row_group(group, columns=columns).take(pa.array(positions[low:high] - start)))
            start += size
        return pa.concat_tables(taken) if taken else self.schema_table(columns)

    def schema_table(self, columns: list[str]) -> pa.Table:
        return pa.schema([self.schema.field(c) for c in columns]).empty_table()


@contextmanager
def chart_source(path: Path, *, memory_mb: int, scratch_dir: Path | None) -> Iterator[Source]:
    spill = (scratch_dir / f"chart-{uuid.uuid4().hex}") if scratch_dir else None
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=spill)
    # DuckDB 2.0.1 with insertion order off: execute(...).to_arrow_table() returns ORDER BY results out of order
    # (sql() does not; both are used the safe way here)
    connection.execute("SET preserve_insertion_order = true")
    try:
        yield Source(path, connection, memory_mb)
    except duckdb.OutOfMemoryException as exc:  # (a holistic aggregate, such as MEDIAN, of a huge group)
        raise dataplane.over_budget(memory_mb, "This chart", exc) from exc
    finally:
        connection.close()
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)
