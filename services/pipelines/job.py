"""The PIPELINE job body: collect -> process -> store, each stage logged with counts."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from services import files
from services.errors import ErrorCode, ServiceError
from services.ingest.types import describe_columns
from services.jobs.context import JobContext
from services.pipelines import sinks
from services.pipelines.checks import run_checks
from services.pipelines.results import RunResult
from services.pipelines.collect import CollectedTable, collect_http
from services.pipelines.config import PipelineConfig, PipelineLimits
from services.pipelines.config.sinks import DatasetSink, ParquetSink, SqliteSink
from services.pipelines.config.sources import DatasetSource, FileSource, HttpSource, ScrapeSource
from services.pipelines.config.steps import PipelineStep
from services.pipelines.fetch import Fetcher
from services.pipelines.records import FlatColumns, RecordPages
from services.pipelines.local_files import import_path, read_local_csv
from services.pipelines.scrape import collect_scrape
from services.pipelines.ssrf import parse_allow_list
from services.preprocessing.engine import DESCRIBE_ROWS, batch_rows, fits_in_memory
from services.preprocessing.job import preprocess_table
from services.preprocessing.steps import fit_recipe
from services.preprocessing.validate import validate_steps
from services.values import json_rows


def run_pipeline(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    data_dir, config = Path(p["data_dir"]), PipelineConfig.model_validate(p["config"])
    limits = PipelineLimits.from_params(p)
    timings: dict[str, float] = {}
    ctx.stage("collect")
    began = time.perf_counter()
    source = config.source
    lock = threading.Lock()  # the fetching thread logs retries while this one logs pages

    def log(message: str, level: str) -> None:
        with lock:
            ctx.log(message, level)

    steps: list[tuple[str, dict[str, Any]]] = [(s.step, s.params) for s in config.steps]
    recipe: list[dict[str, Any]] = []
    streamed, rows_in = False, 0
    if isinstance(source, DatasetSource):
        path = files.parquet_path(data_dir, source.dataset_id)
        if steps and not fits_in_memory(path, ctx.memory_mb):
            # beyond the budget, the steps stream from the source (the preprocessing engine) before anything is read
            table, recipe, rows_in = _streamed_steps(ctx, path, steps)
            streamed = True
        else:
            table = pq.read_table(path)
        ctx.log(f"Read {table.num_rows:,} rows from the source dataset")
    elif isinstance(source, FileSource):
        table = read_local_csv(import_path(source.path, limits.import_dirs, ["source", "file", "path"]),
                               max_records=limits.max_records, max_decompressed_bytes=limits.max_decompressed_bytes,
                               log=log)
    else:
        table = collect_table(source, limits, log)
    timings["collect"] = time.perf_counter() - began
    rows_in = rows_in if streamed else table.num_rows
    ctx.progress(0.4)
    ctx.checkpoint()

    ctx.stage("process")
    began = time.perf_counter()
    if steps and not streamed:
        checked = validate_steps(steps, describe_columns(table))
        frame, recipe = fit_recipe(table.to_pandas(), checked)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        ctx.log(f"Applied {len(steps)} step(s): {rows_in:,} -> {table.num_rows:,} rows")
    timings["process"] = time.perf_counter() - began
    columns = describe_columns(table)
    check_results: list[dict[str, Any]] = []
    if config.checks:
        ctx.stage("validate")
        began = time.perf_counter()
        checked_rows = table.num_rows
        table, check_results = run_checks(table, config.checks, {c["name"]: c["semantic_type"] for c in columns}, log,
                                          suites=p.get("suites"), data_dir=data_dir, memory_mb=ctx.memory_mb,
                                          scratch_dir=ctx.scratch_dir)
        if table.num_rows != checked_rows:  # rows were dropped: null counts and types may have changed
            columns = describe_columns(table)
        timings["validate"] = time.perf_counter() - began
    ctx.progress(0.7)
    ctx.checkpoint()

    ctx.stage("store")
    began = time.perf_counter()
    sink = config.sink
    output: dict[str, Any] = {"kind": sink.kind}
    version = None
    match sink:
        case DatasetSink():
            sinks.write_dataset_version(data_dir, p["output_dataset_id"], table)
            output["dataset_id"] = p["output_dataset_id"]
            ctx.log(f"Stored {table.num_rows:,} rows as a dataset version")
        case ParquetSink():
            version, path = sinks.write_parquet_version(data_dir, p["pipeline_id"], table)
            output.update(path=str(path), version=version)
            ctx.log(f"Stored {table.num_rows:,} rows as Parquet version {version}")
        case SqliteSink(table=table_name, mode=mode):
            written = sinks.write_sqlite(data_dir, p["owner_id"], table_name, table, mode=mode, key=sink.key,
                                         indexes=sink.indexes)
            output.update(table=table_name)
            changes = f"{written.inserted:,} new, {written.updated:,} updated" if mode == "upsert" else mode
            added = f"; added column(s) {', '.join(written.added_columns)}" if written.added_columns else ""
            ctx.log(f"Stored {table.num_rows:,} rows in SQLite table {table_name} ({changes}{added}; "
                    f"{written.rows_now:,} rows now)")
    timings["store"] = time.perf_counter() - began
    return RunResult(rows_in=rows_in, rows_out=table.num_rows, version=version, columns=columns, output=output,
                     recipe=recipe, checks=check_results, row_count=table.num_rows, column_count=table.num_columns,
                     timings=timings).model_dump()


def _streamed_steps(ctx: JobContext, path: Path, steps: list[tuple[str, dict[str, Any]]]
                    ) -> tuple[pa.Table, list[dict[str, Any]], int]:
    """The steps run by the preprocessing engine batch by batch into scratch; the result is read back (checks
    and sinks take a table). Columns are judged for validation on the source's first rows."""
    parquet = pq.ParquetFile(path)
    first = min(DESCRIBE_ROWS, batch_rows(path, ctx.memory_mb))
    head = pa.Table.from_batches([next(parquet.iter_batches(batch_size=first))]) if parquet.num_row_groups \
        else parquet.schema_arrow.empty_table()
    checked = validate_steps(steps, describe_columns(head))
    processed = (ctx.scratch_dir or path.parent) / f"pipeline-{ctx.job_id}.parquet"
    try:
        result = preprocess_table(path, processed, checked, memory_mb=ctx.memory_mb, scratch_dir=ctx.scratch_dir,
                                  log=ctx.log, checkpoint=ctx.checkpoint, stream=True)
        table = pq.read_table(processed)
    finally:
        processed.unlink(missing_ok=True)
    ctx.log(f"Applied {len(steps)} step(s) batch by batch: {parquet.metadata.num_rows:,} -> {table.num_rows:,} rows")
    return table, result["recipe"], parquet.metadata.num_rows


