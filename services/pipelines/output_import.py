"""A pipeline's Parquet or SQLite output as a dataset: then profile, chart, train or analyse it like an upload.

Seed 004's DataAnalyzer runs on what its storages hold; here the output version (a Parquet file) or the
SQLite table is handed to the same INGEST job an upload gets, so every detection and typing rule applies
and nothing about profiling needs to know where the rows came from. A dataset sink's output already is a
dataset: that case is answered with its id instead.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import sqlite3
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.datasets.service import discarded_on_failure, ingest_params
from services.errors import conflict, not_found
from services.jobs.engine import JobEngine
from services.names import MAX_NAME, given_name
from services.pipelines import RunStatus
from services.pipelines.sinks import parquet_dir, quoted, sqlite_path
from services.storage.lookup import require_owned
from services.storage.tables import Dataset, Job, Pipeline, PipelineRun

EXPORT_BATCH_ROWS = 10_000


async def import_pipeline_output(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    pipeline_id: str | None,
    run_id: str | None,
    name: str | None,
    data_dir: Path,
    max_decompressed_bytes: int,
    max_sheet_rows: int,
) -> tuple[Dataset, Job]:
    """A PENDING dataset holding the run's output and its queued INGEST job; refusals come first."""
    pipeline = await require_owned(
        session, Pipeline, owner_id=owner_id, row_id=pipeline_id, what="Pipeline", field=["pipelineId"]
    )
    run = await _chosen_run(session, pipeline, run_id)
    kind = (run.output or {}).get("kind")
    if kind == "dataset" or run.dataset_id:
        raise conflict(
            "This run's output already is a dataset: profile it with profileDataset "
            "(pipeline { lastRun { dataset { id } } })",
            ["runId"] if run_id else ["pipelineId"],
        )
    if kind not in ("parquet", "sqlite"):
        raise conflict("This run stored no output to import", ["runId"] if run_id else ["pipelineId"])
    source, file_name = _source_of(data_dir, pipeline, run)
    dataset = Dataset(
        owner_id=owner_id, name=given_name(name, field=["name"]) or file_name[:MAX_NAME], file_name=file_name[:MAX_NAME]
    )
    target = files.original_path(data_dir, dataset.id)
    async with discarded_on_failure(session, data_dir, dataset):
        found = await asyncio.to_thread(_copy_output, kind, source, run.output.get("table"), target)
        if not found:
            raise conflict(
                "The run's output is no longer stored (a later run replaced the table, or it was deleted)",
                ["runId"] if run_id else ["pipelineId"],
            )
        dataset.size_bytes = target.stat().st_size
        await asyncio.to_thread(files.publish, target)
        params = ingest_params(
            dataset, data_dir, max_decompressed_bytes=max_decompressed_bytes, max_sheet_rows=max_sheet_rows
        )
        job = await jobs.submit(
            session, owner_id=owner_id, kind="INGEST", dataset_id=dataset.id, params=params, record=dataset
        )
    return dataset, job


async def _chosen_run(session: AsyncSession, pipeline: Pipeline, run_id: str | None) -> PipelineRun:
    if run_id is not None:
        run = await session.get(PipelineRun, run_id)
        if run is None or run.pipeline_id != pipeline.id:
            raise not_found("Pipeline run", ["runId"])
        if run.status != RunStatus.SUCCEEDED:
            raise conflict(f"That run ended {run.status}: only a successful run's output can be imported", ["runId"])
        return run
    latest = (
        await session.exec(
            select(PipelineRun)
            .where(PipelineRun.pipeline_id == pipeline.id, PipelineRun.status == RunStatus.SUCCEEDED)
            .order_by(col(PipelineRun.finished_at).desc())
            .limit(1)
        )
    ).first()
    if latest is None:
        raise conflict("The pipeline has no successful run yet: run it first (runPipeline)", ["pipelineId"])
    return latest


def _source_of(data_dir: Path, pipeline: Pipeline, run: PipelineRun) -> tuple[Path, str]:
    if run.output.get("kind") == "parquet":
        return parquet_dir(data_dir, pipeline.id) / f"v{run.version}.parquet", f"{pipeline.name} v{run.version}.parquet"
    return sqlite_path(data_dir, run.owner_id), f"{pipeline.name} {run.output.get('table')}.csv"


def _copy_output(kind: str, source: Path, table: str | None, target: Path) -> bool:
    """The Parquet version copied as it is, or the SQLite table written out as CSV row batch by row batch
    (the ingest then types its columns like any CSV). False when the output is gone."""
    source = files.fetched(source)
    if not source.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        shutil.copyfile(source, target)
        return True
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as connection:
        try:
            cursor = connection.execute(f"SELECT * FROM {quoted(table or '')}")  # noqa: S608 — the table name quoted
        except sqlite3.OperationalError:  # the table was dropped or renamed since
            return False
        with target.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow([d[0] for d in cursor.description])
            while batch := cursor.fetchmany(EXPORT_BATCH_ROWS):
                writer.writerows(batch)
    return True
