"""The canonical Parquet copy: how it is written, whole or batch by batch."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_SIZE = 128 * 1024  # small enough for cheap row previews, large enough to write fast


def _string_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


def write_parquet(table: pa.Table, path: Path) -> None:
    """Snappy, with dictionary encoding only for strings: numbers rarely repeat and it costs a third of the time."""
    pq.write_table(
        table, path, row_group_size=ROW_GROUP_SIZE, compression="snappy", use_dictionary=_string_columns(table.schema)
    )


QUEUED_BYTES = 48 * 1024 * 1024  # batches waiting for the writer: bounded by size, so a job's memory is too


class ParquetBatchWriter:
    """Writes batches on a thread (Parquet encoding releases the GIL) in row groups of ROW_GROUP_SIZE rows.

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
                if pending and (done or sum(b.num_rows for b in pending) >= ROW_GROUP_SIZE):
                    table = pa.Table.from_batches(pending)
                    if writer is None:
                        writer = pq.ParquetWriter(
                            self.path, table.schema, compression="snappy", use_dictionary=_string_columns(table.schema)
                        )
                    writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
                    pending = []
        except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread
            self._failure = exc
            while not done:  # keep taking batches so the producer never blocks
                done = self._batches.get() is None
        finally:
            if writer is not None:
                writer.close()
