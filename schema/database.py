"""Operator types for the stores behind Assay (database, Redis) and the admin mutations on the database."""
from __future__ import annotations

import strawberry

from services.maintenance import RESET_CONFIRMATION

from schema.common import UserError


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


@strawberry.type
class InitializeDatabasePayload:
    previous_revision: str | None = strawberry.field(default=None, description="Null on an empty database")
    revision: str | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class ResetDatabaseInput:
    confirmation: str = strawberry.field(description=f'Exactly "{RESET_CONFIRMATION}"')


@strawberry.type
class ResetDatabasePayload:
    deleted_rows: int | None = strawberry.field(default=None, description="Rows deleted over all tables")
    deleted_files: int | None = strawberry.field(default=None, description="Files deleted from the data directory")
    errors: list[UserError] = strawberry.field(default_factory=list)
