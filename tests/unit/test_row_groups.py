"""The canonical Parquet copy's row groups are bounded in bytes as well as rows (services/ingest/parquet.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from services.ingest.parquet import (
    COLUMN_CHUNK_BYTES,
    ROW_GROUP_BYTES,
    ROW_GROUP_SIZE,
    ParquetBatchWriter,
    rows_per_group,
    write_parquet,
)

LONG_TEXT_ROWS = 300_000


def long_notes(rows: int) -> pa.Table:
    """200-character notes beside a number: 128k of them make a 27 MB column chunk."""
    rng = np.random.default_rng(3)
    stems = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 200)) for _ in range(500)]
    return pa.table(
        {"note": [f"{stems[i % 500]}{i}" for i in range(rows)], "value": rng.normal(size=rows)},
    )


def groups(path: Path) -> list[tuple[int, int]]:
    """(rows, the largest uncompressed column chunk) of each row group."""
    metadata = pq.ParquetFile(path).metadata
    return [
        (
            metadata.row_group(g).num_rows,
            max(metadata.row_group(g).column(c).total_uncompressed_size for c in range(metadata.num_columns)),
        )
        for g in range(metadata.num_row_groups)
    ]


def test_ordinary_columns_keep_full_row_groups(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = pa.table({"x": rng.normal(size=300_000), "category": rng.choice(["a", "b", "c"], 300_000)})
    assert rows_per_group(table) == ROW_GROUP_SIZE
    write_parquet(table, tmp_path / "plain.parquet")
    assert [rows for rows, _ in groups(tmp_path / "plain.parquet")] == [ROW_GROUP_SIZE, ROW_GROUP_SIZE, 37_856]


def test_long_text_gets_smaller_row_groups_written_whole_or_by_batch(tmp_path: Path) -> None:
    table = long_notes(LONG_TEXT_ROWS)
    write_parquet(table, tmp_path / "whole.parquet")
    with ParquetBatchWriter(tmp_path / "batches.parquet") as writer:
        for batch in table.to_batches(max_chunksize=10_000):
            writer.add(batch)
    for path in (tmp_path / "whole.parquet", tmp_path / "batches.parquet"):
        written = groups(path)
        assert sum(rows for rows, _ in written) == LONG_TEXT_ROWS
        assert all(rows < ROW_GROUP_SIZE for rows, _ in written)
        # Parquet's own encoding adds a little to Arrow's size: within a tenth of the bound
        assert max(chunk for _, chunk in written) <= COLUMN_CHUNK_BYTES * 1.1, written
        assert pq.read_table(path).equals(table)


def test_a_small_engine_budget_can_scan_a_long_text_column(tmp_path: Path) -> None:
    """The reason for the bound: DuckDB reads a column chunk whole per thread; at 64 MB of job budget (the
    engine's share ~38 MB) 27 MB chunks could not be scanned at all ("could not allocate block")."""
    path = tmp_path / "notes.parquet"
    write_parquet(long_notes(LONG_TEXT_ROWS), path)
    connection = duckdb.connect(
        config={"memory_limit": "38MB", "threads": 2, "temp_directory": str(tmp_path / "spill")}
    )
    (distinct, shortest) = connection.execute(
        f"SELECT approx_count_distinct(note), min(length(note)) FROM read_parquet('{path}')"
    ).fetchone() or (0, 0)
    assert shortest == 201
    assert abs(distinct - LONG_TEXT_ROWS) < 0.05 * LONG_TEXT_ROWS


def test_wide_rows_bound_the_whole_group() -> None:
    """600 float columns: 4,800 bytes a row, so the whole-group bound (not the column one) decides."""
    rows = 30_000
    table = pa.table({f"c{i}": np.zeros(rows) for i in range(600)})
    assert rows_per_group(table) == ROW_GROUP_BYTES * rows // table.nbytes
    assert rows_per_group(table) < rows
