"""Derive a cleaned version of the caller's dataset."""
from __future__ import annotations

from typing import Any

from services.preprocessing import service as preprocessing
from services.storage.tables import Dataset, Job

from resolvers.context import Context


async def start(ctx: Context, *, dataset_id: str | None, steps: list[tuple[str, dict[str, Any]]],
                name: str | None) -> tuple[Dataset, Job]:
    async with ctx.session() as session:
        return await preprocessing.start_preprocess(session, jobs=ctx.app.jobs, owner_id=ctx.user_id, dataset_id=dataset_id,
                                               steps=steps, name=name, data_dir=ctx.settings.resolved_data_dir)


def recipe(dataset: Dataset) -> Any:
    return preprocessing.public_recipe(dataset.recipe)
