"""Maintenance runs: the MAINTENANCE job kind, starting a run on demand or once per cluster per period,
and listing runs for administrators.

A run belongs to an administrator: the one who asked for it, or, for periodic runs, the oldest
enabled admin account. No hidden system user is made for it: such a row would be an account nobody
can sign in to, and an admin can see, follow and cancel their own jobs with the ordinary job API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import invalid
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobKindSpec
from services.maintenance_job import MaintenanceReport
from services.pagination import Page, paginate
from services.storage.tables import Job, MaintenanceSchedule, User, utcnow

logger = logging.getLogger("assay.maintenance")

KIND = "MAINTENANCE"
SCHEDULE_NAME = "cleanup"
MAX_RETENTION_DAYS = 3650


# This domain's one declaration to the server and workers (services/domains.py lists it).
JOB_KINDS = {  # no end hooks: a run's effects are its deletions, done as it goes, nothing to record or undo at its end
    KIND: JobKindSpec(work="services.maintenance_job:run_maintenance", queue="default", result=MaintenanceReport)
}


async def start_maintenance(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    data_dir: Path,
    database_url: str,
    log_retention_days: int,
    grace_seconds: float = 3600,
) -> Job:
    """Queue a MAINTENANCE run owned by `owner_id` (an administrator) and launch it."""
    if not 1 <= log_retention_days <= MAX_RETENTION_DAYS:
        raise invalid(f"`logRetentionDays` must be between 1 and {MAX_RETENTION_DAYS}", ["logRetentionDays"])
    return await jobs.submit(
        session,
        owner_id=owner_id,
        kind=KIND,
        params={
            "data_dir": str(data_dir),
            "database_url": database_url,
            "log_retention_days": log_retention_days,
            "grace_seconds": grace_seconds,
        },
    )


async def claim_due_run(
    sessions: Callable[[], AsyncSession], *, interval_seconds: float, now: datetime | None = None
) -> bool:
    """Whether this replica won the period's run: the schedule row's `next_run_at` is moved on with a
    compare-and-set (only while it is still due), so of several replicas ticking at once exactly one
    sees its update succeed.

    The first tick of a new cluster creates the row due one interval later: start-up already clears
    staging, and a fleet of test or short-lived servers should not each start a run.
    """
    now = now or utcnow()
    interval = timedelta(seconds=interval_seconds)
    async with sessions() as session:
        row = await session.get(MaintenanceSchedule, SCHEDULE_NAME)
        if row is None:
            session.add(MaintenanceSchedule(name=SCHEDULE_NAME, next_run_at=now + interval))
            try:
                await session.commit()
            except IntegrityError:  # another replica made it first: same outcome
                await session.rollback()
            return False
        if row.next_run_at > now:
            return False
        # "Still due" is the compared value: the winner's update makes the row not due, and a second
        # update waits for the first (row lock on PostgreSQL, one writer on SQLite) and then matches nothing.
        claimed = await session.exec(
            update(MaintenanceSchedule)
            .where(col(MaintenanceSchedule.name) == SCHEDULE_NAME, col(MaintenanceSchedule.next_run_at) <= now)
            .values(next_run_at=now + interval)
        )
        await session.commit()
        return bool(claimed.rowcount == 1)


async def oldest_admin_id(session: AsyncSession) -> str | None:
    return (
        await session.exec(
            select(User.id)
            .where(User.role == "ADMIN", col(User.disabled_at).is_(None))
            .order_by(col(User.created_at), col(User.id))
            .limit(1)
        )
    ).first()


async def run_if_due(
    sessions: Callable[[], AsyncSession],
    *,
    jobs: JobEngine,
    interval_seconds: float,
    data_dir: Path,
    database_url: str,
    log_retention_days: int,
) -> Job | None:
    """One tick of the periodic clean-up: the run this replica started, if the period's run fell to it."""
    if not await claim_due_run(sessions, interval_seconds=interval_seconds):
        return None
    async with sessions() as session:
        owner_id = await oldest_admin_id(session)
        if owner_id is None:
            logger.warning(
                "The periodic clean-up is skipped: there is no enabled administrator to own its job "
                "(set ASSAY_ADMIN_EMAIL and ASSAY_ADMIN_PASSWORD)"
            )
            return None
        return await start_maintenance(
            session,
            jobs=jobs,
            owner_id=owner_id,
            data_dir=data_dir,
            database_url=database_url,
            log_retention_days=log_retention_days,
        )


async def list_runs(session: AsyncSession, *, first: int, after: str | None, max_first: int) -> Page[Job]:
    """Every MAINTENANCE job, whichever admin owns it, newest first (for administrators only)."""
    return await paginate(session, Job, filters=[col(Job.kind) == KIND], first=first, after=after, max_first=max_first)
