"""Pipeline operations."""
from __future__ import annotations

from typing import Optional

import strawberry

from resolvers import pipelines as pipeline_resolvers
from resolvers.permissions import IsAuthenticated
from services.errors import ServiceError

from schema.common import UserError, build_connection, field_error, raw_id, to_global_id, user_error
from schema.datasets import Column, DeleteInput, DeletePayload, Table
from schema.jobs import Job
from schema.pipelines import (CreatePipelineInput, Pipeline, PipelineConnection, PipelineEdge, PipelineRun,
                              RunPipelineInput, SourceInput, UpdatePipelineInput, as_given, as_plain, given_part)
from schema.preprocessing import PreprocessStepInput, step_to_params


@strawberry.type
class PipelinePayload:
    pipeline: Optional[Pipeline] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RunPipelinePayload:
    run: Optional[PipelineRun] = None
    job: Optional[Job] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _steps(steps) -> list[dict] | None:
    if steps is None:
        return None
    return [{"step": kind, "params": params} for kind, params in map(step_to_params, steps)]


@strawberry.input(description="A source to try before saving a pipeline with it")
class PreviewSourceInput:
    source: SourceInput
    steps: Optional[list[PreprocessStepInput]] = None
    rows: Optional[int] = strawberry.field(default=20, description="Rows to show (the whole first page is typed)")


@strawberry.type(description="What a source's first page gives: nothing is stored")
class SourcePreview:
    columns: list[Column] = strawberry.field(description="Typed as a run would type them, on the first page")
    rows: Table
    log: list[str] = strawberry.field(description="What collecting said: pages, warnings")


@strawberry.type
class PreviewSourcePayload:
    preview: Optional[SourcePreview] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PipelinesQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The caller's pipelines, newest first")
    async def pipelines(self, info: strawberry.Info, first: int | None = 20, after: str | None = None) -> PipelineConnection:
        try:
            page = await pipeline_resolvers.list_page(info.context, first=20 if first is None else first, after=after)
        except ServiceError as exc:
            raise field_error(exc) from exc
        return build_connection(PipelineConnection, PipelineEdge, Pipeline.from_row, page)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def pipeline(self, info: strawberry.Info, id: strawberry.ID) -> Pipeline | None:
        row = await pipeline_resolvers.get(info.context, raw_id(id, "Pipeline"))
        return Pipeline.from_row(row) if row else None


@strawberry.type
class PipelinesMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_pipeline(self, info: strawberry.Info, input: CreatePipelineInput) -> PipelinePayload:
        config = {"source": given_part(input.source), "steps": _steps(input.steps) or [], "sink": given_part(input.sink)}
        if input.checks is not None:  # left out of `config` when not given, as it was before checks existed
            config["checks"] = as_given(input.checks)
        schedule = as_plain(input.schedule) if input.schedule is not None else None
        try:
            return PipelinePayload(pipeline=Pipeline.from_row(await pipeline_resolvers.create(
                info.context, name=input.name, config=config, schedule=schedule)))
        except ServiceError as exc:
            return PipelinePayload(errors=[user_error(exc)])

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Change the saved config; past runs keep theirs")
    async def update_pipeline(self, info: strawberry.Info, input: UpdatePipelineInput) -> PipelinePayload:
        changes = {"name": input.name, "source": given_part(input.source), "steps": _steps(input.steps),
                   "sink": given_part(input.sink), "checks": as_given(input.checks)}
        if input.schedule is not strawberry.UNSET:
            changes["schedule"] = as_plain(input.schedule) if input.schedule is not None else None
        try:
            row = await pipeline_resolvers.update(info.context, raw_id(input.id, "Pipeline"), changes)
        except ServiceError as exc:
            return PipelinePayload(errors=[user_error(exc)])
        return PipelinePayload(pipeline=Pipeline.from_row(row))

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def delete_pipeline(self, info: strawberry.Info, input: DeleteInput) -> DeletePayload:
        try:
            deleted = await pipeline_resolvers.delete(info.context, raw_id(input.id, "Pipeline"))
        except ServiceError as exc:
            return DeletePayload(errors=[user_error(exc)])
        return DeletePayload(deleted_id=to_global_id("Pipeline", deleted))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description=(
        "Fetch a source's first page and show its rows, typed and through the steps, without saving anything: "
        "for trying selectors, paths and steps. A mutation because it makes requests to the source"))
    async def preview_source(self, info: strawberry.Info, input: PreviewSourceInput) -> PreviewSourcePayload:
        try:
            found = await pipeline_resolvers.preview(info.context, source_config=given_part(input.source),
                                                     steps=_steps(input.steps) or [],
                                                     rows=20 if input.rows is None else input.rows)
        except ServiceError as exc:
            return PreviewSourcePayload(errors=[user_error(exc)])
        columns = [Column.from_dict(c) for c in found["columns"]]
        return PreviewSourcePayload(preview=SourcePreview(columns=columns, log=found["log"], rows=Table(
            columns=found["names"], rows=found["rows"], offset=0, total_rows=found["total_rows"])))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Start a PIPELINE job: collect, process, store")
    async def run_pipeline(self, info: strawberry.Info, input: RunPipelineInput) -> RunPipelinePayload:
        try:
            run, job = await pipeline_resolvers.run(info.context, raw_id(input.id, "Pipeline"))
        except ServiceError as exc:
            return RunPipelinePayload(errors=[user_error(exc)])
        return RunPipelinePayload(run=PipelineRun.from_row(run), job=Job.from_row(job))
