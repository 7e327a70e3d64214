"""Pipelines of the caller."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from services.errors import invalid
from services.pagination import Page
from services.pipelines import RunStatus, service, sinks
from services.pipelines.config import PipelineLimits, parse_source, parse_steps
from services.pipelines.job import preview_source
from services.storage.tables import Job, Pipeline, PipelineRun

from resolvers.context import Context

if TYPE_CHECKING:
    from server.settings import Settings


def pipeline_limits(settings: "Settings") -> PipelineLimits:
    """What a PIPELINE job may fetch; the same for runs asked for and runs the scheduler starts."""
    return PipelineLimits(allowed_hosts=settings.allowed_source_hosts, max_source_bytes=int(settings.max_source_mb * 2**20),
                          max_records=settings.max_source_records,
                          max_decompressed_bytes=int(settings.max_decompressed_mb * 2**20))


def _limits(ctx: Context) -> PipelineLimits:
    return pipeline_limits(ctx.settings)


async def create(ctx: Context, *, name: str, config: dict[str, Any], schedule: dict[str, Any] | None = None) -> Pipeline:
    async with ctx.session() as session:
        return await service.create_pipeline(session, owner_id=ctx.user_id, name=name, config=config,
                                             allowed_hosts=ctx.settings.allowed_source_hosts, schedule=schedule,
                                             min_schedule_seconds=ctx.settings.min_schedule_seconds)


async def update(ctx: Context, pipeline_id: str | None, changes: dict[str, Any]) -> Pipeline:
    async with ctx.session() as session:
        return await service.update_pipeline(session, owner_id=ctx.user_id, pipeline_id=pipeline_id, changes=changes,
                                             allowed_hosts=ctx.settings.allowed_source_hosts,
                                             min_schedule_seconds=ctx.settings.min_schedule_seconds)


async def delete(ctx: Context, pipeline_id: str | None) -> str:
    async with ctx.session() as session:
        await service.delete_pipeline(session, owner_id=ctx.user_id, pipeline_id=pipeline_id,
                                      data_dir=ctx.settings.resolved_data_dir, jobs=ctx.app.jobs)
    return pipeline_id or ""


async def run(ctx: Context, pipeline_id: str | None) -> tuple[PipelineRun, Job]:
    async with ctx.session() as session:
        return await service.start_pipeline_run(session, jobs=ctx.app.jobs, owner_id=ctx.user_id, pipeline_id=pipeline_id,
                                          data_dir=ctx.settings.resolved_data_dir, limits=_limits(ctx))


async def get(ctx: Context, pipeline_id: str | None) -> Pipeline | None:
    async with ctx.session() as session:
        return await service.get_pipeline(session, owner_id=ctx.user_id, pipeline_id=pipeline_id)


async def get_run(ctx: Context, run_id: str | None) -> PipelineRun | None:
    async with ctx.session() as session:
        run = await session.get(PipelineRun, run_id) if run_id else None
    return run if run is not None and run.owner_id == ctx.user_id else None


async def list_page(ctx: Context, *, first: int, after: str | None) -> Page[Pipeline]:
    async with ctx.session() as session:
        return await service.list_pipelines(session, owner_id=ctx.user_id, first=first, after=after,
                                            max_first=ctx.settings.max_page_size)


async def runs(ctx: Context, pipeline: Pipeline, *, first: int, after: str | None) -> Page[PipelineRun]:
    async with ctx.session() as session:
        return await service.list_runs(session, pipeline_id=pipeline.id, first=first, after=after,
                                       max_first=ctx.settings.max_page_size)


async def last_run(ctx: Context, pipeline: Pipeline, *, succeeded: bool = False) -> PipelineRun | None:
    async with ctx.session() as session:
        return await service.last_run(session, pipeline_id=pipeline.id, succeeded=succeeded)


async def stats(ctx: Context, pipeline: Pipeline) -> dict[str, Any]:
    async with ctx.session() as session:
        return await service.stats(session, pipeline_id=pipeline.id)


async def data(ctx: Context, pipeline: Pipeline, *, offset: int, limit: int) -> tuple[list[str], list[list[Any]], int] | None:
    _check_page(ctx, offset, limit)
    latest = await last_run(ctx, pipeline, succeeded=True)
    return await run_data(ctx, latest, offset=offset, limit=limit) if latest else None


async def run_data(ctx: Context, run: PipelineRun, *, offset: int, limit: int) -> tuple[list[str], list[list[Any]], int] | None:
    """What the run stored: its own Parquet version or dataset (a SQLite table is shared, so: as it is now)."""
    _check_page(ctx, offset, limit)
    if run.status != RunStatus.SUCCEEDED or not run.output:
        return None
    return await asyncio.to_thread(sinks.read_output, ctx.settings.resolved_data_dir, run.owner_id, run.output,
                                   offset=offset, limit=limit)


def _check_page(ctx: Context, offset: int, limit: int) -> None:
    if offset < 0 or not 0 <= limit <= ctx.settings.max_preview_rows:
        raise invalid(f"`offset` >= 0 and `limit` between 0 and {ctx.settings.max_preview_rows}", ["limit"])


async def preview(ctx: Context, *, source_config: dict[str, Any], steps: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    """A source's first page, typed and through `steps`, without saving anything; fetched off the loop."""
    if not 1 <= rows <= ctx.settings.max_preview_rows:
        raise invalid(f"`rows` must be between 1 and {ctx.settings.max_preview_rows}", ["rows"])
    source = parse_source(source_config)
    async with ctx.session() as session:
        await service.check_source(session, owner_id=ctx.user_id, source=source, steps=None,
                                   allowed_hosts=ctx.settings.allowed_source_hosts)
    return await asyncio.to_thread(preview_source, source, parse_steps(steps), data_dir=ctx.settings.resolved_data_dir,
                                   limits=pipeline_limits(ctx.settings), rows=rows)
