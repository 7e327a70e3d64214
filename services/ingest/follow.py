"""Ingest a file while it is still arriving: the upload path writes it, the INGEST job follows it.

The request that streams the upload to disk and the worker that parses it may be different
processes (local workers or Celery), so they meet in the data directory: the upload path
appends to the dataset's `original` file and, when the body ends, writes a state file beside
it — `complete <bytes>` or `aborted <reason>` (atomically, by rename). Until that file exists the
upload is still arriving. The job asks `FollowedFile.wait_for(n)` for the bytes it needs next;
it fails with a clear reason when the upload was cut off, or stopped growing for
`stall_seconds` without an ending (the server died mid-upload): never a job stuck RUNNING.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from services.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

POLL_SECONDS = 0.01
COMPLETE, ABORTED = "complete", "aborted"


def write_upload_state(state_path: Path, outcome: str, detail: str) -> None:
    """Written by the upload path once the body has ended (or failed); readers see all of it or none."""
    temporary = state_path.with_name(state_path.name + ".tmp")
    temporary.write_text(f"{outcome} {detail}")
    os.replace(temporary, state_path)


class UploadCutOff(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.PARSE_ERROR, message)


class FollowedFile:
    """A file that may still be growing; with no state file to watch, it is already complete."""

    def __init__(self, path: Path, state_path: Path | None = None, *, stall_seconds: float = 60.0) -> None:
        self.path = path
        self.state_path = state_path
        self.stall_seconds = stall_seconds
        self.final_size: int | None = None if state_path is not None else path.stat().st_size
        self.waited = 0.0  # seconds spent waiting for bytes (for the job log)

    @property
    def complete(self) -> bool:
        return self.final_size is not None

    def wait_for(self, size: int) -> int:
        """Block until `size` bytes are on disk or the upload is complete; return how many are there."""
        if self.final_size is not None:
            return self.final_size
        started = last_growth = time.monotonic()
        last_size = -1
        while True:
            try:
                current = os.stat(self.path).st_size
            except FileNotFoundError as exc:  # the dataset was deleted under the job
                raise UploadCutOff("The upload's file was removed before it had arrived") from exc
            if current >= size:
                self.waited += time.monotonic() - started
                return current
            final_size = self._read_state(current)
            if final_size is not None:
                self.waited += time.monotonic() - started
                return final_size
            now = time.monotonic()
            if current != last_size:
                last_size, last_growth = current, now
            elif now - last_growth > self.stall_seconds:
                raise UploadCutOff(
                    f"The upload stopped arriving after {current:,} bytes (nothing for {self.stall_seconds:g} s)"
                )
            time.sleep(POLL_SECONDS)

    def wait_complete(self) -> int:
        while self.final_size is None:
            self.wait_for(1 << 62)
        return self.final_size

    def _read_state(self, current: int) -> int | None:
        """The final size once the upload has ended well; None while it is still arriving."""
        if self.state_path is None:  # nothing to watch: complete from the start
            return self.final_size
        try:
            outcome, _, detail = self.state_path.read_text().partition(" ")
        except FileNotFoundError:
            return None
        if outcome == COMPLETE:
            self.final_size = int(detail)
            return self.final_size
        raise UploadCutOff(f"The upload was cut off after {current:,} bytes ({detail})")

    def open(self) -> io.RawIOBase:
        """A raw reader of the file that waits for bytes still to come instead of seeing an early end."""
        return _FollowingReader(self)


class _FollowingReader(io.RawIOBase):
    def __init__(self, followed: FollowedFile) -> None:
        self._followed = followed
        self._file = followed.path.open("rb", buffering=0)
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        available = self._followed.wait_for(self._position + 1)
        if available <= self._position:
            return 0
        count = self._file.readinto(memoryview(buffer)[: available - self._position])
        self._position += count or 0
        return count or 0

    def close(self) -> None:
        self._file.close()
        super().close()
