"""What a profile reads: the Parquet copy (column by column, batch by batch, or through DuckDB), or an Arrow
table some caller already holds. Nothing here reads a whole table unless it was handed one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services import dataplane
from services.profiling.large_columns import ident

BATCH_ROWS = 64 * 1024


class ParquetSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = pq.ParquetFile(path)
        self.schema = self.file.schema_arrow
        self.rows = self.file.metadata.num_rows
        self.names = self.schema.names
        self.encoded: frozenset[str] = frozenset()  # read as values, never as dictionary codes
        self._index = {name: index for index, name in enumerate(self.names)}

    @property
    def memory_bytes(self) -> int:
        """The decoded (uncompressed) size of every row group: about what the table takes as Arrow buffers."""
        metadata = self.file.metadata
        return sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))

    def column_bytes(self, name: str) -> int:
        metadata, index = self.file.metadata, self._index[name]
        return sum(metadata.row_group(i).column(index).total_uncompressed_size for i in range(metadata.num_row_groups))

    def null_counts(self) -> dict[str, int] | None:
        """Nulls per column from the Parquet statistics, or None when a row group has none."""
        metadata = self.file.metadata
        counts = dict.fromkeys(self.names, 0)
        for group in range(metadata.num_row_groups):
            for index, name in enumerate(self.names):
                statistics = metadata.row_group(group).column(index).statistics
                if statistics is None or not statistics.has_null_count:
                    return None
                counts[name] += statistics.null_count
        return counts

    def column(self, name: str) -> pa.ChunkedArray:
        return pq.read_table(self.path, columns=[name]).column(0)

    def read(self, names: list[str]) -> pa.Table:
        """Only for callers that know the table is small (at most a sample's rows)."""
        return pq.read_table(self.path, columns=names)

    def batches(self, names: list[str]) -> Iterator[pa.RecordBatch]:
        return dataplane.batches(self.file, batch_rows=BATCH_ROWS, columns=names)

    def attach(self, connection: duckdb.DuckDBPyConnection) -> None:
        connection.execute(f"CREATE OR REPLACE VIEW profiled AS SELECT * FROM {dataplane.parquet_source(self.path)}")

    def rows_every(self, connection: duckdb.DuckDBPyConnection, names: list[str], step: int) -> list[list[bool]]:
        """Null flags of `names` in rows 0, step, 2·step... (the missing-values matrix)."""
        flags = "[" + ", ".join(f"{ident(name)} IS NULL" for name in names) + "]"
        if "file_row_number" in self.names:  # the user's column hides DuckDB's: a seeded sample of rows instead
            return [
                list(row[0])
                for row in connection.execute(
                    f"SELECT {flags} FROM profiled USING SAMPLE reservoir({min(self.rows, 500)} ROWS) REPEATABLE (7)"
                ).fetchall()
            ]
        source = dataplane.parquet_source(self.path, row_numbers=True)
        return [
            list(row[0])
            for row in connection.execute(
                f"SELECT {flags} FROM {source} WHERE file_row_number % {step} = 0 ORDER BY file_row_number"
            ).fetchall()
        ]


class ArrowSource:
    def __init__(self, table: pa.Table, *, memory_bytes: int | None = None, encoded: Iterable[str] = ()) -> None:
        """`memory_bytes`: the size to report, when the table was read from a Parquet file (its measure);
        `encoded`: string columns read as dictionary codes (categories), profiled as their values."""
        self.table = table
        self.encoded = frozenset(encoded)
        self.schema = table.schema
        self.rows = table.num_rows
        self.names = table.column_names
        self._memory_bytes = memory_bytes

    @property
    def memory_bytes(self) -> int:
        return int(self.table.nbytes) if self._memory_bytes is None else self._memory_bytes

    def column_bytes(self, name: str) -> int:
        return int(self.table.column(name).nbytes)

    def null_counts(self) -> dict[str, int]:
        return {name: self.table.column(name).null_count for name in self.names}

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def read(self, names: list[str]) -> pa.Table:
        return self.table.select(names)

    def batches(self, names: list[str]) -> Iterator[pa.RecordBatch]:
        return iter(self.table.select(names).to_batches(BATCH_ROWS))

    def attach(self, connection: duckdb.DuckDBPyConnection) -> None:
        connection.register("profiled", self.table)  # zero-copy: DuckDB scans the Arrow buffers

    def rows_every(self, connection: duckdb.DuckDBPyConnection, names: list[str], step: int) -> list[list[bool]]:
        rows = pa.array(range(0, self.rows, step))
        masks = [pc.is_null(self.table.column(name).take(rows)).to_pylist() for name in names]
        return [list(row) for row in zip(*masks, strict=False)] if masks else []


# What profile_source reads from: a Parquet file column by column, or a table already in memory.
ProfiledSource = ParquetSource | ArrowSource
