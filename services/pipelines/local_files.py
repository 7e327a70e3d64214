"""The local-file source: CSV files an administrator placed under one of `ASSAY_IMPORT_DIRS`.

A path is resolved (symlinks followed) before it is checked, so a link inside an import directory
that points elsewhere is refused like the path it points to; the check runs when the pipeline is
saved and again when a run opens the file, because the file system can change in between.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from services.errors import ErrorCode, ServiceError, invalid

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")


def import_dirs(text: str) -> list[Path]:
    """The configured directories, resolved; entries that do not exist are left out."""
    entries = (item.strip() for item in text.split(","))
    return [Path(entry).resolve() for entry in entries if entry and Path(entry).is_dir()]


def import_path(path: str, allowed: str, field: list[str]) -> Path:
    """`path` (absolute, or relative to an import directory) as an existing CSV file inside one of them."""
    roots = import_dirs(allowed)
    if not roots:
        raise ServiceError(ErrorCode.FORBIDDEN, "Local files are off: the server sets no ASSAY_IMPORT_DIRS", field)
    given = Path(path)
    candidates = [given] if given.is_absolute() else [root / given for root in roots]
    for candidate in candidates:
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            continue
        if not any(resolved.is_relative_to(root) for root in roots):
            raise ServiceError(ErrorCode.FORBIDDEN, f"{path!r} is outside the import directories", field)
        if not resolved.is_file():
            raise invalid(f"{path!r} is not a file", field)
        if not resolved.name.lower().endswith(CSV_SUFFIXES):
            raise invalid(f"{path!r} is not a CSV file ({', '.join(CSV_SUFFIXES)})", field)
        return resolved
    raise ServiceError(ErrorCode.NOT_FOUND, f"No file {path!r} in the import directories", field)


def read_local_csv(
    path: Path, *, max_records: int, max_decompressed_bytes: int, log: Callable[[str, str], None]
) -> pa.Table:
    """The file through the upload's own detection and reader, so it is typed exactly like an upload."""
    from services.ingest.parse import detect_file_dialect, read_with_dialect

    dialect = detect_file_dialect(path, options={})
    table = read_with_dialect(path, dialect, max_decompressed=max_decompressed_bytes)
    if table.num_rows > max_records:
        raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE, f"More than {max_records:,} records")
    log(f"Read {path.name}: encoding {dialect.encoding}, {table.num_rows:,} row(s)", "INFO")
    return table
