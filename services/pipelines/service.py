"""Pipelines: create, update, delete, run, and what their runs produced."""
from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.datasets.service import MAX_NAME, get_dataset
from services.errors import ServiceError, invalid
from services.pipelines import camel_case
from services.pipelines.checks import validate_checks
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobKindSpec
from services.pagination import Page, paginate
from services.pipelines.scrape import check_selectors
from services.pipelines import sinks
from services.pipelines.ssrf import check_url, parse_allow_list
from services.storage.tables import Dataset, Job, Pipeline, PipelineRun, utcnow

logger = logging.getLogger("assay.pipelines")
SECRET_VISIBLE = 4
MIN_SCHEDULE_SECONDS = 60
MAX_SCHEDULE_SECONDS = 366 * 86400
WEB_SOURCES = ("http", "scrape")  # the sources with request headers (secrets)
MAX_DELAY_SECONDS = 60
MASK = "•" * 8


GIVEN = "given"  # the config in the shape the client sent it (GraphQL names), kept beside the normalised one


def mask_config(config: dict[str, Any]) -> dict[str, Any]:
    """Config as shown to clients: as they gave it, header values cut to their last characters. (The
    schema rebuilds the given shape of pipelines saved before it was kept; see `shown_config`.)"""
    shown = copy.deepcopy(config.get(GIVEN) or {k: v for k, v in config.items() if k != GIVEN})
    for kind in WEB_SOURCES:
        source = shown.get("source", {}).get(kind)
        if source and isinstance(source.get("headers"), dict):
            source["headers"] = {k: (MASK + str(v)[-SECRET_VISIBLE:] if len(str(v)) > SECRET_VISIBLE * 2 else MASK)
                                 for k, v in source["headers"].items()}
    return shown


async def check_config(session: AsyncSession, *, owner_id: str, config: dict[str, Any], allowed_hosts: str) -> None:
    await check_source(session, owner_id=owner_id, source_config=config["source"], steps=config.get("steps"),
                       allowed_hosts=allowed_hosts)
    sinks.check_sink(config["sink"])
    validate_checks(config.get("checks") or [])


async def check_source(session: AsyncSession, *, owner_id: str, source_config: dict[str, Any],
                       steps: list[dict[str, Any]] | None, allowed_hosts: str) -> None:
    kind, source = next(iter(source_config.items()))
    if kind == "dataset":
        dataset = await get_dataset(session, owner_id=owner_id, dataset_id=source.get("dataset_id"))
        if dataset is None:
            raise ServiceError("NOT_FOUND", "Dataset not found", ["source", "dataset", "datasetId"])
        if steps:
            from services.preprocessing.validate import validate_steps
            validate_steps([(s["step"], s["params"]) for s in steps], dataset.columns)
    else:
        check_url(source["url"], parse_allow_list(allowed_hosts), ["source", kind, "url"])
        for name in ("headers", "params"):
            value = source.get(name)
            if value is not None and not (isinstance(value, dict) and all(isinstance(v, (str, int, float)) for v in value.values())):
                raise invalid(f"`{name}` must be an object of names to values", ["source", kind, name])
        if not 0 <= int(source.get("retries", 3)) <= 10:
            raise invalid("`retries` must be between 0 and 10", ["source", kind, "retries"])
        if not 0 <= float(source.get("delay_seconds") or 0) <= MAX_DELAY_SECONDS:
            raise invalid(f"`delaySeconds` must be between 0 and {MAX_DELAY_SECONDS}", ["source", kind, "delaySeconds"])
        if not 0 < float(source.get("timeout_seconds") or 30) <= 600:
            raise invalid("`timeoutSeconds` must be above 0 and at most 600", ["source", kind, "timeoutSeconds"])
        if kind == "http":
            if (source.get("method") or "GET").upper() not in ("GET", "POST"):
                raise invalid("`method` is GET or POST", ["source", "http", "method"])
            if not 1 <= int(source.get("max_pages") or 100) <= 10_000:
                raise invalid("`maxPages` must be between 1 and 10,000", ["source", "http", "maxPages"])
            check_paging(source)
            if source.get("format") == "CSV":
                for name in ("records_path", *PAGING_FIELDS):
                    if source.get(name):
                        raise invalid(f"`{camel_case(name)}` applies to JSON replies, not CSV",
                                      ["source", "http", camel_case(name)])
        elif not source.get("fields"):
            raise invalid("Give at least one field", ["source", "scrape", "fields"])
        else:
            if source.get("max_pages") is not None and not 1 <= int(source["max_pages"]) <= 10_000:
                raise invalid("`maxPages` must be between 1 and 10,000", ["source", "scrape", "maxPages"])
            check_selectors(source)


