"""Health for everyone, system facts for admins."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import strawberry
from sqlmodel import col, func, select
from strawberry.scalars import JSON

from resolvers.context import AppState, Context
from resolvers.fields import query
from resolvers.permissions import IsAdmin, IsAuthenticated
from schema.common import Node, from_global_id, to_global_id
from schema.comparisons import comparison_type
from schema.conversion import fields_of, loaded
from schema.database import DatabaseInfo, DatabasePool, RedisInfo
from schema.datasets import Dataset
from schema.domain import GraphQLDomain
from schema.job_cluster import LiveWorker, PriorityDepth, QueueDepth
from schema.jobs import Job as JobType
from schema.models import Model
from schema.pipelines import Pipeline
from schema.pipelines import PipelineRun as PipelineRunType
from schema.reports import report_type
from schema.system import Health, SystemInfo
from schema.users import User
from services import system
from services.comparison.service import get_comparison
from services.jobs import queries
from services.jobs.kinds import QUEUES, JobKindSpec, queue_of
from services.jobs.priority import Priority
from services.jobs.priority import parse as parse_priority
from services.jobs.status import JobStatus
from services.pipelines import service as pipeline_service
from services.storage import db
from services.storage.tables import Job
from services.system import redacted_url


@dataclass
class HealthReport:
    status: str
    version: str
    time: datetime
    active_jobs: int
    database: bool
    redis: bool | None  # None: no Redis configured


@dataclass
class SystemReport:
    uptime_seconds: float
    active_jobs: list[Job]
    queued_jobs: int
    workers: int
    database_url: str
    database_size_bytes: float | None
    data_dir_size_bytes: float | None
    counts: dict[str, Any]
    database: system.DatabaseFacts
    revision: str | None
    head_revision: str | None
    redis: system.RedisFacts | None
    executor: str
    queues: list[dict[str, Any]]
    live_workers: list[dict[str, Any]]


async def health(app: AppState) -> HealthReport:
    async with app.sessions() as session:
        database = await system.database_reachable(session)
        if app.jobs.executor.runs_jobs_here:
            active = len(app.jobs.active_job_ids)
        else:  # the cluster's: a replica's health says how busy the workers behind it are
            active = await queries.count_running(session) if database else 0
    redis_url = app.settings.redis_url
    redis = await system.redis_reachable(redis_url) if redis_url else None
    healthy = database and redis is not False
    return HealthReport(
        status="ok" if healthy else "degraded",
        version=app.version,
        time=datetime.now(UTC),
        active_jobs=active,
        database=database,
        redis=redis,
    )


async def system_info(ctx: Context) -> SystemReport:
    app = ctx.app
    settings = app.settings
    async with app.sessions() as session:
        running = list(
            (await session.exec(select(Job).where(Job.status == JobStatus.RUNNING).order_by(col(Job.started_at)))).all()
        )
        queued = await session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)) or 0
        counts = await system.row_counts(session)
        database = await system.database_facts(session, settings.resolved_database_url)
        by_kind = await queries.count_active_by_priority(session)
    revision = await db.current_revision(app.engine)
    redis = await system.redis_facts(settings.redis_url) if settings.redis_url else None
    data_size = await asyncio.to_thread(system.data_dir_size, settings.resolved_data_dir)
    return SystemReport(
        uptime_seconds=time.monotonic() - app.started_at,
        active_jobs=running,
        queued_jobs=queued,
        workers=app.jobs.executor.workers,
        database_url=system.redacted_url(settings.resolved_database_url),
        database_size_bytes=system.database_file_size(settings.resolved_database_url),
        data_dir_size_bytes=data_size,
        counts=counts,
        database=database,
        revision=revision,
        head_revision=db.head_revision(),
        redis=redis,
        executor=settings.executor,
        queues=queue_depths(by_kind, app.jobs.kinds),
        live_workers=await app.jobs.executor.live_workers(),
    )


def queue_depths(by_kind: dict[tuple[str, str, str], int], kinds: dict[str, JobKindSpec]) -> list[dict[str, Any]]:
    depths: dict[str, dict[str, Any]] = {
        name: {
            "name": name,
            "queued": 0,
            "running": 0,
            "by_priority": {p.name: {"priority": p, "queued": 0, "running": 0} for p in reversed(Priority)},
        }
        for name in QUEUES
    }
    for (kind, status, priority), count in by_kind.items():
        column = "queued" if status == JobStatus.QUEUED else "running"
        queue = depths[queue_of(kinds, kind)]
        queue[column] += count
        queue["by_priority"][parse_priority(priority).name][column] += count
    return [{**queue, "by_priority": list(queue["by_priority"].values())} for queue in depths.values()]


def database_info(report: SystemReport) -> DatabaseInfo:
    facts = report.database
    pool = DatabasePool(**vars(facts.pool)) if facts.pool else None
    return DatabaseInfo(
        engine=facts.engine,
        server_version=facts.server_version,
        size_bytes=facts.size_bytes,
        pool=pool,
        revision=report.revision,
        head_revision=report.head_revision,
    )


def redis_info(report: SystemReport, redis_url: str | None) -> RedisInfo | None:
    if report.redis is None or redis_url is None:
        return None
    return RedisInfo(url=redacted_url(redis_url), **vars(report.redis))


class SystemQuery:
    @strawberry.field(description="Open to everyone, for load balancers and dashboards")
    async def health(self, info: strawberry.Info) -> Health:
        report = await health(info.context.app)
        return Health(**fields_of(Health, report))

    @strawberry.field(permission_classes=[IsAuthenticated, IsAdmin], description="ADMIN only")
    async def system(self, info: strawberry.Info) -> SystemInfo | None:
        report = await system_info(info.context)
        return SystemInfo(
            **fields_of(
                SystemInfo,
                report,
                active_jobs=[JobType.from_row(j) for j in report.active_jobs],
                counts=JSON(report.counts),
                database=database_info(report),
                redis=redis_info(report, info.context.settings.redis_url),
                queues=[
                    QueueDepth(
                        name=q["name"],
                        queued=q["queued"],
                        running=q["running"],
                        by_priority=[PriorityDepth(**p) for p in q["by_priority"]],
                    )
                    for q in report.queues
                ],
                live_workers=[
                    LiveWorker(
                        name=w["name"],
                        queues=w["queues"],
                        concurrency=w["concurrency"],
                        running_job_ids=[to_global_id("Job", j) for j in w["running"]],
                    )
                    for w in report.live_workers
                ],
            )
        )

    @query(description="Any object of the caller's by global id")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        decoded = from_global_id(id)
        if decoded is None:
            return None
        type_name, object_id = decoded
        context: Context = info.context
        loaders = context.loaders
        if type_name == "Dataset":
            return await loaded(loaders.dataset, object_id, Dataset.from_row)
        if type_name == "Job":
            return await loaded(loaders.job, object_id, JobType.from_row)
        if type_name == "Model":
            return await loaded(loaders.model, object_id, Model.from_row)
        if type_name == "Pipeline":
            pipeline = await context.owned(pipeline_service.get_pipeline, pipeline_id=object_id)
            return Pipeline.from_row(pipeline) if pipeline else None
        if type_name == "PipelineRun":
            return await loaded(loaders.pipeline_run, object_id, PipelineRunType.from_row)
        if type_name == "Report":
            return await loaded(loaders.report, object_id, lambda row: report_type(info, row))
        if type_name == "Comparison":
            comparison = await context.owned(get_comparison, comparison_id=object_id)
            return comparison_type(info, comparison) if comparison else None
        if type_name == "User" and object_id == context.user_id:
            return User.from_row(context.signed_in)
        return None


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="system", query=SystemQuery)
