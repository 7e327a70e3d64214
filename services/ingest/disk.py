"""Free disk for ingest: refuse what would not fit before storing it, and say so when the disk fills anyway."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from services.errors import ErrorCode, ServiceError

MB = 1024 * 1024
# An ingest keeps the original and writes its Parquet copy beside it (for text, rarely larger than the text).
COPIES_NEEDED = 2


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding `path` (its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def check_room(data_dir: Path, size: int) -> None:
    """PAYLOAD_TOO_LARGE, naming the free space, when a `size`-byte file and its Parquet copy would not fit."""
    free = free_bytes(data_dir)
    if size * COPIES_NEEDED > free:
        raise ServiceError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The file ({size / MB:,.1f} MB) and its Parquet copy need {size * COPIES_NEEDED / MB:,.1f} MB "
            f"of disk, but only {free / MB:,.1f} MB is free",
        )


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC from Python, or Arrow's IOError (which carries the message, not always the errno)."""
    return isinstance(exc, OSError) and (
        exc.errno in (errno.ENOSPC, errno.EDQUOT)
        or "No space left on device" in str(exc)
        or "Disk quota exceeded" in str(exc)
    )


def disk_full(data_dir: Path) -> ServiceError:
    return ServiceError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The disk filled up while writing the dataset "
        f"({free_bytes(data_dir) / MB:,.1f} MB free now); what was written has been removed",
    )
