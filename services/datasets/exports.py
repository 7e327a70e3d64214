"""EXPORT: a dataset version written as one file in the format a client asks for (CSV, Parquet or JSON Lines).

DuckDB streams it from the Parquet copy within the job's memory budget (services/dataplane.py), into a temporary
file that becomes the export only once complete; the owner downloads it through a signed link
(/files/jobs/{job id}, from this kind's `file` declaration). It lives in the dataset's folder, so it goes with the
dataset.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services import dataplane, files
from services.datasets import DatasetStatus
from services.datasets.dataset_jobs import submit_on_dataset
from services.errors import conflict, invalid, not_found
from services.jobs.context import JobContext
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobFile, JobHooks, JobKindSpec
from services.storage.lookup import owned_by_ids
from services.storage.tables import Dataset, Job

KIND = "EXPORT"


class ExportFormat(StrEnum):
    CSV = "CSV"
    PARQUET = "PARQUET"
    JSONL = "JSONL"


# DuckDB's COPY options, the file's extension and its media type, by format
WRITERS = {
    ExportFormat.CSV: ("FORMAT CSV, HEADER true", "csv", "text/csv"),
    ExportFormat.PARQUET: ("FORMAT PARQUET, COMPRESSION zstd", "parquet", "application/vnd.apache.parquet"),
    ExportFormat.JSONL: ("FORMAT JSON", "jsonl", "application/x-ndjson"),
}


class ExportResult(BaseModel):
    """What an EXPORT job stores as its result."""

    format: ExportFormat
    rows: int
    bytes: int


def export_path(data_dir: Path, dataset_id: str, job_id: str, fmt: ExportFormat) -> Path:
    return files.dataset_dir(data_dir, dataset_id) / files.EXPORTS / f"{job_id}.{WRITERS[fmt][1]}"


async def start_export(
    session: AsyncSession, *, jobs: JobEngine, owner_id: str, dataset_id: str | None, fmt: str, data_dir: Path
) -> Job:
    """Queue the export of one of the owner's READY datasets; nothing is stored when the request is refused."""
    if fmt not in ExportFormat.__members__:
        raise invalid(f"Unknown format {fmt}; the formats are {', '.join(ExportFormat)}", ["format"])
    # Another user's dataset is as absent as a missing one
    dataset = (await owned_by_ids(session, Dataset, owner_id=owner_id, ids=[dataset_id])).get(dataset_id or "")
    if dataset is None:
        raise not_found("Dataset", ["datasetId"])
    if dataset.status != DatasetStatus.READY:
        raise conflict(f"The dataset is {dataset.status}, not READY", ["datasetId"])
    params = {"name": dataset.name, "format": fmt}
    return await submit_on_dataset(session, jobs=jobs, kind=KIND, dataset=dataset, data_dir=data_dir, params=params)


def run_export(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    data_dir, fmt = Path(p["data_dir"]), ExportFormat(p["format"])
    source = files.fetched(files.parquet_path(data_dir, p["dataset_id"]))
    target = export_path(data_dir, p["dataset_id"], ctx.job_id, fmt)
    ctx.stage("write")
    ctx.log(f"Writing {p['name']} as {fmt}")
    connection = dataplane.connect(memory_mb=ctx.memory_mb, scratch_dir=ctx.scratch_dir)
    connection.execute("SET preserve_insertion_order = true")  # the file keeps the dataset's row order
    try:
        with files.atomic_output(target) as temporary:
            quoted = str(temporary).replace("'", "''")
            (rows,) = connection.execute(
                f"COPY (SELECT * FROM {dataplane.parquet_source(source)}) TO '{quoted}' ({WRITERS[fmt][0]})"  # noqa: S608 — our paths, ' doubled; a constant format
            ).fetchone() or (0,)
            ctx.checkpoint()  # a job cancelled while writing leaves no file
    finally:
        connection.close()
    size = target.stat().st_size
    ctx.log(f"Wrote {rows:,} row(s), {size:,} bytes")
    ctx.progress(1.0)
    return ExportResult(format=fmt, rows=rows, bytes=size).model_dump(mode="json")


def exported_file(data_dir: Path, job: Job) -> JobFile | None:
    """The file a SUCCEEDED EXPORT job wrote, for /files/jobs/{id}."""
    fmt = ExportFormat(job.params["format"])
    stem = Path(job.params["name"]).stem or "dataset"
    return JobFile(
        path=export_path(data_dir, job.params["dataset_id"], job.id, fmt),
        media_type=WRITERS[fmt][2],
        filename=f"{stem}.{WRITERS[fmt][1]}",
    )


async def on_export_failure(_session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    """Failed, cancelled or lost: no file of it stays, whole or partial."""
    target = export_path(
        files.job_data_dir(job.params), job.params["dataset_id"], job.id, ExportFormat(job.params["format"])
    )
    files.remove_file(target)
    for partial in target.parent.glob(f".{target.name}.*.part"):  # left by a worker killed mid-write
        partial.unlink(missing_ok=True)


JOB_KINDS = {
    KIND: JobKindSpec(
        work="services.datasets.exports:run_export",
        queue="default",
        # no success hook: the file is the export, and the job's result says what it holds
        hooks=JobHooks(on_failure=on_export_failure),
        result=ExportResult,
        file=exported_file,
    )
}
