"""Health and operator types."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.database import DatabaseInfo, RedisInfo
from schema.job_cluster import LiveWorker, QueueDepth
from schema.jobs import Job


@strawberry.type
class Health:
    status: str = strawberry.field(description='"ok" or "degraded"')
    version: str
    time: datetime
    active_jobs: int
    database: bool
    redis: bool | None = strawberry.field(
        default=None, description="Whether Redis answers a ping; null when ASSAY_REDIS_URL is not configured"
    )


@strawberry.type
class SystemInfo:
    uptime_seconds: float
    active_jobs: list[Job]
    queued_jobs: int
    workers: int
    database_url: str = strawberry.field(description="With any password removed")
    database_size_bytes: float | None
    data_dir_size_bytes: float | None
    counts: JSON = strawberry.field(description="Rows per table")
    database: DatabaseInfo
    redis: RedisInfo | None = strawberry.field(description="Null when ASSAY_REDIS_URL is not configured")
    executor: str = strawberry.field(description='"local" (this server\'s processes) or "celery"')
    queues: list[QueueDepth]
    live_workers: list[LiveWorker]
