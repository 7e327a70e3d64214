"""The PIPELINE job body: collect -> process -> store, each stage logged with counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from services import files
from services.errors import ErrorCode, ServiceError
from services.ingest.columns import describe_parquet
from services.ingest.parquet import write_parquet
from services.ingest.types import describe_columns
from services.jobs.context import JobContext
from services.pipelines import sinks
from services.pipelines.checks import Rows, run_checks, shape_of
from services.pipelines.collect import CollectedTable, collect_http
from services.pipelines.config import PipelineConfig, PipelineLimits
from services.pipelines.config.sinks import DatasetSink, ParquetSink, SqliteSink
from services.pipelines.config.sources import DatasetSource, FileSource, HttpSource, ScrapeSource
from services.pipelines.config.steps import PipelineStep
from services.pipelines.fetch import Fetcher
from services.pipelines.local_files import import_path, read_local_csv, read_local_csv_head
from services.pipelines.records import RecordPages
from services.pipelines.results import RunResult
from services.pipelines.scrape import collect_scrape
from services.pipelines.spill import Spill, fits_the_budget
from services.pipelines.ssrf import parse_allow_list
from services.preprocessing.engine import DESCRIBE_ROWS, batch_rows, fits_in_memory
from services.preprocessing.job import preprocess_table
from services.preprocessing.steps import fit_recipe
from services.preprocessing.validate import validate_steps
from services.values import json_rows

MB = 2**20


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
    rows: Rows  # the output so far: a table in memory, or (beyond the budget) a Parquet file read batch by batch
    spill = Spill(ctx.scratch_dir or data_dir, ctx.memory_mb, f"pipeline-{ctx.job_id}", log)
    if isinstance(source, DatasetSource):
        path = files.parquet_path(data_dir, source.dataset_id)
        rows = pq.read_table(path) if fits_in_memory(path, ctx.memory_mb) else path
    elif isinstance(source, FileSource):
        rows = read_local_csv(
            file_source_path(source, limits),
            max_records=limits.max_records,
            max_decompressed_bytes=limits.max_decompressed_bytes,
            log=log,
            spill=spill,
        )
    else:
        rows = collect_table(source, limits, log, spill)
    if isinstance(rows, pa.Table) and not fits_the_budget(rows.nbytes, ctx.memory_mb):
        rows = _spilled(ctx, rows)  # what was collected goes on from a scratch file, so nothing else copies it whole
    rows_in = shape_of(rows)[1]
    if isinstance(source, DatasetSource):
        ctx.log(
            f"Read {rows_in:,} rows from the source dataset"
            + (
                ""
                if isinstance(rows, pa.Table)
                else f" (beyond the {ctx.memory_mb:,} MB budget: they are read batch by batch)"
            )
        )
    timings["collect"] = time.perf_counter() - began
    ctx.progress(0.4)
    ctx.checkpoint()

    ctx.stage("process")
    began = time.perf_counter()
    if steps and isinstance(rows, pa.Table):
        checked = validate_steps(steps, describe_columns(rows))
        frame, recipe = fit_recipe(rows.to_pandas(), checked)
        rows = pa.Table.from_pandas(frame, preserve_index=False)
        ctx.log(f"Applied {len(steps)} step(s): {rows_in:,} -> {rows.num_rows:,} rows")
    elif steps:  # beyond the budget, the steps stream through the preprocessing engine into scratch
        rows, recipe = _streamed_steps(ctx, rows, steps)
    timings["process"] = time.perf_counter() - began
    columns = _described(ctx, rows)
    check_results: list[dict[str, Any]] = []
    if config.checks:
        ctx.stage("validate")
        began = time.perf_counter()
        checked_rows = shape_of(rows)[1]
        rows, check_results = run_checks(
            rows,
            config.checks,
            {c["name"]: c["semantic_type"] for c in columns},
            log,
            suites=p.get("suites"),
            data_dir=data_dir,
            memory_mb=ctx.memory_mb,
            scratch_dir=ctx.scratch_dir,
        )
        if shape_of(rows)[1] != checked_rows:  # rows were dropped: null counts and types may have changed
            columns = _described(ctx, rows)
        timings["validate"] = time.perf_counter() - began
    ctx.progress(0.7)
    ctx.checkpoint()

    ctx.stage("store")
    began = time.perf_counter()
    sink = config.sink
    output: dict[str, Any] = {"kind": sink.kind}
    version = None
    names, rows_out = shape_of(rows)
    match sink:
        case DatasetSink():
            sinks.write_dataset_version(data_dir, p["output_dataset_id"], rows)
            output["dataset_id"] = p["output_dataset_id"]
            ctx.log(f"Stored {rows_out:,} rows as a dataset version")
        case ParquetSink():
            version, path = sinks.write_parquet_version(data_dir, p["pipeline_id"], rows)
            output.update(path=str(path), version=version)
            ctx.log(f"Stored {rows_out:,} rows as Parquet version {version}")
        case SqliteSink(table=table_name, mode=mode):
            written = sinks.write_sqlite(
                data_dir, p["owner_id"], table_name, rows, mode=mode, key=sink.key, indexes=sink.indexes
            )
            output.update(table=table_name)
            changes = f"{written.inserted:,} new, {written.updated:,} updated" if mode == "upsert" else mode
            added = f"; added column(s) {', '.join(written.added_columns)}" if written.added_columns else ""
            ctx.log(
                f"Stored {rows_out:,} rows in SQLite table {table_name} ({changes}{added}; "
                f"{written.rows_now:,} rows now)"
            )
    timings["store"] = time.perf_counter() - began
    return RunResult(
        rows_in=rows_in,
        rows_out=rows_out,
        version=version,
        columns=columns,
        output=output,
        recipe=recipe,
        checks=check_results,
        row_count=rows_out,
        column_count=len(names),
        timings=timings,
    ).model_dump()


def _scratch_file(ctx: JobContext, name: str, beside: Path) -> Path:
    folder = ctx.scratch_dir or beside
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"pipeline-{ctx.job_id}-{name}.parquet"


def _spilled(ctx: JobContext, table: pa.Table) -> Path:
    """A collected table beyond the budget, written to scratch (removed when the job ends) and let go."""
    path = _scratch_file(ctx, "collected", Path(ctx.params["data_dir"]))
    write_parquet(table, path)
    ctx.log(
        f"The {table.num_rows:,} collected rows ({table.nbytes / MB:,.0f} MB in memory) would not fit the "
        f"{ctx.memory_mb:,} MB budget with the copies processing makes: they go on from a scratch file, batch "
        "by batch"
    )
    return path


def _described(ctx: JobContext, rows: Rows) -> list[dict[str, Any]]:
    """Column types and null counts: of the table, or of the file read batch by batch."""
    if isinstance(rows, pa.Table):
        return describe_columns(rows)
    return describe_parquet(rows, memory_mb=ctx.memory_mb, scratch_dir=ctx.scratch_dir)


def _streamed_steps(
    ctx: JobContext, path: Path, steps: list[tuple[str, dict[str, Any]]]
) -> tuple[Path, list[dict[str, Any]]]:
    """The steps run by the preprocessing engine batch by batch into a scratch file (removed when the job
    ends), which checks and sinks then read batch by batch. Columns are judged for validation on the
    source's first rows."""
    parquet = pq.ParquetFile(path)
    first = min(DESCRIBE_ROWS, batch_rows(path, ctx.memory_mb))
    head = (
        pa.Table.from_batches([next(parquet.iter_batches(batch_size=first))])
        if parquet.num_row_groups
        else parquet.schema_arrow.empty_table()
    )
    checked = validate_steps(steps, describe_columns(head))
    processed = _scratch_file(ctx, "processed", path.parent)
    result = preprocess_table(
        path,
        processed,
        checked,
        memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir,
        log=ctx.log,
        checkpoint=ctx.checkpoint,
        stream=True,
    )
    ctx.log(
        f"Applied {len(steps)} step(s) batch by batch: {parquet.metadata.num_rows:,} -> {result['row_count']:,} rows"
    )
    return processed, result["recipe"]


