"""Models of the caller: train, list, predict, predict a dataset, export, delete."""
from __future__ import annotations

import asyncio
from typing import Any

from services import files
from services.errors import not_found
from services.modeling import export
from services.modeling import service as models
from services.modeling.spec import TrainingSpec
from services.pagination import Page
from services.storage.tables import Dataset, Job, Model

from resolvers import datasets as dataset_resolvers
from resolvers import jobs as job_resolvers
from resolvers.context import Context


async def get(ctx: Context, model_id: str | None) -> Model | None:
    async with ctx.session() as session:
        return await models.get_model(session, owner_id=ctx.user_id, model_id=model_id)


async def for_job(ctx: Context, job: Job) -> Model | None:
    async with ctx.session() as session:
        return await models.model_for_job(session, owner_id=ctx.user_id, job=job)


async def list_page(ctx: Context, *, first: int, after: str | None, dataset_id: str | None = None) -> Page[Model]:
    async with ctx.session() as session:
        return await models.list_models(session, owner_id=ctx.user_id, first=first, after=after, dataset_id=dataset_id,
                                        max_first=ctx.settings.max_page_size)


async def train(ctx: Context, spec: TrainingSpec) -> tuple[Model, Job]:
    async with ctx.session() as session:
        return await models.start_training(session, jobs=ctx.app.jobs, owner_id=ctx.user_id,
                                           data_dir=ctx.settings.resolved_data_dir, spec=spec)


async def predict(ctx: Context, model_id: str | None, rows: list[Any]) -> list[dict[str, Any]]:
    model = await get(ctx, model_id)
    if model is None:
        raise not_found("Model", ["modelId"])
    return await asyncio.to_thread(models.predict_rows, ctx.settings.resolved_data_dir, model, rows)


async def predict_dataset(ctx: Context, model_id: str | None, dataset_id: str | None) -> tuple[Dataset, Job]:
    async with ctx.session() as session:
        return await models.start_predict_dataset(session, jobs=ctx.app.jobs, owner_id=ctx.user_id, model_id=model_id,
                                                  dataset_id=dataset_id, data_dir=ctx.settings.resolved_data_dir)


async def delete(ctx: Context, model_id: str | None) -> str:
    async with ctx.session() as session:
        await models.delete_model(session, owner_id=ctx.user_id, model_id=model_id,
                                  data_dir=ctx.settings.resolved_data_dir, jobs=ctx.app.jobs)
    return model_id or ""


async def export_url(ctx: Context, model: Model, fmt: str) -> str:
    await asyncio.to_thread(export.check_exportable, ctx.settings.resolved_data_dir, model, fmt)
    if fmt == "ONNX":  # convert now, so a pipeline that does not convert is a typed error, not a broken link
        await asyncio.to_thread(export.export_path, ctx.settings.resolved_data_dir, model, fmt)
    token = files.sign_download(secret=ctx.settings.resolved_secret_key, owner_id=model.owner_id, kind="model",
                                object_id=model.id, fmt=fmt, minutes=ctx.settings.download_url_minutes)
    return f"/files/models/{model.id}.{fmt.lower()}?token={token}"


async def job(ctx: Context, model: Model) -> Job | None:
    return await job_resolvers.get(ctx, model.job_id)


async def dataset(ctx: Context, model: Model) -> Dataset | None:
    return await dataset_resolvers.get(ctx, model.dataset_id)
