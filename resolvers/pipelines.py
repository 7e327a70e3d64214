"""Pipelines of the caller: save, change, preview, run."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader

from resolvers.context import Context
from resolvers.fields import mutation, owned_connection, owned_node
from resolvers.loaders import Loaders
from schema.common import payload, raw_id, to_global_id
from schema.config_shapes import as_plain, given_checks, given_part
from schema.conversion import loaded
from schema.datasets import Column, Dataset, DeleteInput, DeletePayload, ImportDatasetPayload, Table
from schema.domain import GraphQLDomain, Made
from schema.jobs import Job
from schema.pipelines import (
    CreatePipelineInput,
    ImportPipelineOutputInput,
    Pipeline,
    PipelineConnection,
    PipelineRun,
    RunPipelineInput,
    SourceInput,
    UpdatePipelineInput,
)
from schema.preprocessing import PreprocessStepInput, step_to_params
from services.pagination import checked_count
from services.pipelines import runs, service
from services.pipelines.config import PipelineLimits, parse_source, parse_steps
from services.pipelines.job import preview_source
from services.pipelines.results import RunParams
from services.storage.tables import Job as JobRow
from services.storage.tables import PipelineRun as PipelineRunRow

if TYPE_CHECKING:
    from server.settings import Settings


def pipeline_limits(settings: Settings) -> PipelineLimits:
    """What a PIPELINE job may fetch; the same for runs asked for and runs the scheduler starts."""
    return PipelineLimits(
        allowed_hosts=settings.allowed_source_hosts,
        max_source_bytes=int(settings.max_source_mb * 2**20),
        max_records=settings.max_source_records,
        max_decompressed_bytes=int(settings.max_decompressed_mb * 2**20),
        import_dirs=settings.import_dirs,
    )


@payload
class PipelinePayload:
    pipeline: Pipeline | None = None


@payload
class RunPipelinePayload:
    run: PipelineRun | None = None
    job: Job | None = None


def _steps(steps) -> list[dict] | None:
    if steps is None:
        return None
    return [{"step": kind, "params": params} for kind, params in map(step_to_params, steps)]


@strawberry.input(description="A source to try before saving a pipeline with it")
class PreviewSourceInput:
    source: SourceInput
    steps: list[PreprocessStepInput] | None = None
    rows: int | None = strawberry.field(default=20, description="Rows to show (the whole first page is typed)")


@strawberry.type(description="What a source's first page gives: nothing is stored")
class SourcePreview:
    columns: list[Column] = strawberry.field(description="Typed as a run would type them, on the first page")
    rows: Table
    log: list[str] = strawberry.field(description="What collecting said: pages, warnings")


@payload
class PreviewSourcePayload:
    preview: SourcePreview | None = None


class PipelinesQuery:
    pipelines = owned_connection(
        service.list_pipelines,
        PipelineConnection,
        Pipeline.from_row,
        description="The caller's pipelines, newest first",
    )
    pipeline = owned_node(service.get_pipeline, Pipeline, "pipeline_id")


class PipelinesMutation:
    @mutation()
    async def create_pipeline(self, ctx: Context, input: CreatePipelineInput) -> PipelinePayload:
        config = {
            "source": given_part(input.source),
            "steps": _steps(input.steps) or [],
            "sink": given_part(input.sink),
        }
        if input.checks is not None:  # left out of `config` when not given, as it was before checks existed
            config["checks"] = given_checks(input.checks)
        schedule = as_plain(input.schedule) if input.schedule is not None else None
        row = await ctx.owned(
            service.create_pipeline,
            name=input.name,
            config=config,
            allowed_hosts=ctx.settings.allowed_source_hosts,
            schedule=schedule,
            import_dirs=ctx.settings.import_dirs,
            min_schedule_seconds=ctx.settings.min_schedule_seconds,
        )
        return PipelinePayload(pipeline=Pipeline.from_row(row))

    @mutation(description="Change the saved config; past runs keep theirs")
    async def update_pipeline(self, ctx: Context, input: UpdatePipelineInput) -> PipelinePayload:
        changes = {
            "name": input.name,
            "source": given_part(input.source),
            "steps": _steps(input.steps),
            "sink": given_part(input.sink),
            "checks": given_checks(input.checks),
        }
        if input.schedule is not strawberry.UNSET:
            changes["schedule"] = as_plain(input.schedule) if input.schedule is not None else None
        row = await ctx.owned(
            service.update_pipeline,
            pipeline_id=raw_id(input.id, "Pipeline"),
            changes=changes,
            allowed_hosts=ctx.settings.allowed_source_hosts,
            import_dirs=ctx.settings.import_dirs,
            min_schedule_seconds=ctx.settings.min_schedule_seconds,
        )
        return PipelinePayload(pipeline=Pipeline.from_row(row))

    @mutation()
    async def delete_pipeline(self, ctx: Context, input: DeleteInput) -> DeletePayload:
        pipeline_id = raw_id(input.id, "Pipeline")
        await ctx.with_jobs(service.delete_pipeline, pipeline_id=pipeline_id)
        return DeletePayload(deleted_id=to_global_id("Pipeline", pipeline_id or ""))

    @mutation(
        description=(
            "Fetch a source's first page and show its rows, typed and through the steps, without saving anything: "
            "for trying selectors, paths and steps. A mutation because it makes requests to the source"
        )
    )
    async def preview_source(self, ctx: Context, input: PreviewSourceInput) -> PreviewSourcePayload:
        settings = ctx.settings
        rows = checked_count(input.rows, name="rows", default=20, least=1, most=settings.max_preview_rows)
        given = given_part(input.source)
        assert given is not None, "`source` is a required input"
        source = parse_source(given)
        await ctx.owned(
            service.check_source,
            source=source,
            steps=None,
            allowed_hosts=settings.allowed_source_hosts,
            import_dirs=settings.import_dirs,
        )
        found = await asyncio.to_thread(
            preview_source,
            source,
            parse_steps(_steps(input.steps) or []),
            data_dir=settings.resolved_data_dir,
            limits=pipeline_limits(settings),
            rows=rows,
        )
        columns = [Column.from_dict(c) for c in found["columns"]]
        return PreviewSourcePayload(
            preview=SourcePreview(
                columns=columns,
                log=found["log"],
                rows=Table(columns=found["names"], rows=found["rows"], offset=0, total_rows=found["total_rows"]),
            )
        )

    @mutation(
        description="Make a dataset of a pipeline run's Parquet or SQLite output (an INGEST job, as an upload "
        "gets): then profileDataset, chart, train or analyse it"
    )
    async def import_pipeline_output(self, ctx: Context, input: ImportPipelineOutputInput) -> ImportDatasetPayload:
        from services.pipelines.output_import import import_pipeline_output

        settings = ctx.settings
        dataset, job = await ctx.with_jobs(
            import_pipeline_output,
            pipeline_id=raw_id(input.pipeline_id, "Pipeline"),
            run_id=raw_id(input.run_id, "PipelineRun") if input.run_id else None,
            name=input.name,
            max_decompressed_bytes=int(settings.max_decompressed_mb * 2**20),
            max_sheet_rows=settings.max_sheet_rows,
        )
        return ImportDatasetPayload(dataset=Dataset.from_row(dataset), job=Job.from_row(job))

    @mutation(description="Start a PIPELINE job: collect, process, store")
    async def run_pipeline(self, ctx: Context, input: RunPipelineInput) -> RunPipelinePayload:
        run, job = await ctx.with_jobs(
            service.start_pipeline_run,
            pipeline_id=raw_id(input.id, "Pipeline"),
            limits=pipeline_limits(ctx.settings),
        )
        return RunPipelinePayload(run=PipelineRun.from_row(run), job=Job.from_row(job))


async def _run_made(info: strawberry.Info, job: JobRow) -> PipelineRun | None:
    return await loaded(
        info.context.loaders.pipeline_run, RunParams.model_validate(job.params).run_id, PipelineRun.from_row
    )


def _pipeline_run(loaders: Loaders) -> DataLoader[str | None, PipelineRunRow | None]:
    return loaders.by_id(PipelineRunRow)


def _last_runs(loaders: Loaders, *, succeeded: bool) -> DataLoader[str, PipelineRunRow | None]:
    return loaders.owned(runs.last_runs, "pipeline_ids", succeeded=succeeded)


def _last_run(loaders: Loaders) -> DataLoader[str, PipelineRunRow | None]:
    """By pipeline id: its newest run."""
    return _last_runs(loaders, succeeded=False)


def _last_succeeded_run(loaders: Loaders) -> DataLoader[str, PipelineRunRow | None]:
    """By pipeline id: its newest successful run (its output's columns and data)."""
    return _last_runs(loaders, succeeded=True)


def _pipeline_stats(loaders: Loaders) -> DataLoader[str, dict[str, Any]]:
    return loaders.owned(runs.stats_of_pipelines, "pipeline_ids")


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(
    name="pipelines",
    query=PipelinesQuery,
    mutation=PipelinesMutation,
    makes={"PIPELINE": (Made(PipelineRun, _run_made, link="pipeline_run"),)},
    loaders={
        "pipeline_run": _pipeline_run,
        "last_run": _last_run,
        "last_succeeded_run": _last_succeeded_run,
        "pipeline_stats": _pipeline_stats,
    },
)