def file_source_path(source: FileSource, limits: PipelineLimits) -> Path:
    """The file a source names, checked again against the import directories (the file system can change)."""
    return import_path(source.path, limits.import_dirs, ["source", "file", "path"])


def collect_table(
    source: HttpSource | ScrapeSource,
    limits: PipelineLimits,
    log: Callable[[str, str], None],
    spill: Spill | None = None,
) -> pa.Table | Path:
    """An http or scrape source's records as a table typed like an upload (the collect stage, and previews);
    with `spill`, records beyond the job's budget go to scratch and come back as a Parquet file typed the same way.
    On failure nothing spilled is left."""
    began = time.perf_counter()
    fetcher = Fetcher(allow=parse_allow_list(limits.allowed_hosts), max_bytes=limits.max_source_bytes, log=log)
    collected: RecordPages | CollectedTable
    try:
        if isinstance(source, HttpSource):
            collected = collect_http(
                source,
                fetcher,
                max_records=limits.max_records,
                log=log,
                max_decompressed_bytes=limits.max_decompressed_bytes,
                spill=spill,
            )
        else:
            collected = collect_scrape(source, fetcher, max_records=limits.max_records, log=log, spill=spill)
        fetched = time.perf_counter()
        table = collected.result() if collected.rows else None
    finally:
        if spill is not None:
            spill.discard()  # the segments; a typed file was already made of them
    names, rows = shape_of(table) if table is not None else ([], 0)
    if not names:
        if isinstance(table, Path):
            table.unlink(missing_ok=True)
        raise ServiceError(ErrorCode.PARSE_ERROR, "The source gave no records")
    assert table is not None
    log(
        f"Collected {rows:,} rows x {len(names)} columns in {time.perf_counter() - began:.3f} s "
        f"({fetcher.waited:.3f} s of it waiting on the network, {time.perf_counter() - fetched:.3f} s typing "
        f"the columns)",
        "INFO",
    )
    return table


