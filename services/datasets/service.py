"""Datasets: upload, browse, preview, download and delete, each scoped to its owner (taking an upload in:
services/datasets/upload.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import dataplane, files
from services.datasets import DatasetStatus, exports
from services.datasets.charts import build_chart
from services.datasets.upload import (
    UploadArrival,
    check_options_fit_file,
    display_name,
    judgeable,
    store_upload,
    validate_csv_options,
)
from services.errors import conflict, invalid
from services.ingest.info import IngestResult
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobHooks, JobKindSpec
from services.jobs.status import ACTIVE
from services.names import MAX_NAME, derived_name, given_name
from services.pagination import Page, checked_count, contains, paginate
from services.registry.service import refuse_if_aliased
from services.storage import objects
from services.storage.lookup import owned, require_owned
from services.storage.tables import Dataset, Job, Model, Report
from services.values import json_rows


async def create_from_upload(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    source: BinaryIO,
    file_name: str | None,
    name: str | None,
    csv_options: dict[str, Any],
    data_dir: Path,
    max_bytes: int,
    max_decompressed_bytes: int,
    max_sheet_rows: int,
    staged_path: Path | None = None,
    arrival: UploadArrival | None = None,
    stall_seconds: float = 60,
    expires_at: datetime | None = None,
) -> tuple[Dataset, Job]:
    """Store the upload, then queue its INGEST job. On any refusal nothing is left behind.

    An `arrival` still streaming in is judged from its first bytes, and its job follows the rest.
    """
    options = validate_csv_options(csv_options)
    shown = display_name(file_name)
    dataset = Dataset(
        owner_id=owner_id,
        name=given_name(name, field=["name"]) or derived_name(shown),
        file_name=shown,
        csv_options=options,
        expires_at=expires_at,
    )
    async with discarded_on_failure(session, data_dir, dataset):
        if arrival is not None and objects.current() is not None:
            await arrival.wait_complete()  # a worker elsewhere reads the stored upload: it is stored whole
        following = await judgeable(arrival)
        dataset.size_bytes = await asyncio.to_thread(
            store_upload, source, files.original_path(data_dir, dataset.id), max_bytes, staged_path
        )
        await asyncio.to_thread(check_options_fit_file, files.original_path(data_dir, dataset.id), options)
        await asyncio.to_thread(files.publish, files.original_path(data_dir, dataset.id))
        session.add(dataset)
        await session.flush()
        params = ingest_params(
            dataset, data_dir, max_decompressed_bytes=max_decompressed_bytes, max_sheet_rows=max_sheet_rows
        )
        if following:
            params |= {
                "upload_state": str(files.upload_state_path(data_dir, dataset.id)),
                "upload_stall_seconds": stall_seconds,
            }
        # Not jobs.submit: the job may only start once the arrival reports where it follows the upload.
        job = await jobs.enqueue(session, owner_id=owner_id, kind="INGEST", dataset_id=dataset.id, params=params)
        await session.commit()
        if following and arrival is not None:  # following implies an arrival
            arrival.report_state_to(files.upload_state_path(data_dir, dataset.id))
    jobs.launch(job)
    return dataset, job


@asynccontextmanager
async def discarded_on_failure(session: AsyncSession, data_dir: Path, dataset: Dataset) -> AsyncIterator[None]:
    """Whatever fails inside (a refusal, a dropped request, the database) leaves nothing of the new dataset: its
    row is rolled back and its files are removed."""
    try:
        yield
    except BaseException:
        await session.rollback()
        files.remove_tree(files.dataset_dir(data_dir, dataset.id))
        raise


def ingest_params(
    dataset: Dataset, data_dir: Path, *, max_decompressed_bytes: int, max_sheet_rows: int
) -> dict[str, Any]:
    """What every INGEST job reads (services.ingest.job); an upload still arriving or a URL import adds its own."""
    return {
        "dataset_id": dataset.id,
        "data_dir": str(data_dir),
        "csv_options": dataset.csv_options,
        "max_decompressed_bytes": max_decompressed_bytes,
        "max_sheet_rows": max_sheet_rows,
    }


async def on_ingest_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    dataset = await session.get(Dataset, job.dataset_id)
    if dataset is None or result is None:
        return
    dataset.status, dataset.error = DatasetStatus.READY, None
    dataset.row_count, dataset.column_count = result["row_count"], result["column_count"]
    dataset.columns, dataset.ingest_info = result["columns"], result["ingest_info"]
    if result.get("size_bytes") is not None:  # known only at the end for an upload ingested while arriving
        dataset.size_bytes = result["size_bytes"]
    session.add(dataset)


async def on_ingest_failure(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    dataset = await session.get(Dataset, job.dataset_id)
    if dataset is None:
        return
    dataset.status, dataset.error = DatasetStatus.FAILED, job.error
    session.add(dataset)
    files.parquet_path(files.job_data_dir(job.params), dataset.id).unlink(missing_ok=True)
    files.discard_partial_outputs(files.dataset_dir(files.job_data_dir(job.params), dataset.id))


async def on_ingest_start(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    dataset = await session.get(Dataset, job.dataset_id)
    if dataset is not None and dataset.status == DatasetStatus.PENDING:
        dataset.status = DatasetStatus.INGESTING
        session.add(dataset)


async def get_dataset(session: AsyncSession, *, owner_id: str, dataset_id: str) -> Dataset | None:
    return await owned(session, Dataset, owner_id=owner_id, row_id=dataset_id)


async def get_ready_dataset(
    session: AsyncSession, *, owner_id: str, dataset_id: str | None, field: str = "datasetId", why: str = ", not READY"
) -> Dataset:
    """The owner's dataset for work that reads its rows: another user's is as absent as a missing one, and one
    not READY (still ingesting, failed) is refused, `why` ending the message."""
    dataset = await require_owned(session, Dataset, owner_id=owner_id, row_id=dataset_id, what="Dataset", field=[field])
    if dataset.status != DatasetStatus.READY:
        raise conflict(f"The dataset is {dataset.status}{why}", [field])
    return dataset


def new_version(source: Dataset, name: str) -> Dataset:
    """A PENDING version of `source` (same owner and file name) that a job will write: a preprocessed copy, a
    prediction, an analysis's auto-fixes."""
    return Dataset(owner_id=source.owner_id, name=name, file_name=source.file_name, parent_id=source.id)


