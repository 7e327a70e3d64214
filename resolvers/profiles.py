"""Profiles and plots of the caller's datasets."""
from __future__ import annotations

import asyncio
from typing import Any

from services import files
from services.profiling import service as profiles
from services.storage.tables import Dataset, Job

from resolvers.context import Context


async def start(ctx: Context, *, dataset_id: str | None, plots: bool, bins: int | None) -> tuple[Dataset, Job]:
    async with ctx.session() as session:
        return await profiles.start_profile(session, jobs=ctx.app.jobs, owner_id=ctx.user_id, dataset_id=dataset_id,
                                            data_dir=ctx.settings.resolved_data_dir, plots=plots, bins=bins)


async def stored(ctx: Context, dataset: Dataset) -> dict[str, Any] | None:
    """The dataset's stored profile (the caller owns `dataset`: it came from a scoped lookup)."""
    return await asyncio.to_thread(profiles.load_profile, ctx.settings.resolved_data_dir, dataset.id)


async def plots(ctx: Context, dataset: Dataset) -> list[dict[str, Any]]:
    profile = await stored(ctx, dataset)
    settings = ctx.settings
    result = []
    for plot in (profile or {}).get("plots", []):
        token = files.sign_download(secret=settings.resolved_secret_key, owner_id=dataset.owner_id, kind="plot",
                                    object_id=dataset.id, fmt=plot["file"], minutes=settings.download_url_minutes)
        result.append({**plot, "url": f"/files/plots/{dataset.id}/{plot['file']}?token={token}"})
    return result