def collect_table(source: HttpSource | ScrapeSource, limits: PipelineLimits, log: Callable[[str, str], None]) -> pa.Table:
    """An http or scrape source's records as a table typed like an upload (the collect stage, and previews)."""
    began = time.perf_counter()
    fetcher = Fetcher(allow=parse_allow_list(limits.allowed_hosts), max_bytes=limits.max_source_bytes, log=log)
    collected: RecordPages | CollectedTable | FlatColumns
    if isinstance(source, HttpSource):
        collected = collect_http(source, fetcher, max_records=limits.max_records, log=log,
                                 max_decompressed_bytes=limits.max_decompressed_bytes)
    else:
        collected = collect_scrape(source, fetcher, max_records=limits.max_records, log=log)
    fetched = time.perf_counter()
    table = collected.to_table() if collected.rows else None
    if table is None or table.num_columns == 0:
        raise ServiceError(ErrorCode.PARSE_ERROR, "The source gave no records")
    log(f"Collected {table.num_rows:,} rows x {table.num_columns} columns in {time.perf_counter() - began:.3f} s "
        f"({fetcher.waited:.3f} s of it waiting on the network, {time.perf_counter() - fetched:.3f} s typing "
        f"the columns)", "INFO")
    return table


def preview_source(source: HttpSource | ScrapeSource | DatasetSource | FileSource, steps: list[PipelineStep], *, data_dir: Path,
                   limits: PipelineLimits, rows: int) -> dict[str, Any]:
    """What a source's first page gives, typed, after `steps`: for trying selectors and paths before
    saving. Blocking (it fetches): call it off the event loop. Nothing is stored."""
    messages: list[str] = []
    lock = threading.Lock()

    def log(message: str, level: str) -> None:
        with lock:
            messages.append(f"{level}: {message}")

    if isinstance(source, DatasetSource):
        batches = pq.ParquetFile(files.fetched(files.parquet_path(data_dir, source.dataset_id))).iter_batches(batch_size=max(rows, 1000))
        table = pa.Table.from_batches([next(batches)])
    elif isinstance(source, FileSource):
        table = read_local_csv(import_path(source.path, limits.import_dirs, ["source", "file", "path"]),
                               max_records=limits.max_records, max_decompressed_bytes=limits.max_decompressed_bytes,
                               log=log).slice(0, max(rows, 1000))
    else:
        table = collect_table(source.model_copy(update={"max_pages": 1, "delay_seconds": 0}), limits, log)
    if steps:
        checked = validate_steps([(s.step, s.params) for s in steps], describe_columns(table))
        frame, _ = fit_recipe(table.to_pandas(), checked)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        messages.append(f"INFO: Applied {len(steps)} step(s)")
    return {"columns": describe_columns(table), "names": table.column_names, "total_rows": table.num_rows,
            "rows": json_rows(table.slice(0, rows)), "log": messages}
