"""The INGEST job body: runs in a worker process, writes the canonical Parquet copy atomically.

Delimited text is parsed while the Parquet copy is written (services.ingest.stream); files that
need the whole-file reader take it, with a log line saying why. Workbooks and Parquet exports
are read whole (services.ingest.sheets). Lines with another field count are padded, trimmed or
rejected (services.ingest.ragged); the rejected ones are kept in a downloadable file.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from services import files
from services.ingest.detect import CsvDialect
from services.ingest.encoding import LOW_CONFIDENCE
from services.ingest.follow import FollowedFile, UploadCutOff
from services.ingest.parquet import write_parquet
from services.ingest.parse import detect_file_dialect, read_with_dialect, strips_nuls
from services.ingest.ragged import PAD, RaggedLines
from services.ingest.sheets import WORKBOOK_KINDS, read_parquet_upload, read_workbook
from services.ingest.sniff import GZIP, PARQUET, NulCount, file_kind
from services.ingest.stream import NotStreamable, parse_and_write, return_freed_memory_promptly
from services.ingest.types import describe_columns
from services.jobs.context import JobContext

DEFAULT_MAX_SHEET_ROWS = 1_048_576  # Excel's own limit


def run_ingest(ctx: JobContext) -> dict:
    data_dir = Path(ctx.params["data_dir"])
    dataset_id = ctx.params["dataset_id"]
    source = files.original_path(data_dir, dataset_id)
    state = ctx.params.get("upload_state")
    followed = FollowedFile(source, Path(state) if state else None,
                            stall_seconds=float(ctx.params.get("upload_stall_seconds") or 60))
    ctx.stage("detect")
    ctx.log(f"Reading {source.stat().st_size:,} bytes" if followed.complete else
            "Reading the upload as it arrives")
    try:
        kind = file_kind(source, followed)
        if kind in WORKBOOK_KINDS or kind == PARQUET:
            followed.wait_complete()
            table, info = _read_table_file(ctx, source, kind)
            with files.atomic_output(files.parquet_path(data_dir, dataset_id)) as temporary:
                write_parquet(table, temporary)
        else:
            table, info = _read_text(ctx, source, kind, data_dir, dataset_id, followed)
    except UploadCutOff:
        source.unlink(missing_ok=True)  # a partial original is not kept
        raise
    if state:
        ctx.log(f"The upload ended ({followed.final_size:,} bytes); {followed.waited:.2f} s were spent waiting "
                "for its bytes")
    ctx.progress(0.7)
    ctx.checkpoint()
    ctx.stage("infer_types")
    columns = info.pop("columns", None) or describe_columns(table)  # (text: inferred while the Parquet copy ended)
    summary = ", ".join(f"{c['name']}={c['semantic_type']}" for c in columns[:30])
    ctx.log(f"Inferred types: {summary}{' ...' if len(columns) > 30 else ''}")
    ctx.log(f"Wrote the Parquet copy ({files.parquet_path(data_dir, dataset_id).stat().st_size:,} bytes)")
    ctx.progress(1.0)
    return {"row_count": table.num_rows, "column_count": table.num_columns, "columns": columns, "ingest_info": info,
            "size_bytes": followed.final_size if state else None}


def _read_table_file(ctx: JobContext, source: Path, kind: str) -> tuple[pa.Table, dict]:
    options = ctx.params.get("csv_options") or {}
    max_rows = int(ctx.params.get("max_sheet_rows") or DEFAULT_MAX_SHEET_ROWS)
    max_decompressed = int(ctx.params["max_decompressed_bytes"])
    ctx.stage("parse_and_write")
    if kind == PARQUET:
        table, info = read_parquet_upload(source, max_rows=max_rows, max_decompressed=max_decompressed), {}
        ctx.log(f"Read a Parquet file: {table.num_rows:,} rows x {table.num_columns} columns")
    else:
        table, sheet = read_workbook(source, sheet=options.get("sheet"), max_rows=max_rows,
                                     max_decompressed=max_decompressed)
        info = {"sheet": sheet}
        ctx.log(f"Read sheet {sheet!r} of a .{kind} workbook: {table.num_rows:,} rows x {table.num_columns} columns")
    return table, {"format": kind.upper(), **info}


def _read_text(ctx: JobContext, source: Path, kind: str, data_dir: Path, dataset_id: str,
               followed: FollowedFile) -> tuple[pa.Table, dict]:
    options = ctx.params.get("csv_options") or {}
    max_decompressed = int(ctx.params["max_decompressed_bytes"])
    dialect = detect_file_dialect(source, options=options, followed=followed)
    delimiter = {"\t": "tab", "whitespace": "runs of spaces"}.get(dialect.delimiter, repr(dialect.delimiter))
    ctx.log(f"Encoding {dialect.encoding}, delimiter {delimiter}, quote {dialect.quote_char!r}, header "
            f"{'yes' if dialect.has_header else 'no'}, decimal {dialect.decimal!r}, {dialect.skip_rows} preamble "
            f"line(s) skipped" + (f" ({dialect.misfit_lines} with another field count)" if dialect.misfit_lines else ""))
    alerts = _encoding_alerts(dialect)
    for alert in alerts:
        ctx.log(alert["message"], level="WARNING")
    ctx.checkpoint()
    ctx.stage("parse_and_write")
    return_freed_memory_promptly()
    ragged = RaggedLines(options.get("on_bad_lines", PAD), dialect.delimiter, dialect.quote_char, dialect.encoding,
                         delimiter_certain=dialect.delimiter_certain)
    nuls = NulCount() if strips_nuls(dialect) else None
    inferred: dict = {}
    with files.atomic_output(files.parquet_path(data_dir, dataset_id)) as temporary:
        try:
            table, how = parse_and_write(source, dialect, temporary, max_decompressed=max_decompressed,
                                         ragged=ragged, nuls=nuls, followed=followed,
                                         infer=lambda parsed: inferred.update(columns=describe_columns(parsed)))
        except NotStreamable as reason:
            ctx.log(f"Reading the whole file at once ({reason})")
            followed.wait_complete()
            ragged.clear()
            inferred.clear()
            nuls = NulCount() if nuls is not None else None
            table, how = read_with_dialect(source, dialect, max_decompressed=max_decompressed, ragged=ragged,
                                           nuls=nuls), "as a whole"
            write_parquet(table, temporary)
        ctx.log(f"Parsed {table.num_rows:,} rows x {table.num_columns} columns {how}")
        _write_rejects(ragged, files.rejects_path(data_dir, dataset_id))
    if nuls is not None and nuls.removed:
        ctx.log(f"Removed {nuls.removed:,} NUL byte(s) from the text", level="WARNING")
    if ragged.summary():
        ctx.log(ragged.summary(), level="WARNING")
    return table, {"format": "GZIP" if kind == GZIP else "TEXT", "encoding": dialect.encoding,
                   "delimiter": dialect.delimiter, "quote_char": dialect.quote_char, "has_header": dialect.has_header,
                   "decimal": dialect.decimal, "skip_rows": dialect.skip_rows, "line_ending": repr(dialect.line_ending),
                   "nul_bytes_removed": nuls.removed if nuls is not None else 0,
                   "encoding_confidence": dialect.encoding_confidence, "alerts": alerts, **ragged.info(), **inferred}


def _encoding_alerts(dialect: CsvDialect) -> list[dict]:
    """A guess the detector was unsure of is said out loud: mojibake must never pass silently."""
    if dialect.encoding_confidence is None or dialect.encoding_confidence >= LOW_CONFIDENCE:
        return []
    rival = f"; {dialect.encoding_rival} reads it almost as well" if dialect.encoding_rival else ""
    return [{"code": "ENCODING_UNCERTAIN",
             "message": f"The text was read as {dialect.encoding}, a guess with low confidence "
                        f"({dialect.encoding_confidence:.2f}){rival}. If values look garbled, upload again with "
                        f"csv.encoding set"}]


def _write_rejects(ragged: RaggedLines, target: Path) -> None:
    if not ragged.rejects:
        target.unlink(missing_ok=True)
        return
    with files.atomic_output(target) as temporary:
        ragged.write_rejects(temporary)
