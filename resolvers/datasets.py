"""Dataset operations: every lookup is scoped to the caller, so another user's id behaves like a missing one."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, cast

import strawberry
from starlette.datastructures import UploadFile
from strawberry.dataloader import DataLoader

from resolvers.context import Context
from resolvers.fields import mutation, query
from resolvers.loaders import Loaders
from schema.common import raw_id, to_global_id
from schema.conversion import loaded
from schema.dataset_exports import DatasetExport, ExportDatasetInput, ExportDatasetPayload, export_made
from schema.datasets import (
    Dataset,
    DatasetConnection,
    DeleteInput,
    DeletePayload,
    ImportDatasetInput,
    ImportDatasetPayload,
    UploadDatasetInput,
    UploadDatasetPayload,
)
from schema.domain import GraphQLDomain, Made
from schema.ingest import CsvOptionsInput
from schema.jobs import Job
from services.datasets import exports
from services.datasets import imports as dataset_imports
from services.datasets import service as dataset_service
from services.datasets.expiry import expiry
from services.datasets.upload import UploadArrival
from services.errors import ServiceError, not_found
from services.storage.tables import Dataset as DatasetRow
from services.storage.tables import Job as JobRow


async def _delete(ctx: Context, dataset_id: str | None) -> str:
    if dataset_id is None:
        raise not_found("Dataset", ["id"])
    await ctx.with_jobs(dataset_service.delete_dataset, dataset_id=dataset_id)
    await ctx.app.cache.forget_dataset(dataset_id)  # on every replica: Redis keys go; in-process, this is the one
    return dataset_id


def _expiry(ctx: Context, input: UploadDatasetInput | ImportDatasetInput) -> datetime | None:
    return expiry(
        temporary=input.temporary, expires_at=input.expires_at, default_hours=ctx.settings.temporary_dataset_hours
    )


def _csv_options(csv: CsvOptionsInput | None) -> dict:
    if csv is None:
        return {}
    return strawberry.asdict(csv) | {"on_bad_lines": csv.on_bad_lines.value if csv.on_bad_lines else None}


class DatasetsQuery:
    @query(description="The caller's datasets, newest first")
    async def datasets(
        self, ctx: Context, first: int | None = 20, after: str | None = None, search: str | None = None
    ) -> DatasetConnection:
        page = await ctx.owned(dataset_service.list_datasets, search=search, **ctx.page(first, after))
        return DatasetConnection.from_page(page, Dataset.from_row)

    @query()
    async def dataset(self, info: strawberry.Info, id: strawberry.ID) -> Dataset | None:
        return await loaded(info.context.loaders.dataset, raw_id(id, "Dataset"), Dataset.from_row)


class _ArrivingUpload(UploadArrival, Protocol):
    """A StagedUpload whose bytes still arrive: the upload service follows it; we hear if the body is cut off."""

    def on_cut_off(self, action: Callable[[], Awaitable[None]]) -> None: ...


class DatasetsMutation:
    @mutation(
        description="Upload a CSV/TSV/TXT file (optionally gzipped), an .xlsx/.xls/.ods workbook or a "
        "Parquet file with the GraphQL multipart "
        "request spec; it is ingested by an INGEST job."
    )
    async def upload_dataset(self, ctx: Context, input: UploadDatasetInput) -> UploadDatasetPayload:
        # strawberry declares Upload over bytes; over ASGI it is starlette's UploadFile (server.uploads.StagedUpload)
        settings, upload = ctx.settings, cast(UploadFile, input.file)
        options = _csv_options(input.csv)
        # still arriving (server.uploads): ingested as it lands
        arrival = cast(_ArrivingUpload, upload) if getattr(upload, "arriving", False) else None
        dataset, job = await ctx.with_jobs(
            dataset_service.create_from_upload,
            source=upload.file,
            file_name=upload.filename,
            staged_path=getattr(upload, "staged_path", None),
            arrival=arrival,
            stall_seconds=settings.upload_stall_seconds,
            name=input.name,
            csv_options=options,
            max_bytes=settings.max_upload_bytes,
            max_decompressed_bytes=int(settings.max_decompressed_mb * 1024 * 1024),
            max_sheet_rows=settings.max_sheet_rows,
            expires_at=_expiry(ctx, input),
        )
        if arrival is not None:

            async def undo() -> None:  # the body never completed: the dataset and its job go
                with contextlib.suppress(ServiceError):
                    await _delete(ctx, dataset.id)

            arrival.on_cut_off(undo)
        return UploadDatasetPayload(dataset=Dataset.from_row(dataset), job=Job.from_row(job))

    @mutation(
        description="Fetch an https:// file (or an s3:// object the server's credentials can read) into a new "
        "dataset and ingest it, in one INGEST job whose live log shows the download; the "
        "pipelines' rules on reachable hosts apply"
    )
    async def import_dataset(self, ctx: Context, input: ImportDatasetInput) -> ImportDatasetPayload:
        settings = ctx.settings
        limits = dataset_imports.ImportLimits(
            allowed_hosts=settings.allowed_source_hosts,
            max_bytes=settings.max_upload_bytes,
            max_decompressed_bytes=int(settings.max_decompressed_mb * 1024 * 1024),
            max_sheet_rows=settings.max_sheet_rows,
            stall_seconds=settings.upload_stall_seconds,
            extra_ca_file=settings.import_ca_file or None,
            allowed_s3_buckets=settings.import_s3_buckets,
        )
        dataset, job = await ctx.with_jobs(
            dataset_imports.import_from_url,
            url=input.url,
            name=input.name,
            csv_options=_csv_options(input.csv),
            limits=limits,
            expires_at=_expiry(ctx, input),
        )
        return ImportDatasetPayload(dataset=Dataset.from_row(dataset), job=Job.from_row(job))

    @mutation(description="Delete a dataset, its files and jobs")
    async def delete_dataset(self, info: strawberry.Info, input: DeleteInput) -> DeletePayload:
        deleted = await _delete(info.context, raw_id(input.id, "Dataset"))
        return DeletePayload(deleted_id=to_global_id("Dataset", deleted))

    @mutation(
        description="Write one of your READY datasets as a CSV, Parquet or JSON Lines file in an EXPORT job; "
        "once it SUCCEEDED, `job.output` is the DatasetExport with its download link"
    )
    async def export_dataset(self, ctx: Context, input: ExportDatasetInput) -> ExportDatasetPayload:
        job = await ctx.with_jobs(
            exports.start_export,
            dataset_id=raw_id(input.dataset_id, "Dataset"),
            fmt=input.format.value,
        )
        return ExportDatasetPayload(job=Job.from_row(job))


async def _dataset_made(info: strawberry.Info, job: JobRow) -> Dataset | None:
    return await loaded(info.context.loaders.dataset, job.dataset_id, Dataset.from_row)


def _dataset(loaders: Loaders) -> DataLoader[str | None, DatasetRow | None]:
    return loaders.by_id(DatasetRow)


def _dataset_children(loaders: Loaders) -> DataLoader[str, list[DatasetRow]]:
    """By dataset id: the versions derived from it."""
    return loaders.owned(dataset_service.children_of, "dataset_ids")


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(
    name="datasets",
    query=DatasetsQuery,
    mutation=DatasetsMutation,
    makes={"INGEST": (Made(Dataset, _dataset_made),), "EXPORT": (Made(DatasetExport, export_made),)},
    loaders={"dataset": _dataset, "dataset_children": _dataset_children},
)
