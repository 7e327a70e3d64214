"""Pipelines: create, update, delete, schedule and run them (their runs: services/pipelines/runs.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.checks.service import pipeline_suites
from services.datasets.service import get_dataset
from services.errors import ErrorCode, ServiceError, conflict, invalid, not_found
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobHooks, JobKindSpec
from services.names import MAX_NAME, given_name
from services.pagination import Listing
from services.pipelines import ACTIVE_RUN_STATUSES
from services.pipelines.config import (
    PipelineConfig,
    PipelineLimits,
    from_stored,
    given_form,
    job_config,
    keep_masked_secrets,
    parse_config,
    parse_source,
    parse_steps,
    run_snapshot,
    secrets_of,
    stored_config,
)
from services.pipelines.config.sinks import DatasetSink
from services.pipelines.config.sources import DatasetSource, FileSource, HttpSource, ScrapeSource
from services.pipelines.config.steps import PipelineStep
from services.pipelines.local_files import import_path
from services.pipelines.results import RunResult
from services.pipelines.runs import last_output_dataset, on_run_failure, on_run_start, on_run_success
from services.pipelines.ssrf import check_url, parse_allow_list
from services.storage.lookup import owned, require_owned
from services.storage.tables import Dataset, Job, Pipeline, PipelineRun, User, utcnow

logger = logging.getLogger("assay.pipelines")
MIN_SCHEDULE_SECONDS = 60
MAX_SCHEDULE_SECONDS = 366 * 86400


def pipeline_config(pipeline: Pipeline) -> PipelineConfig:
    """The saved config, typed, header values put back from the secrets column."""
    return from_stored(pipeline.config, pipeline.secrets)


def run_config(run: PipelineRun) -> PipelineConfig:
    """What a run ran with (its header values masked: see `run_snapshot`)."""
    return PipelineConfig.model_validate(run.config)


async def checked_config(
    session: AsyncSession, *, owner_id: str, config: dict[str, Any], allowed_hosts: str, import_dirs: str = ""
) -> PipelineConfig:
    """A config as the client gave it (see `parse_config`), typed and checked. Refused in the order clients
    have always seen: the source (its fields, then its URL or its dataset and the steps on that dataset's
    columns), then the sink, then the checks."""
    source = parse_source(config["source"])
    await check_source(
        session,
        owner_id=owner_id,
        source=source,
        steps=parse_steps(config.get("steps")),
        allowed_hosts=allowed_hosts,
        import_dirs=import_dirs,
    )
    parsed = parse_config(config)
    await pipeline_suites(session, owner_id=owner_id, checks=parsed.checks)  # each named suite is the owner's
    return parsed


async def check_source(
    session: AsyncSession,
    *,
    owner_id: str,
    source: HttpSource | ScrapeSource | DatasetSource | FileSource,
    steps: list[PipelineStep] | None,
    allowed_hosts: str,
    import_dirs: str = "",
) -> None:
    """What a source's types cannot say: its URL may be fetched, its dataset is the owner's, its file
    is under an import directory and its owner an administrator."""
    match source:
        case DatasetSource(dataset_id=dataset_id):
            dataset = await get_dataset(session, owner_id=owner_id, dataset_id=dataset_id)
            if dataset is None:
                raise not_found("Dataset", ["source", "dataset", "datasetId"])
            if steps:
                from services.preprocessing.validate import validate_steps

                validate_steps([(s.step, s.params) for s in steps], dataset.columns)
        case HttpSource() | ScrapeSource():
            check_url(source.url, parse_allow_list(allowed_hosts), ["source", source.kind, "url"])
        case FileSource(path=path):
            await require_admin_for_files(session, owner_id)
            import_path(path, import_dirs, ["source", "file", "path"])


async def require_admin_for_files(session: AsyncSession, owner_id: str) -> None:
    """Files on the server's disk are the operator's to share: only administrators may read them."""
    owner = await session.get(User, owner_id)
    if owner is None or owner.role != "ADMIN":
        raise ServiceError(
            ErrorCode.FORBIDDEN, "Only administrators may read files on the server", ["source", "file", "path"]
        )


async def create_pipeline(
    session: AsyncSession,
    *,
    owner_id: str,
    name: str,
    config: dict[str, Any],
    allowed_hosts: str,
    schedule: dict[str, Any] | None = None,
    import_dirs: str = "",
    min_schedule_seconds: int = MIN_SCHEDULE_SECONDS,
) -> Pipeline:
    """`config` as the client gave it (see `parse_config`)."""
    name = given_name(name, field=["name"])
    typed = await checked_config(
        session, owner_id=owner_id, config=config, allowed_hosts=allowed_hosts, import_dirs=import_dirs
    )
    pipeline = Pipeline(owner_id=owner_id, name=name, config=stored_config(typed), secrets=secrets_of(typed))
    if schedule is not None:
        set_schedule(pipeline, schedule, min_seconds=min_schedule_seconds)
    session.add(pipeline)
    await session.commit()
    return pipeline


async def get_pipeline(session: AsyncSession, *, owner_id: str, pipeline_id: str | None) -> Pipeline | None:
    return await owned(session, Pipeline, owner_id=owner_id, row_id=pipeline_id)


async def require_pipeline(session: AsyncSession, *, owner_id: str, pipeline_id: str | None) -> Pipeline:
    return await require_owned(session, Pipeline, owner_id=owner_id, row_id=pipeline_id, what="Pipeline", field=["id"])


async def update_pipeline(
    session: AsyncSession,
    *,
    owner_id: str,
    pipeline_id: str | None,
    changes: dict[str, Any],
    allowed_hosts: str,
    min_schedule_seconds: int = MIN_SCHEDULE_SECONDS,
    import_dirs: str = "",
) -> Pipeline:
    """Past runs keep the config they ran with; only the saved config changes. `changes` holds the parts
    (source, steps, sink, checks) the client replaces, as given; absent or None: unchanged."""
    pipeline = await require_pipeline(session, owner_id=owner_id, pipeline_id=pipeline_id)
    current = pipeline_config(pipeline)
    merged = given_form(current)
    for key in ("source", "steps", "sink", "checks"):
        if changes.get(key) is not None:
            merged[key] = keep_masked_secrets(changes[key], current) if key == "source" else changes[key]
    typed = await checked_config(
        session, owner_id=owner_id, config=merged, allowed_hosts=allowed_hosts, import_dirs=import_dirs
    )
    if changes.get("name") is not None:
        pipeline.name = given_name(changes["name"], field=["name"])
    if "schedule" in changes:  # absent: unchanged; None: removed
        set_schedule(pipeline, changes["schedule"], min_seconds=min_schedule_seconds)
    pipeline.config, pipeline.secrets, pipeline.updated_at = stored_config(typed), secrets_of(typed), utcnow()
    session.add(pipeline)
    await session.commit()
    return pipeline


async def delete_pipeline(
    session: AsyncSession, *, owner_id: str, pipeline_id: str | None, data_dir: Path, jobs: JobEngine
) -> None:
    pipeline = await require_pipeline(session, owner_id=owner_id, pipeline_id=pipeline_id)
    active = await session.exec(
        select(PipelineRun.job_id).where(
            PipelineRun.pipeline_id == pipeline.id, col(PipelineRun.status).in_(ACTIVE_RUN_STATUSES)
        )
    )
    for job_id in active.all():
        if job_id:
            await jobs.cancel(job_id, reason="The pipeline was deleted")
    await session.delete(pipeline)
    await session.commit()
    await asyncio.to_thread(files.remove_tree, data_dir / "pipelines" / pipeline.id)


def set_schedule(pipeline: Pipeline, schedule: dict[str, Any] | None, *, min_seconds: int) -> None:
    """Every `interval_seconds`, first that long from now; paused keeps the interval but runs nothing."""
    if schedule is None:
        pipeline.schedule_seconds, pipeline.schedule_paused, pipeline.next_run_at = None, False, None
        return
    interval = int(schedule["interval_seconds"])
    if not min_seconds <= interval <= MAX_SCHEDULE_SECONDS:
        raise invalid(
            f"`intervalSeconds` must be between {min_seconds:,} and {MAX_SCHEDULE_SECONDS:,}",
            ["schedule", "intervalSeconds"],
        )
    paused = bool(schedule.get("paused"))
    unchanged = pipeline.schedule_seconds == interval and not pipeline.schedule_paused and pipeline.next_run_at
    pipeline.schedule_seconds, pipeline.schedule_paused = interval, paused
    if paused:
        pipeline.next_run_at = None
    elif not unchanged:  # re-saving the same schedule keeps its place in time
        pipeline.next_run_at = utcnow() + timedelta(seconds=interval)


async def run_due_pipelines(
    sessions: Callable[[], AsyncSession],
    *,
    jobs: JobEngine,
    data_dir: Path,
    limits: PipelineLimits,
    now: datetime | None = None,
) -> int:
    """Start a SCHEDULE run of every pipeline whose time has come; the number started.

    Each pipeline is claimed by moving its `next_run_at` with a compare-and-set, so two schedulers
    (replicas) never start the same run twice. Missed times are skipped, not caught up: a server
    that was down for a day runs a pipeline once, not once per missed interval. A pipeline still
    running from its last time is skipped until its next one (logged).
    """
    now = now or utcnow()
    async with sessions() as session:
        due = (
            await session.exec(
                select(Pipeline).where(
                    col(Pipeline.next_run_at).is_not(None),
                    col(Pipeline.next_run_at) <= now,
                    col(Pipeline.schedule_paused).is_(False),
                )
            )
        ).all()
    started = 0
    for pipeline in due:
        due_at = pipeline.next_run_at
        if due_at is None:  # not picked by the query above; the type does not know
            continue
        interval = timedelta(seconds=pipeline.schedule_seconds or MIN_SCHEDULE_SECONDS)
        following = due_at + interval * (1 + (now - due_at) // interval)
        async with sessions() as session:
            claimed = await session.exec(
                update(Pipeline)
                .where(col(Pipeline.id) == pipeline.id, col(Pipeline.next_run_at) == pipeline.next_run_at)
                .values(next_run_at=following)
            )
            await session.commit()
            if claimed.rowcount != 1:
                continue
            try:
                await start_pipeline_run(
                    session,
                    jobs=jobs,
                    owner_id=pipeline.owner_id,
                    pipeline_id=pipeline.id,
                    data_dir=data_dir,
                    limits=limits,
                    trigger="SCHEDULE",
                )
                started += 1
            except ServiceError as exc:
                await session.rollback()
                logger.warning("Scheduled run of pipeline %s skipped: %s", pipeline.id, exc.message)
    return started


async def start_pipeline_run(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    pipeline_id: str | None,
    data_dir: Path,
    limits: PipelineLimits,
    trigger: str = "MANUAL",
) -> tuple[PipelineRun, Job]:
    pipeline = await require_pipeline(session, owner_id=owner_id, pipeline_id=pipeline_id)
    # One run at a time: two would race for the next Parquet version (one overwriting the other) and
    # fork the dataset's version history. The job's status decides, so a run row left behind by a
    # crash cannot block the pipeline for good.
    active = await session.exec(
        select(Job.id)
        .join(PipelineRun, col(PipelineRun.job_id) == Job.id)
        .where(PipelineRun.pipeline_id == pipeline.id, col(Job.status).in_(("QUEUED", "RUNNING", "NEEDS_INPUT")))
        .limit(1)
    )
    if active.first() is not None:
        raise conflict(
            "A run of this pipeline is still queued or running: wait for it, or cancel its "
            "job (lastRun { job { id } })",
            ["id"],
        )
    config = pipeline_config(pipeline)
    if isinstance(config.source, FileSource):
        await require_admin_for_files(session, owner_id)
    run = PipelineRun(pipeline_id=pipeline.id, owner_id=owner_id, config=run_snapshot(config), trigger=trigger)
    params = {
        "pipeline_id": pipeline.id,
        "owner_id": owner_id,
        "data_dir": str(data_dir),
        "config": job_config(config),
        "suites": await pipeline_suites(session, owner_id=owner_id, checks=config.checks),
        **limits.as_params(),
    }
    if isinstance(config.sink, DatasetSink):
        previous = await last_output_dataset(session, pipeline.id)
        output = Dataset(
            owner_id=owner_id,
            name=config.sink.name[:MAX_NAME],
            file_name=f"{pipeline.name} (pipeline)"[:MAX_NAME],
            parent_id=previous,
        )
        session.add(output)
        await session.flush()
        run.dataset_id = params["output_dataset_id"] = output.id
    params["run_id"] = run.id
    job = await jobs.submit(
        session, owner_id=owner_id, kind="PIPELINE", dataset_id=run.dataset_id, params=params, record=run
    )
    return run, job


list_pipelines = Listing(Pipeline, "owner_id")


# This domain's one declaration to the server and workers (services/domains.py lists it).
JOB_KINDS = {
    "PIPELINE": JobKindSpec(
        work="services.pipelines.job:run_pipeline",
        queue="default",
        preload=("services.pipelines.warm_up",),
        hooks=JobHooks(on_start=on_run_start, on_success=on_run_success, on_failure=on_run_failure),
        result=RunResult,
    )
}
