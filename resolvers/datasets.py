"""Datasets: every lookup is scoped to the caller, so another user's id behaves like a missing one."""
from __future__ import annotations

import asyncio
from typing import Any

from services.datasets import charts as chart_service
from services.datasets import service as dataset_service
from services import files
from services.errors import ServiceError, conflict, invalid, not_found
from services.pagination import Page
from services.storage.tables import Dataset, Job

from resolvers.context import Context

DOWNLOAD_FORMATS = ("CSV", "PARQUET", "REJECTS")


async def get(ctx: Context, dataset_id: str | None) -> Dataset | None:
    if dataset_id is None:
        return None
    async with ctx.session() as session:
        return await dataset_service.get_dataset(session, owner_id=ctx.user_id, dataset_id=dataset_id)


async def require(ctx: Context, dataset_id: str | None, field: list[str]) -> Dataset:
    dataset = await get(ctx, dataset_id)
    if dataset is None:
        raise not_found("Dataset", field)
    return dataset


async def list_page(ctx: Context, *, first: int, after: str | None, search: str | None) -> Page[Dataset]:
    async with ctx.session() as session:
        return await dataset_service.list_datasets(session, owner_id=ctx.user_id, first=first, after=after,
                                                   search=search, max_first=ctx.settings.max_page_size)


async def children(ctx: Context, dataset: Dataset) -> list[Dataset]:
    async with ctx.session() as session:
        return await dataset_service.list_children(session, owner_id=ctx.user_id, dataset_id=dataset.id)


async def upload(ctx: Context, *, upload: Any, name: str | None, csv_options: dict[str, Any]) -> tuple[Dataset, Job]:
    """Store and queue the upload; one still arriving (server.uploads) is ingested as it lands."""
    settings = ctx.settings
    arrival = upload if getattr(upload, "arriving", False) else None
    async with ctx.session() as session:
        dataset, job = await dataset_service.create_from_upload(
            session, jobs=ctx.app.jobs, owner_id=ctx.user_id, source=upload.file, file_name=upload.filename,
            staged_path=getattr(upload, "staged_path", None), arrival=arrival,
            stall_seconds=settings.upload_stall_seconds,
            name=name, csv_options=csv_options, data_dir=settings.resolved_data_dir,
            max_bytes=settings.max_upload_bytes, max_decompressed_bytes=int(settings.max_decompressed_mb * 1024 * 1024),
            max_sheet_rows=settings.max_sheet_rows)
    if arrival is not None:
        async def undo() -> None:  # the body never completed: the dataset and its job go
            try:
                await delete(ctx, dataset.id)
            except ServiceError:
                pass
        arrival.on_cut_off(undo)
    return dataset, job


async def delete(ctx: Context, dataset_id: str | None) -> str:
    if dataset_id is None:
        raise not_found("Dataset", ["id"])
    async with ctx.session() as session:
        await dataset_service.delete_dataset(session, jobs=ctx.app.jobs, owner_id=ctx.user_id, dataset_id=dataset_id,
                                             data_dir=ctx.settings.resolved_data_dir)
    return dataset_id


async def rows(ctx: Context, dataset: Dataset, *, offset: int, limit: int) -> tuple[list[str], list[list[Any]], int]:
    cap = ctx.settings.max_preview_rows
    if offset < 0:
        raise invalid("`offset` cannot be negative", ["offset"])
    if limit < 0 or limit > cap:
        raise invalid(f"`limit` must be between 0 and {cap}", ["limit"])
    if dataset.status != "READY":
        return [c["name"] for c in dataset.columns], [], dataset.row_count or 0
    return await asyncio.to_thread(dataset_service.read_rows, ctx.settings.resolved_data_dir, dataset.id,
                                   offset=offset, limit=limit)


def download_url(ctx: Context, dataset: Dataset, fmt: str) -> str:
    token = files.sign_download(secret=ctx.settings.resolved_secret_key, owner_id=dataset.owner_id, kind="dataset",
                                object_id=dataset.id, fmt=fmt, minutes=ctx.settings.download_url_minutes)
    return f"/files/datasets/{dataset.id}.{fmt.lower()}?token={token}"


async def chart(ctx: Context, dataset: Dataset, spec: dict[str, Any]) -> dict[str, Any]:
    if dataset.status != "READY":
        raise conflict(f"The dataset is {dataset.status}, not READY")
    return await asyncio.to_thread(chart_service.build_chart, ctx.settings.resolved_data_dir, dataset.id,
                                   dataset.columns, spec)