async def create_pipeline(session: AsyncSession, *, owner_id: str, name: str, config: dict[str, Any],
                          allowed_hosts: str, schedule: dict[str, Any] | None = None,
                          min_schedule_seconds: int = MIN_SCHEDULE_SECONDS) -> Pipeline:
    if not name.strip():
        raise invalid("The name cannot be blank", ["name"])
    await check_config(session, owner_id=owner_id, config=config, allowed_hosts=allowed_hosts)
    pipeline = Pipeline(owner_id=owner_id, name=name.strip()[:MAX_NAME], config=config)
    if schedule is not None:
        set_schedule(pipeline, schedule, min_seconds=min_schedule_seconds)
    session.add(pipeline)
    await session.commit()
    return pipeline


async def get_pipeline(session: AsyncSession, *, owner_id: str, pipeline_id: str | None) -> Pipeline | None:
    pipeline = await session.get(Pipeline, pipeline_id) if pipeline_id else None
    return pipeline if pipeline is not None and pipeline.owner_id == owner_id else None


async def require_pipeline(session: AsyncSession, *, owner_id: str, pipeline_id: str | None) -> Pipeline:
    pipeline = await get_pipeline(session, owner_id=owner_id, pipeline_id=pipeline_id)
    if pipeline is None:
        raise ServiceError("NOT_FOUND", "Pipeline not found", ["id"])
    return pipeline


async def update_pipeline(session: AsyncSession, *, owner_id: str, pipeline_id: str | None, changes: dict[str, Any],
                          allowed_hosts: str, min_schedule_seconds: int = MIN_SCHEDULE_SECONDS) -> Pipeline:
    """Past runs keep the config they ran with; only the saved config changes."""
    pipeline = await require_pipeline(session, owner_id=owner_id, pipeline_id=pipeline_id)
    config = copy.deepcopy(pipeline.config)
    given = config.get(GIVEN)
    if changes.get("source") is not None:
        _keep_masked_secrets(changes, pipeline.config)
    for key in ("source", "steps", "sink", "checks"):
        if changes.get(key) is not None:
            config[key] = changes[key]
            if given is not None:  # (without it, the echo is rebuilt from the stored form)
                given[key] = (changes.get(GIVEN) or {}).get(key)
    await check_config(session, owner_id=owner_id, config=config, allowed_hosts=allowed_hosts)
    if changes.get("name") is not None:
        if not changes["name"].strip():
            raise invalid("The name cannot be blank", ["name"])
        pipeline.name = changes["name"].strip()[:MAX_NAME]
    if "schedule" in changes:  # absent: unchanged; None: removed
        set_schedule(pipeline, changes["schedule"], min_seconds=min_schedule_seconds)
    pipeline.config, pipeline.updated_at = config, utcnow()
    session.add(pipeline)
    await session.commit()
    return pipeline


