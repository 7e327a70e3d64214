"""Operator types for where jobs run: queue depths and live workers (admin's `system`)."""
from __future__ import annotations

import strawberry


@strawberry.type(description="Jobs waiting in and running from one queue")
class QueueDepth:
    name: str = strawberry.field(description="ingest, analysis, modeling, imputation or default")
    queued: int
    running: int


@strawberry.type(description="A worker seen alive within its heartbeat deadline")
class LiveWorker:
    name: str
    queues: list[str]
    concurrency: int
    running_job_ids: list[strawberry.ID] = strawberry.field(description="Global ids of the jobs it runs now")
