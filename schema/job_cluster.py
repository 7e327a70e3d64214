"""Operator types for where jobs run: queue depths and live workers (admin's `system`)."""

from __future__ import annotations

import strawberry

from schema.jobs import JobPriority


@strawberry.type(description="Jobs of one priority waiting in and running from a queue")
class PriorityDepth:
    priority: JobPriority
    queued: int
    running: int


@strawberry.type(description="Jobs waiting in and running from one queue")
class QueueDepth:
    name: str = strawberry.field(description="ingest, analysis, modeling, imputation or default")
    queued: int
    running: int
    by_priority: list[PriorityDepth] = strawberry.field(description="The same counts per priority, HIGH first")


@strawberry.type(description="A worker seen alive within its heartbeat deadline")
class LiveWorker:
    name: str
    queues: list[str]
    concurrency: int
    running_job_ids: list[strawberry.ID] = strawberry.field(description="Global ids of the jobs it runs now")
