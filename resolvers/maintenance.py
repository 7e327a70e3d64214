"""Admin operations on the database: only admins, refused with FORBIDDEN for anyone else."""

from __future__ import annotations

import strawberry

from resolvers.context import Context
from resolvers.fields import mutation, query
from schema.common import raw_id
from schema.conversion import fields_of
from schema.database import (
    InitializeDatabasePayload,
    JobDebug,
    JobStoredFile,
    ResetDatabaseInput,
    ResetDatabasePayload,
    RunMaintenanceInput,
    RunMaintenancePayload,
)
from schema.domain import GraphQLDomain
from schema.jobs import Job as JobType
from schema.jobs import JobConnection
from services import auth, maintenance, maintenance_debug, maintenance_runs
from services.errors import ErrorCode, ServiceError
from services.maintenance import RESET_CONFIRMATION


def _require_admin(ctx: Context) -> None:
    if ctx.user is None or ctx.user.role != "ADMIN":
        raise ServiceError(ErrorCode.FORBIDDEN, "Only administrators may do this")


class MaintenanceMutation:
    @mutation(
        description="ADMIN only. Migrate the database to the newest revision (a no-op when it is "
        "there); on PostgreSQL under the advisory lock replicas take at start-up"
    )
    async def initialize_database(self, ctx: Context) -> InitializeDatabasePayload:
        _require_admin(ctx)
        result = await maintenance.initialize_database(
            engine=ctx.app.engine, database_url=ctx.settings.resolved_database_url
        )
        return InitializeDatabasePayload(previous_revision=result.previous_revision, revision=result.revision)

    @mutation(
        description="ADMIN only, and only where ASSAY_ALLOW_DATABASE_RESET=true. Cancels every "
        "unfinished job, deletes every row of every table (users and tokens included) and "
        f'every data file, then recreates the configured admin. `confirmation` must be "'
        f'{RESET_CONFIRMATION}".'
    )
    async def reset_database(self, ctx: Context, input: ResetDatabaseInput) -> ResetDatabasePayload:
        _require_admin(ctx)
        settings = ctx.settings
        result = await maintenance.reset_database(
            sessions=ctx.app.sessions,
            jobs=ctx.app.jobs,
            data_dir=settings.resolved_data_dir,
            database_url=settings.resolved_database_url,
            allowed=settings.allow_database_reset,
            confirmation=input.confirmation,
        )
        if settings.admin_email and settings.admin_password:  # the configured admin comes back, as at start-up
            async with ctx.session() as session:
                await auth.ensure_admin(
                    session=session, email=settings.admin_email, password=settings.admin_password.get_secret_value()
                )
        return ResetDatabasePayload(deleted_rows=result.deleted_rows, deleted_files=result.deleted_files)

    @mutation(
        description="ADMIN only. Start a clean-up now (a MAINTENANCE job owned by the caller): expired "
        "refresh tokens, logs of jobs finished more than `logRetentionDays` ago, files no row "
        "refers to and temporary files older than an hour. Its log says what it removed."
    )
    async def run_maintenance(self, ctx: Context, input: RunMaintenanceInput) -> RunMaintenancePayload:
        _require_admin(ctx)
        settings = ctx.settings
        days = settings.log_retention_days if input.log_retention_days is None else input.log_retention_days
        job = await ctx.with_jobs(
            maintenance_runs.start_maintenance,
            database_url=settings.resolved_database_url,
            log_retention_days=days,
        )
        return RunMaintenancePayload(job=JobType.from_row(job))


class MaintenanceQuery:
    @query(
        description="ADMIN only. Every MAINTENANCE job (periodic and on demand, whichever admin owns it), newest first"
    )
    async def maintenance_runs(self, ctx: Context, first: int | None = 20, after: str | None = None) -> JobConnection:
        _require_admin(ctx)
        async with ctx.session() as session:
            page = await maintenance_runs.list_runs(session, **ctx.page(first, after))
        return JobConnection.from_page(page, JobType.from_row)

    @query(
        description="ADMIN only. Any user's job as this replica sees it: where it runs (worker, process, alive), "
        "its heartbeat age, cancel flag and subscribers here, and whether its files exist"
    )
    async def job_debug(self, ctx: Context, id: strawberry.ID) -> JobDebug:
        _require_admin(ctx)
        async with ctx.session() as session:
            found = await maintenance_debug.debug_job(
                session, jobs=ctx.app.jobs, job_id=raw_id(id, "Job"), data_dir=ctx.settings.resolved_data_dir
            )
        return JobDebug(
            **fields_of(
                JobDebug,
                found.whereabouts,
                job=JobType.from_row(found.job),
                heartbeat_age_seconds=found.heartbeat_age_seconds,
                files=[JobStoredFile(**fields_of(JobStoredFile, f)) for f in found.files],
            )
        )


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="maintenance", query=MaintenanceQuery, mutation=MaintenanceMutation)
