"""A pipeline's runs: what the end of a PIPELINE job does to its run and output dataset (the job's hooks), the
webhook that announces it, and the reads over runs (a pipeline's list, the last run of each, their figures).

services/pipelines/service.py, which declares the job kind, exports these too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy import select as select_columns  # sqlmodel's select() types at most four columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.datasets import DatasetStatus
from services.pagination import Listing
from services.pipelines import RunStatus
from services.pipelines.results import RunResult
from services.storage.tables import Dataset, Job, Pipeline, PipelineRun, utcnow
from services.webhooks.events import WebhookEvent, api_id, publish


async def last_output_dataset(session: AsyncSession, pipeline_id: str) -> str | None:
    query = (
        select(PipelineRun.dataset_id)
        .where(
            PipelineRun.pipeline_id == pipeline_id,
            PipelineRun.status == RunStatus.SUCCEEDED,
            col(PipelineRun.dataset_id).is_not(None),
        )
        .order_by(col(PipelineRun.created_at).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def on_run_start(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    run = await session.get(PipelineRun, job.params["run_id"])
    if run is not None:
        run.status, run.started_at = RunStatus.RUNNING, utcnow()
        session.add(run)


async def on_run_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    run = await session.get(PipelineRun, job.params["run_id"])
    if run is None or result is None:
        return
    done = RunResult.model_validate(result)
    if run.dataset_id:  # dataset sinks count their versions: this run makes the next one
        earlier = (
            await session.scalar(
                select(func.count())
                .select_from(PipelineRun)
                .where(
                    PipelineRun.pipeline_id == run.pipeline_id,
                    PipelineRun.status == RunStatus.SUCCEEDED,
                    col(PipelineRun.dataset_id).is_not(None),
                )
            )
            or 0
        )
        done.version = earlier + 1
    run.status, run.finished_at = RunStatus.SUCCEEDED, utcnow()
    run.rows_in, run.rows_out, run.columns, run.output = done.rows_in, done.rows_out, done.columns, done.output
    run.version, run.checks = done.version, [c.model_dump() for c in done.checks]
    if run.dataset_id:
        dataset = await session.get(Dataset, run.dataset_id)
        if dataset is not None:
            parquet = files.parquet_path(files.job_data_dir(job.params), dataset.id)
            dataset.status, dataset.row_count, dataset.column_count = (
                DatasetStatus.READY,
                done.row_count,
                done.column_count,
            )
            dataset.columns, dataset.recipe = done.columns, done.recipe or None
            dataset.size_bytes = parquet.stat().st_size if parquet.exists() else 0
            session.add(dataset)
    session.add(run)
    await announce_run(session, run)


async def on_run_failure(session: AsyncSession, job: Job, details: dict[str, Any] | None) -> None:
    run = await session.get(PipelineRun, job.params["run_id"])
    if run is None:
        return
    run.status = RunStatus.CANCELLED if job.status == "CANCELLED" else RunStatus.FAILED
    run.error, run.finished_at = job.error, utcnow()
    run.checks = (details or {}).get("checks") or []  # failed checks are why the run failed: keep them
    session.add(run)
    if run.dataset_id:
        dataset = await session.get(Dataset, run.dataset_id)
        if dataset is not None:
            dataset.status, dataset.error = DatasetStatus.FAILED, job.error
            session.add(dataset)
        files.remove_tree(files.dataset_dir(files.job_data_dir(job.params), run.dataset_id))
    await announce_run(session, run)


async def announce_run(session: AsyncSession, run: PipelineRun) -> None:
    """PIPELINE_RUN_FINISHED for the owner's webhooks, queued in the transaction that ends the run."""
    pipeline = await session.get(Pipeline, run.pipeline_id)
    failed = [
        {"column": c.get("column"), "rule": str(c.get("rule")).upper(), "failingRows": c.get("failing_rows")}
        for c in run.checks
        if c.get("passed") is False
    ]
    await publish(
        session,
        user_id=run.owner_id,
        event=WebhookEvent.PIPELINE_RUN_FINISHED,
        data={
            "pipelineId": api_id("Pipeline", run.pipeline_id),
            "pipelineName": pipeline.name if pipeline else None,
            "runId": api_id("PipelineRun", run.id),
            "status": run.status,
            "error": run.error,
            "trigger": run.trigger,
            "rowsIn": run.rows_in,
            "rowsOut": run.rows_out,
            "version": run.version,
            "failedChecks": failed,
            "datasetId": api_id("Dataset", run.dataset_id) if run.dataset_id else None,
            "finishedAt": run.finished_at,
        },
    )


list_runs = Listing(PipelineRun, "pipeline_id")


async def last_runs(
    session: AsyncSession, *, owner_id: str, pipeline_ids: list[str], succeeded: bool = False
) -> dict[str, PipelineRun]:
    """The newest run (or newest successful one) of each pipeline, in one query."""
    wanted = [col(PipelineRun.pipeline_id).in_(set(pipeline_ids)), col(PipelineRun.owner_id) == owner_id]
    if succeeded:
        wanted.append(col(PipelineRun.status) == RunStatus.SUCCEEDED)
    newest = func.row_number().over(
        partition_by=PipelineRun.pipeline_id, order_by=(col(PipelineRun.created_at).desc(), col(PipelineRun.id).desc())
    )
    ranked = select(PipelineRun.id, newest.label("newest")).where(*wanted).subquery()
    rows = (
        await session.exec(
            select(PipelineRun).join(ranked, col(PipelineRun.id) == ranked.c.id).where(ranked.c.newest == 1)
        )
    ).all()
    return {run.pipeline_id: run for run in rows}


def _stats_of(runs: list[Any]) -> dict[str, Any]:
    finished = [r for r in runs if r.started_at and r.finished_at and r.status == RunStatus.SUCCEEDED]
    seconds = [(r.finished_at - r.started_at).total_seconds() for r in finished]
    return {
        "runs": len(runs),
        "succeeded": sum(r.status == RunStatus.SUCCEEDED for r in runs),
        "failed": sum(r.status == RunStatus.FAILED for r in runs),
        "mean_seconds": sum(seconds) / len(seconds) if seconds else None,
        "rows_out": sum(r.rows_out or 0 for r in runs if r.status == RunStatus.SUCCEEDED),
    }


async def stats_of_pipelines(
    session: AsyncSession, *, owner_id: str, pipeline_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Run counts, mean seconds and rows out of each pipeline, in one query reading only the columns they need."""
    rows = (
        await session.execute(
            select_columns(
                col(PipelineRun.pipeline_id),
                col(PipelineRun.status),
                col(PipelineRun.started_at),
                col(PipelineRun.finished_at),
                col(PipelineRun.rows_out),
            ).where(col(PipelineRun.pipeline_id).in_(set(pipeline_ids)), col(PipelineRun.owner_id) == owner_id)
        )
    ).all()
    by_pipeline: dict[str, list[Any]] = {pipeline_id: [] for pipeline_id in pipeline_ids}
    for row in rows:
        by_pipeline[row.pipeline_id].append(row)
    return {pipeline_id: _stats_of(runs) for pipeline_id, runs in by_pipeline.items()}