def preview_source(
    source: HttpSource | ScrapeSource | DatasetSource | FileSource,
    steps: list[PipelineStep],
    *,
    data_dir: Path,
    limits: PipelineLimits,
    rows: int,
) -> dict[str, Any]:
    """What a source's first page gives, typed, after `steps`: for trying selectors and paths before
    saving. Blocking (it fetches): call it off the event loop. Nothing is stored."""
    messages: list[str] = []
    lock = threading.Lock()

    def log(message: str, level: str) -> None:
        with lock:
            messages.append(f"{level}: {message}")

    if isinstance(source, DatasetSource):
        batches = pq.ParquetFile(files.fetched(files.parquet_path(data_dir, source.dataset_id))).iter_batches(
            batch_size=max(rows, 1000)
        )
        table = pa.Table.from_batches([next(batches)])
    elif isinstance(source, FileSource):
        table = read_local_csv_head(
            file_source_path(source, limits),
            rows=max(rows, 1000),
            max_decompressed_bytes=limits.max_decompressed_bytes,
            log=log,
        )
    else:
        collected = collect_table(source.model_copy(update={"max_pages": 1, "delay_seconds": 0}), limits, log)
        assert isinstance(collected, pa.Table)  # nothing spills without a Spill
        table = collected
    if steps:
        checked = validate_steps([(s.step, s.params) for s in steps], describe_columns(table))
        frame, _ = fit_recipe(table.to_pandas(), checked)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        messages.append(f"INFO: Applied {len(steps)} step(s)")
    return {
        "columns": describe_columns(table),
        "names": table.column_names,
        "total_rows": table.num_rows,
        "rows": json_rows(table.slice(0, rows)),
        "log": messages,
    }
