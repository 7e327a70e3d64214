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
import threading
from pathlib import Path

import duckdb

from services.errors import ErrorCode, ServiceError

# DuckDB's share of the job's budget; the remainder covers the interpreter, Arrow results and libraries.
ENGINE_SHARE = 0.6
MIN_ENGINE_MB = 64


def engine_memory_mb(budget_mb: int) -> int:
    return max(MIN_ENGINE_MB, int(budget_mb * ENGINE_SHARE))


def connect(*, memory_mb: int, scratch_dir: Path | None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that keeps within `memory_mb` and spills to `scratch_dir`."""
    connection = duckdb.connect(config={
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    })
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
    return "read_parquet('" + str(path).replace("'", "''") + "'" + (", file_row_number = true" if row_numbers else "") + ")"


def over_budget(memory_mb: int, what: str) -> ServiceError:
    """The typed error of a job that could not keep within its budget, even spilling."""
    return ServiceError(ErrorCode.PAYLOAD_TOO_LARGE,
                        f"{what} needs more memory than the job's budget of {memory_mb:,} MB allows, even spilling "
                        "to disk; raise ASSAY_JOB_MEMORY_MB", details={"memory_mb": memory_mb})


class SpillWatch:
    """The most the engine kept in the scratch dir at once, sampled every few milliseconds from a thread
    (DuckDB removes its spill files as soon as it can, so only a sample catches them)."""

    def __init__(self, scratch_dir: Path | None, interval: float = 0.02) -> None:
        self.scratch_dir, self.interval = scratch_dir, interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, _size(self.scratch_dir))

    def __enter__(self) -> "SpillWatch":
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
