"""The out-of-core columnar engine under job bodies: DuckDB, held to the job's memory budget.

Job bodies never assume a table fits in memory. They query the Parquet copy through a connection from
`connect`, which caps DuckDB's memory at a share of the job's budget (the rest is left for Python,
Arrow batches handed back and the libraries a body calls) and lets it spill to the job's scratch dir.
Only extensions compiled into the wheel are used: autoloading and autoinstalling are switched off, so
nothing is ever downloaded at run time.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from services import errors
from services.errors import ServiceError

if TYPE_CHECKING:
    import pandas as pd

# DuckDB's share of the job's budget; the remainder covers the interpreter, Arrow results and libraries.
ENGINE_SHARE = 0.6
MIN_ENGINE_MB = 64


def engine_memory_mb(budget_mb: int) -> int:
    return max(MIN_ENGINE_MB, int(budget_mb * ENGINE_SHARE))


def connect(*, memory_mb: int, scratch_dir: Path | None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that keeps within `memory_mb` and spills to `scratch_dir`."""
    connection = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    connection.execute(f"SET memory_limit = '{engine_memory_mb(memory_mb)}MB'")
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
        connection.execute("SET temp_directory = ?", [str(scratch_dir)])
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    # Insertion order is not needed for aggregates and lets DuckDB stream and spill more freely.
    connection.execute("SET preserve_insertion_order = false")
    connection.execute("SET enable_progress_bar = false")  # it would print to the job's stdout
    return connection


def parquet_source(path: Path, *, row_numbers: bool = False) -> str:
    """A table expression over one Parquet file, for use inside SQL (the path is ours, never a user's);
    `row_numbers` adds DuckDB's `file_row_number` column (the row's position in the file)."""
    return (
        "read_parquet('"
        + str(path).replace("'", "''")
        + "'"
        + (", file_row_number = true" if row_numbers else "")
        + ")"
    )


def numbers_rows(path: Path) -> bool:
    """Whether `parquet_source(path, row_numbers=True)` can add DuckDB's `file_row_number`: not when the file has a
    column of that name (a user's column; DuckDB refuses the option then)."""
    return "file_row_number" not in pq.read_schema(path).names


def require_row_numbers(path: Path, what: str, field: list[str] | None = None) -> None:
    """INVALID_INPUT when work that keeps file order by DuckDB's row number meets a column of that name."""
    if not numbers_rows(path):
        raise errors.invalid(
            f"{what} cannot read a dataset with a column named file_row_number (DuckDB's name for a row's position "
            "in the file): rename that column first",
            field,
        )


def over_budget(
    memory_mb: int,
    what: str,
    cause: BaseException | None = None,
    *,
    setting: str = "ASSAY_JOB_MEMORY_MB",
    field: list[str] | None = None,
) -> ServiceError:
    """OVER_BUDGET for work that could not keep within the job's budget even spilling; from DuckDB's own
    message ("failed to allocate data of size 16.0 MiB (48.0 MiB/61.0 MiB used)") it estimates the budget
    that would have got past that point: what the engine held plus what it asked for, over its share."""
    needed, detail = engine_need_mb(cause), ""
    if needed is not None:
        detail = f" (the engine needed more than {needed:,.0f} MB, its share being {engine_memory_mb(memory_mb):,} MB)"
    return errors.over_budget(
        memory_mb,
        what,
        detail=detail + ", even spilling to disk",
        setting=setting,
        field=field,
        needed_mb=needed / ENGINE_SHARE if needed is not None else None,
    )


_UNITS = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "TiB": 1024.0**2}
_ALLOCATION = re.compile(r"size ([\d.]+) (\w+) \(([\d.]+) (\w+)/[\d.]+ \w+ used\)")


def engine_need_mb(cause: BaseException | None) -> float | None:
    """The MB DuckDB held plus the MB it failed to get, from its out-of-memory message; None when not said."""
    found = _ALLOCATION.search(str(cause or ""))
    if not found or found[2] not in _UNITS or found[4] not in _UNITS:
        return None
    return float(found[1]) * _UNITS[found[2]] + float(found[3]) * _UNITS[found[4]]


class SpillWatch:
    """The most the engine kept in the scratch dir at once, sampled every few milliseconds from a thread
    (DuckDB removes its spill files as soon as it can, so only a sample catches them)."""

    def __init__(self, scratch_dir: Path | None, interval: float = 0.02) -> None:
        self.scratch_dir, self.interval = scratch_dir, interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        if self.scratch_dir is None:  # (never started then)
            return
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, _size(self.scratch_dir))

    def __enter__(self) -> SpillWatch:
        if self.scratch_dir is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.scratch_dir is not None:
            self._stop.set()
            self._thread.join()


def _size(folder: Path) -> int:
    total = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    total += entry.stat().st_size if entry.is_file() else _size(Path(entry.path))
    except OSError:
        pass
    return total


def batches(parquet: pq.ParquetFile, *, batch_rows: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The file's rows in batches of at most `batch_rows`, one row group decoded at a time. pyarrow's
    `iter_batches` over a whole file kept ~16 MB more for every 200,000 rows it returned (1.9 GB after 20M
    rows of a 20-column table, measured in bench/RESULTS.md); reading row group by row group stays flat."""
    for group in range(parquet.num_row_groups):
        yield from parquet.read_row_group(group, columns=columns).to_batches(max_chunksize=batch_rows)


def sampled_frame(
    path: Path, columns: list[str], size: int, *, seed: int = 0, batch_rows: int = 65_536
) -> pd.DataFrame:
    """What `read(columns).to_pandas().sample(min(size, rows), random_state=seed)` gives (the same rows, order
    and index) without holding the table: the positions are drawn as pandas draws them (8 bytes a row, for the
    draw only), then each streamed batch keeps only its drawn rows."""
    import numpy as np

    parquet = pq.ParquetFile(path)
    rows = parquet.metadata.num_rows
    drawn = np.random.RandomState(seed).choice(rows, size=min(size, rows), replace=False)
    wanted = np.sort(drawn)
    taken, start = [], 0
    for batch in batches(parquet, columns=columns, batch_rows=batch_rows):
        end = start + batch.num_rows
        low, high = np.searchsorted(wanted, [start, end])
        if high > low:
            taken.append(pa.Table.from_batches([batch]).take(pa.array(wanted[low:high] - start)))
        start = end
    schema = parquet.schema_arrow
    table = pa.concat_tables(taken) if taken else pa.schema([schema.field(name) for name in columns]).empty_table()
    frame: pd.DataFrame = table.to_pandas(date_as_object=False)
    frame.index = wanted
    picked: pd.DataFrame = frame.loc[drawn]
    return picked
