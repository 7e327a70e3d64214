"""The canonical Parquet copy: how it is written, whole or batch by batch."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_SIZE = 128 * 1024  # small enough for cheap row previews, large enough to write fast
# A row group is also bounded in bytes: the engine reads a column chunk whole, one per thread, so with 128k rows
# of 200-character notes (27 MB a chunk) a small job budget cannot even scan the column (DuckDB at 64 MB).
COLUMN_CHUNK_BYTES = 8 * 1024 * 1024
ROW_GROUP_BYTES = 128 * 1024 * 1024  # the whole group (rows(offset, limit) reads every column): wide tables


def rows_per_group(data: pa.Table | pa.RecordBatch) -> int:
    """ROW_GROUP_SIZE rows, fewer when a column chunk or the whole group would exceed its byte bound.

    Judged on `data` in memory (Arrow's sizes, about what a reader decodes); typical columns are far below the
    bounds, so only long text and very wide tables get smaller groups."""
    if data.num_rows == 0:
        return ROW_GROUP_SIZE
    widest = max((column.nbytes for column in data.columns), default=0)
    limits = [ROW_GROUP_SIZE]
    if widest:
        limits.append(COLUMN_CHUNK_BYTES * data.num_rows // widest)
    if data.nbytes:
        limits.append(ROW_GROUP_BYTES * data.num_rows // data.nbytes)
    return max(1, min(limits))


def _string_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


def write_parquet(table: pa.Table, path: Path) -> None:
    """Snappy, with dictionary encoding only for strings: numbers rarely repeat and it costs a third of the time."""
    pq.write_table(
        table,
        path,
        row_group_size=rows_per_group(table),
        compression="snappy",
        use_dictionary=_string_columns(table.schema),
    )


QUEUED_BYTES = 48 * 1024 * 1024  # batches waiting for the writer: bounded by size, so a job's memory is too


class ParquetBatchWriter:
    """Writes batches on a thread (Parquet encoding releases the GIL) in row groups of `rows_per_group` rows.

    Used as a context manager: leaving it waits for the last row group; a failure on the thread
    is raised there. At most QUEUED_BYTES of batches wait (or one batch, when larger).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._batches: queue.Queue[pa.RecordBatch | None] = queue.Queue()  # None: the last one
        self._queued = 0
        self._room = threading.Condition()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._write_all, name="parquet-writer", daemon=True)

    def __enter__(self) -> ParquetBatchWriter:
        self._thread.start()
        return self

    def add(self, data: pa.RecordBatch | pa.Table) -> None:
        if self._failure is not None:
            raise self._failure
        for batch in data.to_batches() if isinstance(data, pa.Table) else [data]:
            with self._room:
                while self._queued and self._queued + batch.nbytes > QUEUED_BYTES and self._failure is None:
                    self._room.wait(0.1)
                self._queued += batch.nbytes
            self._batches.put(batch)

    def __exit__(self, *exc_info: object) -> None:
        self._batches.put(None)
        self._thread.join()
        if self._failure is not None and exc_info[0] is None:
            raise self._failure

    def _write_all(self) -> None:
        writer: pq.ParquetWriter | None = None
        pending: list[pa.RecordBatch] = []
        group_rows = ROW_GROUP_SIZE  # judged again on each group written, from the rows it holds
        done = False
        try:
            while not done:
                batch = self._batches.get()
                done = batch is None
                if batch is not None:
                    pending.append(batch)
                    with self._room:
                        self._queued -= batch.nbytes
                        self._room.notify_all()
                if pending and (
                    done
                    or sum(b.num_rows for b in pending) >= group_rows
                    or sum(b.nbytes for b in pending) >= ROW_GROUP_BYTES
                ):
                    table = pa.Table.from_batches(pending)
                    if writer is None:
                        writer = pq.ParquetWriter(
                            self.path, table.schema, compression="snappy", use_dictionary=_string_columns(table.schema)
                        )
                    group_rows = rows_per_group(table)
                    writer.write_table(table, row_group_size=group_rows)
                    pending = []
        except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread
            self._failure = exc
            while not done:  # keep taking batches so the producer never blocks
                done = self._batches.get() is None
        finally:
            if writer is not None:
                writer.close()
