"""Admin operations on the database: only admins, refused with FORBIDDEN for anyone else."""
from __future__ import annotations

from services import auth, maintenance
from services.errors import ErrorCode, ServiceError

from resolvers.context import Context


def _require_admin(ctx: Context) -> None:
    if ctx.user is None or ctx.user.role != "ADMIN":
        raise ServiceError(ErrorCode.FORBIDDEN, "Only administrators may do this")


async def initialize_database(ctx: Context) -> maintenance.MigrationResult:
    _require_admin(ctx)
    return await maintenance.initialize_database(engine=ctx.app.engine, database_url=ctx.settings.resolved_database_url)


async def reset_database(ctx: Context, *, confirmation: str) -> maintenance.ResetResult:
    _require_admin(ctx)
    settings = ctx.settings
    result = await maintenance.reset_database(
        sessions=ctx.app.sessions, jobs=ctx.app.jobs, data_dir=settings.resolved_data_dir,
        database_url=settings.resolved_database_url, allowed=settings.allow_database_reset, confirmation=confirmation)
    if settings.admin_email and settings.admin_password:  # the configured admin comes back, as at start-up
        async with ctx.session() as session:
            await auth.ensure_admin(session=session, email=settings.admin_email, password=settings.admin_password)
    return result
