"""Operator types for the stores behind Assay (database, Redis) and the admin mutations on the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.common import payload
from schema.jobs import JobPriority, priority_input
from services.maintenance import RESET_CONFIRMATION

if TYPE_CHECKING:
    from schema.jobs import Job


@strawberry.type(description="The connection pool of this server process (the numbers are per replica)")
class DatabasePool:
    size: int = strawberry.field(description="Connections the pool keeps open (ASSAY_DB_POOL_SIZE)")
    checked_in: int = strawberry.field(description="Open and idle")
    checked_out: int = strawberry.field(description="In use right now")
    overflow: int = strawberry.field(description="Open beyond `size`")
    max_overflow: int = strawberry.field(description="How many beyond `size` may open (ASSAY_DB_MAX_OVERFLOW)")


@strawberry.type(description="The metadata database")
class DatabaseInfo:
    engine: str = strawberry.field(description='"sqlite" or "postgresql"')
    server_version: str
    size_bytes: float | None = strawberry.field(description="On disk (SQLite: the file and its WAL)")
    pool: DatabasePool | None = strawberry.field(description="Null when the engine keeps no pool")
    revision: str | None = strawberry.field(description="The migration the schema is at")
    head_revision: str | None = strawberry.field(description="The newest migration this server knows")


@strawberry.type(description="The Redis of a scaled-out deployment (ASSAY_REDIS_URL)")
class RedisInfo:
    url: str = strawberry.field(description="With any password removed")
    reachable: bool
    version: str | None
    used_memory_bytes: float | None
    connected_clients: int | None


@payload
class InitializeDatabasePayload:
    previous_revision: str | None = strawberry.field(default=None, description="Null on an empty database")
    revision: str | None = None


@strawberry.input
class ResetDatabaseInput:
    confirmation: str = strawberry.field(description=f'Exactly "{RESET_CONFIRMATION}"')


@payload
class ResetDatabasePayload:
    deleted_rows: int | None = strawberry.field(default=None, description="Rows deleted over all tables")
    deleted_files: int | None = strawberry.field(default=None, description="Files deleted from the data directory")


@strawberry.input
class RunMaintenanceInput:
    log_retention_days: int | None = strawberry.field(
        default=None,
        description="Delete logs of jobs that finished more than this many days ago "
        "(1..3650); default ASSAY_LOG_RETENTION_DAYS",
    )
    priority: JobPriority = priority_input()


@payload
class RunMaintenancePayload:
    job: Annotated[Job, strawberry.lazy("schema.jobs")] | None = strawberry.field(
        default=None, description="The MAINTENANCE job: its log says what it removed (counts and bytes)"
    )


@strawberry.type(description="A file a job reads or writes, and whether it is in the data directory")
class JobStoredFile:
    name: str = strawberry.field(description='What it is, e.g. "dataset Parquet copy", "model file", "report"')
    object_id: str = strawberry.field(description="The raw id of the dataset, model or report it belongs to")
    path: str = strawberry.field(description="Relative to ASSAY_DATA_DIR")
    exists: bool
    size_bytes: float | None = strawberry.field(description="Null when the file does not exist")


@strawberry.type(
    description="ADMIN only. Where a job runs and what the answering replica holds for it (seed 000's /debug/{task_id})"
)
class JobDebug:
    job: Annotated[Job, strawberry.lazy("schema.jobs")]
    replica: str = strawberry.field(
        description="The server process that answered (host:pid); the in-memory fields below are this replica's"
    )
    running_here: bool = strawberry.field(description="Driven by this replica's local executor")
    worker: str | None = strawberry.field(
        description="The worker running it: `local@host:pid` or a Celery worker's name; null when none reports it"
    )
    pid: int | None = strawberry.field(description="Its process on this replica's machine, when it has one")
    process_alive: bool | None = strawberry.field(description="Whether that process is alive; null without one")
    waiting_for_slot: bool = strawberry.field(description="Queued here behind ASSAY_MAX_CONCURRENT_JOBS")
    cancel_requested: bool = strawberry.field(description="A cancel was asked for and the job has not ended yet")
    subscribers_here: int = strawberry.field(description="jobEvents subscriptions of this job open on this replica")
    heartbeat_age_seconds: float | None = strawberry.field(description="Seconds since its last heartbeat")
    files: list[JobStoredFile] = strawberry.field(description="Its inputs and outputs in storage")