def _keep_masked_secrets(changes: dict[str, Any], stored: dict[str, Any]) -> None:
    """A header sent back exactly as `config` showed it (masked) keeps its stored value, so a client can
    edit the echoed config and send it back without overwriting its tokens with dots."""
    for kind in WEB_SOURCES:
        old = (stored.get("source") or {}).get(kind, {}).get("headers") or {}
        shown = (mask_config({"source": {kind: {"headers": old}}})["source"][kind]["headers"]) if old else {}
        for form in (changes["source"], (changes.get(GIVEN) or {}).get("source") or {}):
            headers = form.get(kind, {}).get("headers") if isinstance(form.get(kind), dict) else None
            if isinstance(headers, dict):
                for name, value in headers.items():
                    if name in old and value == shown[name]:
                        headers[name] = old[name]


async def delete_pipeline(session: AsyncSession, *, owner_id: str, pipeline_id: str | None, data_dir: Path,
                          jobs: JobEngine) -> None:
    pipeline = await require_pipeline(session, owner_id=owner_id, pipeline_id=pipeline_id)
    active = await session.exec(select(PipelineRun.job_id).where(PipelineRun.pipeline_id == pipeline.id,
                                                                 col(PipelineRun.status).in_(("QUEUED", "RUNNING"))))
    for job_id in active.all():
        if job_id:
            await jobs.cancel(job_id, reason="The pipeline was deleted")
    await session.delete(pipeline)
    await session.commit()
    files.remove_tree(data_dir / "pipelines" / pipeline.id)


async def last_output_dataset(session: AsyncSession, pipeline_id: str) -> str | None:
    query = (select(PipelineRun.dataset_id).where(PipelineRun.pipeline_id == pipeline_id, PipelineRun.status == "SUCCEEDED",
                                                   col(PipelineRun.dataset_id).is_not(None))
             .order_by(col(PipelineRun.created_at).desc()).limit(1))
    return (await session.exec(query)).first()


PAGING_FIELDS = ("next_page_path", "cursor_path", "cursor_param", "page_param", "offset_param")


def check_paging(source: dict[str, Any]) -> None:
    """One paging style at a time, with what it needs."""
    where = ["source", "http"]
    styles = [name for name, used in (("nextPagePath", source.get("next_page_path")),
                                      ("cursorPath/cursorParam", source.get("cursor_path") or source.get("cursor_param")),
                                      ("pageParam", source.get("page_param")), ("offsetParam", source.get("offset_param")))
              if used]
    if len(styles) > 1:
        raise invalid(f"Page one way: {' and '.join(styles)} cannot be used together", where)
    if bool(source.get("cursor_path")) != bool(source.get("cursor_param")):
        missing = "cursorParam" if source.get("cursor_path") else "cursorPath"
        raise invalid("A cursor needs both `cursorPath` (where each reply has it) and `cursorParam` (where it goes)",
                      [*where, missing])
    if source.get("first_page") is not None and not source.get("page_param"):
        raise invalid("`firstPage` goes with `pageParam`", [*where, "firstPage"])


def set_schedule(pipeline: Pipeline, schedule: dict[str, Any] | None, *, min_seconds: int) -> None:
    """Every `interval_seconds`, first that long from now; paused keeps the interval but runs nothing."""
    if schedule is None:
        pipeline.schedule_seconds, pipeline.schedule_paused, pipeline.next_run_at = None, False, None
        return
    interval = int(schedule["interval_seconds"])
    if not min_seconds <= interval <= MAX_SCHEDULE_SECONDS:
        raise invalid(f"`intervalSeconds` must be between {min_seconds:,} and {MAX_SCHEDULE_SECONDS:,}",
                      ["schedule", "intervalSeconds"])
    paused = bool(schedule.get("paused"))
    unchanged = pipeline.schedule_seconds == interval and not pipeline.schedule_paused and pipeline.next_run_at
    pipeline.schedule_seconds, pipeline.schedule_paused = interval, paused
    if paused:
        pipeline.next_run_at = None
    elif not unchanged:  # re-saving the same schedule keeps its place in time
        pipeline.next_run_at = utcnow() + timedelta(seconds=interval)


