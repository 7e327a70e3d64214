"""A job process's backstop against running out of memory: it fails the job with OVER_BUDGET instead.

Job bodies keep within their budget by design (they stream, let DuckDB spill, or sample). This guard is for
when one does not. Two limits, both generous enough for what numpy, BLAS, DuckDB and glibc reserve but
never touch (measured: a worker maps about 1.2 GB more than it has resident):

- a ceiling on the data the process may map (RLIMIT_DATA), set when the job starts: what it had mapped
  then plus twice the hard limit below. A single allocation far beyond the budget fails at once;
- the hard limit on resident memory: what the process held when the job started plus twice the budget
  (at least the budget plus 512 MB). A thread samples it every few milliseconds; once it is passed, the
  ceiling is lowered to what is mapped now (plus a little, for the error's own report), so the next
  allocation fails.

A failed allocation is a MemoryError in Python, numpy and pandas, and an OutOfMemoryException in DuckDB:
the body unwinds through its `finally` blocks and atomic outputs, so nothing half-written is left, and the
job fails with OVER_BUDGET naming the budget, rather than the kernel's OOM killer ending the process.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from typing import Any

from services.errors import ServiceError, over_budget

MB = 2**20
HARD_FACTOR = 2  # the hard limit: the budget this many times over ...
HARD_MIN_EXTRA_MB = 512  # ... and at least the budget plus this much (room for libraries on a small budget)
REPORT_HEADROOM_MB = 32  # left mappable after the limit is reached, so the failure can still be reported
INTERVAL_SECONDS = 0.02
_PAGE = os.sysconf("SC_PAGE_SIZE")


def hard_limit_mb(memory_mb: int) -> int:
    """How far above its starting size a job process may grow before its allocations are made to fail."""
    return max(HARD_FACTOR * memory_mb, memory_mb + HARD_MIN_EXTRA_MB)


def _statm() -> tuple[int, int]:
    """(resident bytes, data bytes) of this process."""
    with open("/proc/self/statm") as statm:
        fields = statm.read().split()
    return int(fields[1]) * _PAGE, int(fields[5]) * _PAGE


class MemoryGuard:
    """Started in the job process before the body runs; `error` turns the failure it caused into OVER_BUDGET."""

    def __init__(self, memory_mb: int, interval: float = INTERVAL_SECONDS) -> None:
        self.memory_mb, self.interval = memory_mb, interval
        self.start_rss, start_data = _statm()
        self.limit_bytes = self.start_rss + hard_limit_mb(memory_mb) * MB
        self.tripped_at: int | None = None  # the resident bytes when the hard limit was passed
        self.peak_rss = self.start_rss
        self._original = resource.getrlimit(resource.RLIMIT_DATA)
        self._ceiling = start_data + 2 * hard_limit_mb(memory_mb) * MB
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="assay-memory-guard", daemon=True)

    def __enter__(self) -> MemoryGuard:
        self._set_data_limit(self._ceiling)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.release()

    def release(self) -> None:
        """The process's own limit back, so the failure (and whatever follows) can be reported."""
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, self._original)

    def _set_data_limit(self, limit: int) -> None:
        hard = self._original[1]
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        current = self._original[0]
        if current != resource.RLIM_INFINITY:
            limit = min(limit, current)  # never looser than the limit the process was given
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            rss, data = _statm()
            self.peak_rss = max(self.peak_rss, rss)
            if self.tripped_at is None and rss > self.limit_bytes:
                self.tripped_at = rss
                self._set_data_limit(data + REPORT_HEADROOM_MB * MB)

    def error(self, exc: BaseException) -> ServiceError | None:
        """OVER_BUDGET for a failure to get memory (or any failure once the hard limit was passed), else None."""
        cause = out_of_memory_cause(exc)
        if self.tripped_at is None and cause is None:
            return None
        self.release()
        if self.tripped_at is None and not isinstance(cause, MemoryError):  # DuckDB at its own memory_limit
            from services import dataplane

            return dataplane.over_budget(self.memory_mb, "The job", cause)
        grown = (max(self.peak_rss, self.tripped_at or 0) - self.start_rss) / MB
        hard = hard_limit_mb(self.memory_mb)
        if self.tripped_at is not None:
            detail = f": it grew by {grown:,.0f} MB and was stopped at its hard limit of {hard:,} MB above its start"
        else:
            detail = (
                f": an allocation was refused {grown:,.0f} MB above its start (a job may map at most "
                f"{2 * hard:,} MB more than it started with)"
            )
        return over_budget(self.memory_mb, "The job", detail=f"{detail} ({type(cause or exc).__name__})")

    def summary(self) -> dict[str, Any]:
        return {
            "start_mb": round(self.start_rss / MB),
            "peak_mb": round(self.peak_rss / MB),
            "limit_mb": round(self.limit_bytes / MB),
            "tripped": self.tripped_at is not None,
        }


def out_of_memory_cause(exc: BaseException | None) -> BaseException | None:
    """The failure to get memory in `exc`'s chain of causes: Python's MemoryError (numpy, pandas) or DuckDB's
    OutOfMemoryException (matched by name: this package imports no engine); None when there is none."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, MemoryError) or (
            type(exc).__name__ == "OutOfMemoryException" and type(exc).__module__.lstrip("_").startswith("duckdb")
        ):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None
