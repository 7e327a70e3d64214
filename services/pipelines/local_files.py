"""The local-file source: CSV files an administrator placed under one of `ASSAY_IMPORT_DIRS`.

A path is resolved (symlinks followed) before it is checked, so a link inside an import directory
that points elsewhere is refused like the path it points to; the check runs when the pipeline is
saved and again when a run opens the file, because the file system can change in between.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from services.errors import ErrorCode, ServiceError, invalid, over_budget
from services.ingest.detect import CsvDialect
from services.ingest.sniff import read_text_head
from services.pipelines.spill import Spill, fits_the_budget

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
GZIP_RATIO = 6  # as the ingest guesses: how much a gzip text inflates


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
    path: Path,
    *,
    max_records: int,
    max_decompressed_bytes: int,
    log: Callable[[str, str], None],
    spill: Spill | None = None,
    shown: str | None = None,
) -> pa.Table | Path:
    """The file through the upload's own detection and reader, so it is typed exactly like an upload.

    With `spill`, a file whose text would not fit the job's share of its budget is parsed chunk by chunk
    into a scratch Parquet file instead, as a large upload is (services.ingest.stream). `shown`: how the
    log names the file (a downloaded reply: its URL), its name by default.
    """
    shown = shown or path.name
    from services.ingest.parse import detect_file_dialect, read_with_dialect

    dialect = detect_file_dialect(path, options={})
    text_bytes = path.stat().st_size * (GZIP_RATIO if path.name.lower().endswith(".gz") else 1)
    if spill is not None and not fits_the_budget(text_bytes, spill.memory_mb):
        return _streamed(
            path, dialect, spill, max_records=max_records, max_decompressed_bytes=max_decompressed_bytes, shown=shown
        )
    table = read_with_dialect(path, dialect, max_decompressed=max_decompressed_bytes)
    if table.num_rows > max_records:
        raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE, f"More than {max_records:,} records")
    delimiter = {"\t": "tab", "whitespace": "runs of spaces"}.get(dialect.delimiter, repr(dialect.delimiter))
    log(
        f"Read {shown}: encoding {dialect.encoding}, delimiter {delimiter}, "
        f"header {'yes' if dialect.has_header else 'no'}; {table.num_rows:,} row(s)",
        "INFO",
    )
    return table


PREVIEW_BYTES = 2**20  # the text a preview starts from: ~10,000 rows of 100 bytes
MAX_PREVIEW_BYTES = 16 * 2**20  # grown 4x at a time while it holds fewer lines than the preview's rows


def read_local_csv_head(
    path: Path, *, rows: int, max_decompressed_bytes: int, log: Callable[[str, str], None]
) -> pa.Table:
    """At most the file's first `rows`-and-some rows, typed as an upload's, from the first bytes of its text only
    (a preview: a server file can be gigabytes). Types are those of the rows read."""
    from services.ingest.parse import detect_file_dialect, read_with_dialect

    size = PREVIEW_BYTES
    while len(head := read_text_head(path, size)) == size and head.count(b"\n") <= rows and size < MAX_PREVIEW_BYTES:
        size *= 4
    dialect = detect_file_dialect(path, options={})
    if len(head) < size or "16" in dialect.encoding or "32" in dialect.encoding:  # all of it, or no byte newlines
        whole = read_local_csv(path, max_records=2**62, max_decompressed_bytes=max_decompressed_bytes, log=log)
        assert isinstance(whole, pa.Table)  # nothing spills without a Spill
        return whole.slice(0, rows)
    newline = b"\n" if b"\n" in head else b"\r"
    head = head[: head.rfind(newline) + 1]  # whole lines only
    with tempfile.TemporaryDirectory(prefix="assay-preview-") as folder:
        part = Path(folder) / "head.csv"
        for attempt in range(3):  # the cut can fall inside a quoted value spanning lines: one line less then
            if attempt:
                head = head[: head.rfind(newline, 0, len(head) - 1) + 1]
            part.write_bytes(head)
            try:
                table = read_with_dialect(part, dialect, max_decompressed=max_decompressed_bytes)
                break
            except ServiceError:
                if attempt == 2:
                    raise
    log(
        f"Read the first {len(head) / 2**20:,.1f} MB of {path.name}'s text for the preview "
        f"({table.num_rows:,} rows; types from those rows)",
        "INFO",
    )
    return table.slice(0, rows)


def _streamed(
    path: Path, dialect: CsvDialect, spill: Spill, *, max_records: int, max_decompressed_bytes: int, shown: str
) -> Path:
    """Chunks parsed into scratch Parquet with the first chunk's types; when a later chunk disagrees, a first pass
    over every chunk settles the types (dates failing too often stay text), as a large upload's ingest does."""
    from services.ingest.chunks import NotSplittable
    from services.ingest.stream import DatesNotParsed, NotStreamable, parse_and_write, survey_types

    spill.folder.mkdir(parents=True, exist_ok=True)
    target = spill.folder / f"{spill.prefix}-file.parquet"
    spill.log(
        f"{shown} would not fit the job's share of its {spill.memory_mb:,} MB memory budget: the source "
        "spilled to disk, read chunk by chunk into a scratch file",
        "INFO",
    )
    widened = None
    try:
        for _ in range(4):
            try:
                parse_and_write(
                    path, dialect, target, max_decompressed=max_decompressed_bytes, keep_bytes=0, widened=widened
                )
                break
            except DatesNotParsed as dates:
                widened = widened or survey_types(path, dialect, max_decompressed=max_decompressed_bytes)
                widened.plain_text |= dates.names
            except NotStreamable as reason:
                if widened is not None:
                    raise
                spill.log(f"Types settled by a first pass over every chunk ({reason})", "INFO")
                widened = survey_types(path, dialect, max_decompressed=max_decompressed_bytes)
        else:
            raise ServiceError(ErrorCode.PARSE_ERROR, "The date columns could not be settled in three passes")
        rows = pq.ParquetFile(target).metadata.num_rows
        if rows > max_records:
            raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE, f"More than {max_records:,} records")
    except (NotSplittable, NotStreamable) as failed:
        target.unlink(missing_ok=True)
        raise over_budget(spill.memory_mb, f"{shown} needs the whole-file reader ({failed}), which") from failed
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    spill.log(f"Read {shown}: encoding {dialect.encoding}, {rows:,} row(s), chunk by chunk", "INFO")
    return target
