"""Dataset export types: a dataset version written as one file by an EXPORT job, and its download link."""

from __future__ import annotations

import strawberry

from schema.common import payload, signed_link
from schema.jobs import Job, JobPriority, priority_input
from services.datasets import exports
from services.jobs.status import JobStatus
from services.storage.tables import Job as JobRow

ExportFormat = exports.ExportFormat  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(
    ExportFormat,
    name="DatasetExportFormat",
    description="CSV (UTF-8, comma, a header line), PARQUET (zstd) or JSONL (one JSON object per line)",
)


@strawberry.input(description="Write a dataset version as one file in an EXPORT job, then download it")
class ExportDatasetInput:
    dataset_id: strawberry.ID = strawberry.field(description="One of your READY datasets")
    format: ExportFormat = ExportFormat.CSV
    priority: JobPriority = priority_input()


@payload
class ExportDatasetPayload:
    job: Job | None = strawberry.field(
        default=None,
        description="The EXPORT job: once SUCCEEDED, its `output` is the DatasetExport with the download link",
    )


@strawberry.type(description="A dataset version written as one file by an EXPORT job")
class DatasetExport:
    format: ExportFormat
    rows: int
    bytes: int = strawberry.field(description="The file's size")
    url: str = strawberry.field(
        description="A signed link that expires (15 minutes by default); opens without a "
        "header, for the job's owner only"
    )


async def export_made(info: strawberry.Info, job: JobRow) -> DatasetExport | None:
    """A SUCCEEDED EXPORT job's file, with a fresh link (the job's output: resolvers/datasets.py declares it)."""
    if job.status != JobStatus.SUCCEEDED or not job.result:
        return None
    done = exports.ExportResult.model_validate(job.result)
    return DatasetExport(
        format=done.format,
        rows=done.rows,
        bytes=done.bytes,
        url=signed_link(info, f"/files/jobs/{job.id}", owner_id=job.owner_id, kind="job", object_id=job.id, fmt="FILE"),
    )
