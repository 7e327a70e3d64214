"""Admin operations on the database: only admins, refused with FORBIDDEN for anyone else."""
from __future__ import annotations

import strawberry

from services import auth, maintenance
from services.errors import ErrorCode, ServiceError
from services.maintenance import RESET_CONFIRMATION

from resolvers.context import Context
from resolvers.fields import mutation
from schema.database import InitializeDatabasePayload, ResetDatabaseInput, ResetDatabasePayload


def _require_admin(ctx: Context) -> None:
    if ctx.user is None or ctx.user.role != "ADMIN":
        raise ServiceError(ErrorCode.FORBIDDEN, "Only administrators may do this")


@strawberry.type
class MaintenanceMutation:
    @mutation(description="ADMIN only. Migrate the database to the newest revision (a no-op when it is "
                          "there); on PostgreSQL under the advisory lock replicas take at start-up")
    async def initialize_database(self, info: strawberry.Info) -> InitializeDatabasePayload:
        ctx: Context = info.context
        _require_admin(ctx)
        result = await maintenance.initialize_database(engine=ctx.app.engine,
                                                       database_url=ctx.settings.resolved_database_url)
        return InitializeDatabasePayload(previous_revision=result.previous_revision, revision=result.revision)

    @mutation(description="ADMIN only, and only where ASSAY_ALLOW_DATABASE_RESET=true. Cancels every "
                          "unfinished job, deletes every row of every table (users and tokens included) and "
                          f'every data file, then recreates the configured admin. `confirmation` must be "'
                          f'{RESET_CONFIRMATION}".')
    async def reset_database(self, info: strawberry.Info, input: ResetDatabaseInput) -> ResetDatabasePayload:
        ctx: Context = info.context
        _require_admin(ctx)
        settings = ctx.settings
        result = await maintenance.reset_database(
            sessions=ctx.app.sessions, jobs=ctx.app.jobs, data_dir=settings.resolved_data_dir,
            database_url=settings.resolved_database_url, allowed=settings.allow_database_reset,
            confirmation=input.confirmation)
        if settings.admin_email and settings.admin_password:  # the configured admin comes back, as at start-up
            async with ctx.session() as session:
                await auth.ensure_admin(session=session, email=settings.admin_email, password=settings.admin_password)
        return ResetDatabasePayload(deleted_rows=result.deleted_rows, deleted_files=result.deleted_files)