async def run_due_pipelines(sessions: Callable[[], AsyncSession], *, jobs: JobEngine, data_dir: Path,
                            limits: dict[str, Any], now: datetime | None = None) -> int:
    """Start a SCHEDULE run of every pipeline whose time has come; the number started.

    Each pipeline is claimed by moving its `next_run_at` with a compare-and-set, so two schedulers
    (replicas) never start the same run twice. Missed times are skipped, not caught up: a server
    that was down for a day runs a pipeline once, not once per missed interval. A pipeline still
    running from its last time is skipped until its next one (logged).
    """
    now = now or utcnow()
    async with sessions() as session:
        due = (await session.exec(select(Pipeline).where(col(Pipeline.next_run_at).is_not(None),
                                                         col(Pipeline.next_run_at) <= now,
                                                         col(Pipeline.schedule_paused).is_(False)))).all()
    started = 0
    for pipeline in due:
        interval = timedelta(seconds=pipeline.schedule_seconds or MIN_SCHEDULE_SECONDS)
        following = pipeline.next_run_at + interval * (1 + (now - pipeline.next_run_at) // interval)
        async with sessions() as session:
            claimed = await session.execute(update(Pipeline).where(
                col(Pipeline.id) == pipeline.id, col(Pipeline.next_run_at) == pipeline.next_run_at).values(
                next_run_at=following))
            await session.commit()
            if claimed.rowcount != 1:
                continue
            try:
                await start_pipeline_run(session, jobs=jobs, owner_id=pipeline.owner_id, pipeline_id=pipeline.id,
                                   data_dir=data_dir, limits=limits, trigger="SCHEDULE")
                started += 1
            except ServiceError as exc:
                await session.rollback()
                logger.warning("Scheduled run of pipeline %s skipped: %s", pipeline.id, exc.message)
    return started


async def start_pipeline_run(session: AsyncSession, *, jobs: JobEngine, owner_id: str, pipeline_id: str | None,
                       data_dir: Path, limits: dict[str, Any], trigger: str = "MANUAL") -> tuple[PipelineRun, Job]:
    pipeline = await require_pipeline(session, owner_id=owner_id, pipeline_id=pipeline_id)
    # One run at a time: two would race for the next Parquet version (one overwriting the other) and
    # fork the dataset's version history. The job's status decides, so a run row left behind by a
    # crash cannot block the pipeline for good.
    active = await session.exec(select(Job.id).join(PipelineRun, col(PipelineRun.job_id) == Job.id).where(
        PipelineRun.pipeline_id == pipeline.id, col(Job.status).in_(("QUEUED", "RUNNING", "NEEDS_INPUT"))).limit(1))
    if active.first() is not None:
        raise ServiceError("CONFLICT", "A run of this pipeline is still queued or running: wait for it, or cancel its "
                                       "job (lastRun { job { id } })", ["id"])
    config = pipeline.config
    run = PipelineRun(pipeline_id=pipeline.id, owner_id=owner_id, config=config, trigger=trigger)
    params = {"pipeline_id": pipeline.id, "owner_id": owner_id, "data_dir": str(data_dir), "config": config, **limits}
    sink_kind, sink = next(iter(config["sink"].items()))
    if sink_kind == "dataset":
        previous = await last_output_dataset(session, pipeline.id)
        output = Dataset(owner_id=owner_id, name=sink["name"][:MAX_NAME], file_name=f"{pipeline.name} (pipeline)"[:MAX_NAME],
                         parent_id=previous)
        session.add(output)
        await session.flush()
        run.dataset_id = params["output_dataset_id"] = output.id
    session.add(run)
    await session.flush()
    params["run_id"] = run.id
    job = await jobs.enqueue(session, owner_id=owner_id, kind="PIPELINE", dataset_id=run.dataset_id, params=params)
    run.job_id = job.id
    await session.commit()
    jobs.launch(job)
    return run, job


async def on_run_start(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    run = await session.get(PipelineRun, job.params["run_id"])
    if run is not None:
        run.status, run.started_at = "RUNNING", utcnow()
        session.add(run)


async def on_run_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    run = await session.get(PipelineRun, job.params["run_id"])
    if run is None or result is None:
        return
    if run.dataset_id:  # dataset sinks count their versions: this run makes the next one
        earlier = await session.scalar(select(func.count()).select_from(PipelineRun).where(
            PipelineRun.pipeline_id == run.pipeline_id, PipelineRun.status == "SUCCEEDED",
            col(PipelineRun.dataset_id).is_not(None))) or 0
        result = {**result, "version": earlier + 1}
    run.status, run.finished_at = "SUCCEEDED", utcnow()
    run.rows_in, run.rows_out, run.columns, run.output = result["rows_in"], result["rows_out"], result["columns"], result["output"]
    run.version, run.checks = result["version"], result.get("checks") or []
    if run.dataset_id:
        dataset = await session.get(Dataset, run.dataset_id)
        if dataset is not None:
            parquet = files.parquet_path(Path(job.params["data_dir"]), dataset.id)
            dataset.status, dataset.row_count, dataset.column_count = "READY", result["row_count"], result["column_count"]
            dataset.columns, dataset.recipe = result["columns"], result["recipe"] or None
            dataset.size_bytes = parquet.stat().st_size if parquet.exists() else 0
            session.add(dataset)
    session.add(run)


async def on_run_failure(session: AsyncSession, job: Job, details: dict[str, Any] | None) -> None:
    run = await session.get(PipelineRun, job.params["run_id"])
    if run is None:
        return
    run.status = "CANCELLED" if job.status == "CANCELLED" else "FAILED"
    run.error, run.finished_at = job.error, utcnow()
    run.checks = (details or {}).get("checks") or []  # failed checks are why the run failed: keep them
    session.add(run)
    if run.dataset_id:
        dataset = await session.get(Dataset, run.dataset_id)
        if dataset is not None:
            dataset.status, dataset.error = "FAILED", job.error
            session.add(dataset)
        files.remove_tree(files.dataset_dir(Path(job.params["data_dir"]), run.dataset_id))


async def list_pipelines(session: AsyncSession, *, owner_id: str, first: int, after: str | None, max_first: int) -> Page:
    return await paginate(session, Pipeline, filters=[col(Pipeline.owner_id) == owner_id], first=first, after=after,
                          max_first=max_first)


async def list_runs(session: AsyncSession, *, pipeline_id: str, first: int, after: str | None, max_first: int) -> Page:
    return await paginate(session, PipelineRun, filters=[col(PipelineRun.pipeline_id) == pipeline_id], first=first,
                          after=after, max_first=max_first)


async def last_run(session: AsyncSession, *, pipeline_id: str, succeeded: bool = False) -> PipelineRun | None:
    query = select(PipelineRun).where(PipelineRun.pipeline_id == pipeline_id)
    if succeeded:
        query = query.where(PipelineRun.status == "SUCCEEDED")
    return (await session.exec(query.order_by(col(PipelineRun.created_at).desc()).limit(1))).first()


async def stats(session: AsyncSession, *, pipeline_id: str) -> dict[str, Any]:
    runs = list((await session.exec(select(PipelineRun).where(PipelineRun.pipeline_id == pipeline_id))).all())
    finished = [r for r in runs if r.started_at and r.finished_at and r.status == "SUCCEEDED"]
    seconds = [(r.finished_at - r.started_at).total_seconds() for r in finished]
    return {"runs": len(runs), "succeeded": sum(r.status == "SUCCEEDED" for r in runs),
            "failed": sum(r.status == "FAILED" for r in runs),
            "mean_seconds": sum(seconds) / len(seconds) if seconds else None,
            "rows_out": sum(r.rows_out or 0 for r in runs if r.status == "SUCCEEDED")}


JOB_KINDS = {"PIPELINE": JobKindSpec(work="services.pipelines.job:run_pipeline", queue="default",
                                     preload=("services.pipelines.warm_up",), on_start=on_run_start,
                                     on_success=on_run_success, on_failure=on_run_failure)}