async def list_datasets(
    session: AsyncSession, *, owner_id: str, first: int, after: str | None, search: str | None, max_first: int
) -> Page[Dataset]:
    filters = [col(Dataset.owner_id) == owner_id]
    if search and len(search) > MAX_NAME:  # could never match; SQLite refuses LIKE patterns over 50,000 bytes
        raise invalid(f"`search` must be at most {MAX_NAME} characters, as names are", ["search"])
    if search:
        filters.append(contains(Dataset.name, search))
    return await paginate(session, Dataset, filters=filters, first=first, after=after, max_first=max_first)


async def children_of(session: AsyncSession, *, owner_id: str, dataset_ids: list[str]) -> dict[str, list[Dataset]]:
    """By dataset id, the versions derived from it, oldest first; for many datasets in one query."""
    query = select(Dataset).where(col(Dataset.parent_id).in_(set(dataset_ids)), Dataset.owner_id == owner_id)
    children: dict[str, list[Dataset]] = {dataset_id: [] for dataset_id in dataset_ids}
    for child in (await session.exec(query.order_by(col(Dataset.created_at)))).all():
        if child.parent_id is not None:  # always: the query asks for children
            children[child.parent_id].append(child)
    return children


async def delete_dataset(
    session: AsyncSession, *, jobs: JobEngine, owner_id: str, dataset_id: str, data_dir: Path
) -> None:
    dataset = await require_owned(session, Dataset, owner_id=owner_id, row_id=dataset_id, what="Dataset", field=["id"])
    # Models and reports of this dataset go with it (rows by cascade): their files must go too.
    model_ids = (await session.exec(select(Model.id).where(Model.dataset_id == dataset_id))).all()
    await refuse_if_aliased(session, model_ids=list(model_ids), field=["id"], what="a model of this dataset")
    running = await session.exec(select(Job.id).where(Job.dataset_id == dataset_id, col(Job.status).in_(ACTIVE)))
    for job_id in running.all():
        await jobs.cancel(job_id, reason="The dataset was deleted")
    report_ids = (await session.exec(select(Report.id).where(Report.dataset_id == dataset_id))).all()
    await session.delete(dataset)
    await session.commit()
    await asyncio.to_thread(_remove_files, data_dir, dataset_id, list(model_ids), list(report_ids))


