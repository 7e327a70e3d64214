"""The INGEST job body: runs in a worker process, writes the canonical Parquet copy atomically.

The Parquet copy is written while the file is parsed (services.ingest.stream); files that need the
whole-file reader take it, with a log line saying why.
"""
from __future__ import annotations

from pathlib import Path

from services import files
from services.ingest.parquet import write_parquet
from services.ingest.parse import detect_file_dialect, read_with_dialect
from services.ingest.stream import NotStreamable, parse_and_write, return_freed_memory_promptly
from services.ingest.types import describe_columns
from services.jobs.context import JobContext

def run_ingest(ctx: JobContext) -> dict:
    data_dir = Path(ctx.params["data_dir"])
    dataset_id = ctx.params["dataset_id"]
    source = files.original_path(data_dir, dataset_id)
    options = ctx.params.get("csv_options") or {}
    max_decompressed = int(ctx.params["max_decompressed_bytes"])
    ctx.stage("detect")
    ctx.log(f"Reading {source.stat().st_size:,} bytes")
    dialect = detect_file_dialect(source, options=options)
    delimiter = {"\t": "tab", "whitespace": "runs of spaces"}.get(dialect.delimiter, repr(dialect.delimiter))
    ctx.log(f"Encoding {dialect.encoding}, delimiter {delimiter}, header {'yes' if dialect.has_header else 'no'}, "
            f"decimal {dialect.decimal!r}, {dialect.skip_rows} preamble line(s) skipped")
    ctx.checkpoint()
    ctx.stage("parse_and_write")
    return_freed_memory_promptly()
    with files.atomic_output(files.parquet_path(data_dir, dataset_id)) as temporary:
        try:
            table, how = parse_and_write(source, dialect, temporary, max_decompressed=max_decompressed)
        except NotStreamable as reason:
            ctx.log(f"Reading the whole file at once ({reason})")
            table, how = read_with_dialect(source, dialect, max_decompressed=max_decompressed), "as a whole"
            write_parquet(table, temporary)
        ctx.log(f"Parsed {table.num_rows:,} rows x {table.num_columns} columns {how}")
        ctx.progress(0.7)
        ctx.checkpoint()
        ctx.stage("infer_types")
        columns = describe_columns(table)
    summary = ", ".join(f"{c['name']}={c['semantic_type']}" for c in columns[:30])
    ctx.log(f"Inferred types: {summary}{' ...' if len(columns) > 30 else ''}")
    ctx.log(f"Wrote the Parquet copy ({files.parquet_path(data_dir, dataset_id).stat().st_size:,} bytes)")
    ctx.progress(1.0)
    return {"row_count": table.num_rows, "column_count": table.num_columns, "columns": columns,
            "ingest_info": {"encoding": dialect.encoding, "delimiter": dialect.delimiter,
                            "has_header": dialect.has_header, "decimal": dialect.decimal,
                            "skip_rows": dialect.skip_rows, "line_ending": repr(dialect.line_ending)}}
