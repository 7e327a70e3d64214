"""The INGEST job body: runs in a worker process, writes the canonical Parquet copy atomically.

Delimited text is parsed while the Parquet copy is written (services.ingest.stream); the parsed
table is kept only while it is small next to the job's memory budget (`ctx.memory_mb`), beyond
that the column types are judged from the Parquet copy, streamed (services.ingest.columns). A file
that needs the whole-file reader takes it when that fits the budget, with a log line saying why;
a larger one has its types settled by a first pass over every chunk and is then streamed again.
Workbooks are read whole, within their row limit; Parquet exports are copied batch by batch
(services.ingest.sheets). Lines with another field count are padded, trimmed or rejected
(services.ingest.ragged); the rejected ones are kept in a downloadable file. A disk that fills up
fails the job with a message saying so, and its partial files are removed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from services import files
from services.errors import ErrorCode, ServiceError, over_budget
from services.ingest.chunks import NotSplittable
from services.ingest.columns import describe_parquet
from services.ingest.detect import CsvDialect
from services.ingest.disk import disk_full, is_disk_full
from services.ingest.download import download
from services.ingest.encoding import LOW_CONFIDENCE
from services.ingest.follow import FollowedFile, UploadCutOff
from services.ingest.info import IngestInfo
from services.ingest.parquet import write_parquet
from services.ingest.parse import detect_file_dialect, read_with_dialect, strips_nuls
from services.ingest.ragged import PAD, RaggedLines
from services.ingest.s3_import import download_s3, is_s3_url
from services.ingest.sheets import WORKBOOK_KINDS, copy_parquet_upload, read_workbook
from services.ingest.sniff import GZIP, PARQUET, NulCount, check_upload, file_kind
from services.ingest.stream import (
    DatesNotParsed,
    NotStreamable,
    parse_and_write,
    return_freed_memory_promptly,
    survey_types,
)
from services.ingest.types import describe_columns
from services.jobs.context import JobContext

DEFAULT_MAX_SHEET_ROWS = 1_048_576  # Excel's own limit
MB = 1024 * 1024
KEEP_SHARE = 0.25  # of the budget left after the worker's own modules: the parsed table is kept up to this size
WHOLE_FILE_FACTOR = 3  # the whole-file reader holds about three times the text it parses
GZIP_RATIO = 6  # a guess at how much a gzip text inflates, to judge whether it could be read whole


def run_ingest(ctx: JobContext) -> dict[str, Any]:
    data_dir = Path(ctx.params["data_dir"])
    dataset_id = ctx.params["dataset_id"]
    source = files.original_path(data_dir, dataset_id)
    imported = _download_import(ctx, source, data_dir) if ctx.params.get("import_url") else None
    state = ctx.params.get("upload_state")
    followed = FollowedFile(
        source, Path(state) if state else None, stall_seconds=float(ctx.params.get("upload_stall_seconds") or 60)
    )
    ctx.stage("detect")
    return_freed_memory_promptly()
    ctx.log(f"Reading {source.stat().st_size:,} bytes" if followed.complete else "Reading the upload as it arrives")
    parquet = files.parquet_path(data_dir, dataset_id)
    try:
        kind = file_kind(source, followed)
        if kind in WORKBOOK_KINDS:
            followed.wait_complete()
            table, info = _read_table_file(ctx, source, kind)
            with files.atomic_output(parquet) as temporary:
                write_parquet(table, temporary)
        elif kind == PARQUET:
            followed.wait_complete()
            ctx.stage("parse_and_write")
            with files.atomic_output(parquet) as temporary:
                rows, width = copy_parquet_upload(
                    source, temporary, max_decompressed=int(ctx.params["max_decompressed_bytes"])
                )
            ctx.log(f"Copied a Parquet file batch by batch: {rows:,} rows x {width} columns")
            table, info = None, {"format": "PARQUET"}
        else:
            table, info = _read_text(ctx, source, kind, data_dir, dataset_id, followed)
    except UploadCutOff:
        source.unlink(missing_ok=True)  # a partial original is not kept
        raise
    except OSError as exc:
        if is_disk_full(exc):  # atomic_output has removed the partial Parquet copy
            files.rejects_path(data_dir, dataset_id).unlink(missing_ok=True)
            raise disk_full(data_dir) from exc
        raise
    if state:
        ctx.log(
            f"The upload ended ({followed.final_size:,} bytes); {followed.waited:.2f} s were spent waiting "
            "for its bytes"
        )
    ctx.progress(0.7)
    ctx.checkpoint()
    ctx.stage("infer_types")
    columns = info.pop("columns", None)  # (text held in memory: inferred while the Parquet copy ended)
    if columns is None and table is not None:
        columns = describe_columns(table)
    elif columns is None:
        ctx.log(
            "Judging the column types from the Parquet copy, streamed (the table is larger than this job "
            f"may hold within its {ctx.memory_mb:,} MB budget)"
        )
        columns = describe_parquet(parquet, memory_mb=ctx.memory_mb, scratch_dir=ctx.scratch_dir)
    row_count = table.num_rows if table is not None else pq.ParquetFile(parquet).metadata.num_rows
    summary = ", ".join(f"{c['name']}={c['semantic_type']}" for c in columns[:30])
    ctx.log(f"Inferred types: {summary}{' ...' if len(columns) > 30 else ''}")
    ctx.log(f"Wrote the Parquet copy ({files.parquet_path(data_dir, dataset_id).stat().st_size:,} bytes)")
    ctx.progress(1.0)
    return {
        "row_count": row_count,
        "column_count": len(columns),
        "columns": columns,
        "ingest_info": IngestInfo.model_validate(info).stored(),
        "size_bytes": followed.final_size if state else imported,
    }


def _download_import(ctx: JobContext, source: Path, data_dir: Path) -> int:
    """importDataset: the file fetched into place first (services.ingest.download), then ingested as an upload is."""
    ctx.stage("download")
    if is_s3_url(ctx.params["import_url"]):
        size = download_s3(ctx.params["import_url"], source, max_bytes=int(ctx.params["max_upload_bytes"]), log=ctx.log)
    else:
        size = download(
            ctx.params["import_url"],
            source,
            data_dir=data_dir,
            allow=list(ctx.params.get("allowed_hosts") or []),
            max_bytes=int(ctx.params["max_upload_bytes"]),
            stall_seconds=float(ctx.params["stall_seconds"]),
            extra_ca_file=ctx.params.get("extra_ca_file"),
            log=ctx.log,
        )
    try:
        check_upload(source)
    except ServiceError:
        source.unlink(missing_ok=True)  # not a file Assay reads: nothing is kept
        raise
    ctx.checkpoint()
    return size


def _read_table_file(ctx: JobContext, source: Path, kind: str) -> tuple[pa.Table, dict[str, Any]]:
    options = ctx.params.get("csv_options") or {}
    max_rows = int(ctx.params.get("max_sheet_rows") or DEFAULT_MAX_SHEET_ROWS)
    max_decompressed = int(ctx.params["max_decompressed_bytes"])
    ctx.stage("parse_and_write")
    table, sheet = read_workbook(
        source, sheet=options.get("sheet"), max_rows=max_rows, max_decompressed=max_decompressed
    )
    ctx.log(f"Read sheet {sheet!r} of a .{kind} workbook: {table.num_rows:,} rows x {table.num_columns} columns")
    return table, {"format": kind.upper(), "sheet": sheet}


def _read_text(
    ctx: JobContext, source: Path, kind: str, data_dir: Path, dataset_id: str, followed: FollowedFile
) -> tuple[pa.Table | None, dict[str, Any]]:
    options = ctx.params.get("csv_options") or {}
    max_decompressed = int(ctx.params["max_decompressed_bytes"])
    dialect = detect_file_dialect(source, options=options, followed=followed)
    delimiter = {"\t": "tab", "whitespace": "runs of spaces"}.get(dialect.delimiter, repr(dialect.delimiter))
    ctx.log(
        f"Encoding {dialect.encoding}, delimiter {delimiter}, quote {dialect.quote_char!r}, header "
        f"{'yes' if dialect.has_header else 'no'}, decimal {dialect.decimal!r}, {dialect.skip_rows} preamble "
        f"line(s) skipped" + (f" ({dialect.misfit_lines} with another field count)" if dialect.misfit_lines else "")
    )
    alerts = _encoding_alerts(dialect)
    for alert in alerts:
        ctx.log(alert["message"], level="WARNING")
    ctx.checkpoint()
    ctx.stage("parse_and_write")
    return_freed_memory_promptly()
    ragged = RaggedLines(
        options.get("on_bad_lines", PAD),
        dialect.delimiter,
        dialect.quote_char,
        dialect.encoding,
        delimiter_certain=dialect.delimiter_certain,
    )
    nuls = NulCount() if strips_nuls(dialect) else None
    inferred: dict[str, Any] = {}  # the columns, when the chunked reader judged them on its way
    budget = ctx.memory_mb * MB
    keep_bytes = int(max(0, budget - psutil.Process().memory_info().rss) * KEEP_SHARE)
    with files.atomic_output(files.parquet_path(data_dir, dataset_id)) as temporary:
        # the chunked reader, as every pass calls it; each pass adds its own arguments
        stream = partial(
            parse_and_write,
            source,
            dialect,
            temporary,
            max_decompressed=max_decompressed,
            ragged=ragged,
            nuls=nuls,
            keep_bytes=keep_bytes,
        )
        try:
            table, how = stream(
                followed=followed, infer=lambda parsed: inferred.update(columns=describe_columns(parsed))
            )
        except NotStreamable as reason:
            followed.wait_complete()
            ragged.clear()
            inferred.clear()
            if nuls is not None:
                nuls.removed = 0
            needed = source.stat().st_size * (GZIP_RATIO if kind == GZIP else 1) * WHOLE_FILE_FACTOR
            if needed <= budget:
                ctx.log(f"Reading the whole file at once ({reason})")
                table, how = (
                    read_with_dialect(source, dialect, max_decompressed=max_decompressed, ragged=ragged, nuls=nuls),
                    "as a whole",
                )
                write_parquet(table, temporary)
            else:
                ctx.log(
                    f"The chunked reader stopped ({reason}); the file is too large to read at once within the "
                    f"{ctx.memory_mb:,} MB budget, so a first pass settles every column's type"
                )
                table, how = _read_widened(ctx, stream, source, dialect, max_decompressed, ragged, nuls, needed, reason)
        if table is not None:
            ctx.log(f"Parsed {table.num_rows:,} rows x {table.num_columns} columns {how}")
        else:
            metadata = pq.ParquetFile(temporary).metadata
            ctx.log(
                f"Parsed {metadata.num_rows:,} rows x {metadata.num_columns} columns {how}, streamed to the "
                "Parquet copy"
            )
        _write_rejects(ragged, files.rejects_path(data_dir, dataset_id))
    if nuls is not None and nuls.removed:
        ctx.log(f"Removed {nuls.removed:,} NUL byte(s) from the text", level="WARNING")
    ragged_summary = ragged.summary()
    if ragged_summary:
        ctx.log(ragged_summary, level="WARNING")
    return table, {
        "format": "GZIP" if kind == GZIP else "TEXT",
        "encoding": dialect.encoding,
        "delimiter": dialect.delimiter,
        "quote_char": dialect.quote_char,
        "has_header": dialect.has_header,
        "decimal": dialect.decimal,
        "skip_rows": dialect.skip_rows,
        "line_ending": repr(dialect.line_ending),
        "nul_bytes_removed": nuls.removed if nuls is not None else 0,
        "encoding_confidence": dialect.encoding_confidence,
        "alerts": alerts,
        **ragged.info(),
        **inferred,
    }


def _encoding_alerts(dialect: CsvDialect) -> list[dict[str, str]]:
    """A guess the detector was unsure of is said out loud: mojibake must never pass silently."""
    if dialect.encoding_confidence is None or dialect.encoding_confidence >= LOW_CONFIDENCE:
        return []
    rival = f"; {dialect.encoding_rival} reads it almost as well" if dialect.encoding_rival else ""
    return [
        {
            "code": "ENCODING_UNCERTAIN",
            "message": f"The text was read as {dialect.encoding}, a guess with low confidence "
            f"({dialect.encoding_confidence:.2f}){rival}. If values look garbled, upload again with "
            f"csv.encoding set",
        }
    ]


def _read_widened(
    ctx: JobContext,
    stream: Callable[..., tuple[pa.Table | None, str]],
    source: Path,
    dialect: CsvDialect,
    max_decompressed: int,
    ragged: RaggedLines,
    nuls: NulCount | None,
    needed: int,
    reason: Exception,
) -> tuple[pa.Table | None, str]:
    """Types from a first pass over every chunk, then the file streamed again with them fixed (dates that fail
    too often stay text, as the whole-file reader leaves them); a file the chunks cannot take is refused."""
    try:
        widened = survey_types(source, dialect, max_decompressed=max_decompressed, nuls=nuls)
    except (NotSplittable, NotStreamable) as survey_failed:
        raise over_budget(
            ctx.memory_mb,
            f"This file needs the whole-file reader ({reason}; {survey_failed}), which",
            needed_mb=needed / MB,
        ) from survey_failed
    ctx.log("Types after the first pass: " + ", ".join(f"{name}={kind}" for name, kind in widened.types.items()))
    for _ in range(3):
        ragged.clear()
        if nuls is not None:
            nuls.removed = 0
        try:
            table, how = stream(widened=widened)
            return table, f"{how}, with the types of a first pass"
        except DatesNotParsed as dates:
            ctx.log(f"Kept as text, their date format failing too often: {', '.join(sorted(dates.names))}")
            widened.plain_text |= dates.names
    raise ServiceError(ErrorCode.PARSE_ERROR, "The date columns could not be settled in three passes")


def _write_rejects(ragged: RaggedLines, target: Path) -> None:
    if not ragged.rejects:
        target.unlink(missing_ok=True)
        return
    with files.atomic_output(target) as temporary:
        ragged.write_rejects(temporary)