def _remove_files(data_dir: Path, dataset_id: str, model_ids: list[str], report_ids: list[str]) -> None:
    """Off the event loop: with an object store these are requests to it."""
    files.remove_tree(files.dataset_dir(data_dir, dataset_id))
    for model_id in model_ids:
        files.remove_tree(files.model_dir(data_dir, model_id))
    for report_id in report_ids:
        files.remove_file(files.report_path(data_dir, report_id))
        files.remove_file(files.report_path(data_dir, report_id).with_suffix(".json"))  # its document


async def row_page(
    data_dir: Path, dataset: Dataset, *, offset: int, limit: int, max_limit: int
) -> tuple[list[str], list[list[Any]], int]:
    """A page of a READY dataset's rows, read off the event loop; before READY, its columns and no rows."""
    checked_count(offset, name="offset", default=0, most=None)
    checked_count(limit, name="limit", default=20, most=max_limit)
    if dataset.status != DatasetStatus.READY:
        return [c["name"] for c in dataset.columns], [], dataset.row_count or 0
    return await asyncio.to_thread(read_rows, data_dir, dataset.id, offset=offset, limit=limit)


async def chart_points(
    data_dir: Path, dataset: Dataset, spec: dict[str, Any], *, memory_mb: int = 2048, scratch_dir: Path | None = None
) -> dict[str, Any]:
    """Chart points for a READY dataset, computed off the event loop (unset spec values: CHART_DEFAULTS),
    by DuckDB held to `memory_mb` and spilling under `scratch_dir`."""
    if dataset.status != DatasetStatus.READY:
        raise conflict(f"The dataset is {dataset.status}, not READY")
    return await asyncio.to_thread(
        build_chart, data_dir, dataset.id, dataset.columns, spec, memory_mb=memory_mb, scratch_dir=scratch_dir
    )


def read_rows(data_dir: Path, dataset_id: str, *, offset: int, limit: int) -> tuple[list[str], list[list[Any]], int]:
    """A page of rows from the Parquet copy, reading only the row groups that hold it."""
    parquet = objects.open_parquet(files.parquet_path(data_dir, dataset_id))  # a page: range reads, no download
    total = parquet.metadata.num_rows
    names = parquet.schema_arrow.names
    if offset >= total or limit == 0:
        return names, [], total
    groups: list[int] = []
    start, first_row = 0, None
    for index in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(index).num_rows
        if start + size > offset and start < offset + limit:
            groups.append(index)
            first_row = start if first_row is None else first_row
        start += size
    table = parquet.read_row_groups(groups).slice(offset - (first_row or 0), limit)  # offset < total: a group holds it
    return names, json_rows(table), total


def csv_export(data_dir: Path, dataset_id: str) -> Path:
    """The canonical CSV (UTF-8, comma), written once from the Parquet copy."""
    target = files.csv_export_path(data_dir, dataset_id)
    if not files.fetched(target).exists():
        with files.atomic_output(target) as temporary:
            parquet = pq.ParquetFile(files.fetched(files.parquet_path(data_dir, dataset_id)))
            with pacsv.CSVWriter(str(temporary), parquet.schema_arrow) as writer:
                for batch in dataplane.batches(parquet, batch_rows=65536):
                    writer.write_batch(batch)
        files.publish(target)  # written once for every replica
    return target


# This domain's one declaration to the server and workers (services/domains.py lists it).
JOB_KINDS = {
    "INGEST": JobKindSpec(
        work="services.ingest.job:run_ingest",
        queue="ingest",
        hooks=JobHooks(on_start=on_ingest_start, on_success=on_ingest_success, on_failure=on_ingest_failure),
        result=IngestResult,
    ),
    **exports.JOB_KINDS,
}
