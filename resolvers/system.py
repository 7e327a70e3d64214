"""Health for everyone, system facts for admins."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlmodel import col, func, select

from services import system
from services.storage import db
from services.jobs import queries
from services.jobs.kinds import QUEUES, queue_of
from services.jobs.status import JobStatus
from services.storage.tables import Job

from resolvers.context import AppState, Context


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
    redis_url = app.settings.redis_url
    redis = await system.redis_reachable(redis_url) if redis_url else None
    healthy = database and redis is not False
    return HealthReport(status="ok" if healthy else "degraded", version=app.version, time=datetime.now(timezone.utc),
                        active_jobs=len(app.jobs.active_job_ids), database=database, redis=redis)


async def system_info(ctx: Context) -> SystemReport:
    app = ctx.app
    settings = app.settings
    async with app.sessions() as session:
        running = list((await session.exec(select(Job).where(Job.status == JobStatus.RUNNING)
                                           .order_by(col(Job.started_at)))).all())
        queued = await session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)) or 0
        counts = await system.row_counts(session)
        database = await system.database_facts(session, settings.resolved_database_url)
        by_kind = await queries.count_active_by_kind(session)
    revision = await db.current_revision(app.engine)
    redis = await system.redis_facts(settings.redis_url) if settings.redis_url else None
    data_size = await asyncio.to_thread(system.data_dir_size, settings.resolved_data_dir)
    return SystemReport(uptime_seconds=time.monotonic() - app.started_at, active_jobs=running, queued_jobs=queued,
                        workers=app.jobs.executor.workers,
                        database_url=system.redacted_url(settings.resolved_database_url),
                        database_size_bytes=system.database_file_size(settings.resolved_database_url),
                        data_dir_size_bytes=data_size, counts=counts, database=database, revision=revision,
                        head_revision=db.head_revision(), redis=redis, executor=settings.executor,
                        queues=queue_depths(by_kind, app.jobs.kinds), live_workers=await app.jobs.executor.live_workers())


def queue_depths(by_kind: dict[tuple[str, str], int], kinds: dict) -> list[dict[str, Any]]:
    depths = {name: {"name": name, "queued": 0, "running": 0} for name in QUEUES}
    for (kind, status), count in by_kind.items():
        depths[queue_of(kinds, kind)]["queued" if status == JobStatus.QUEUED else "running"] += count
    return list(depths.values())
