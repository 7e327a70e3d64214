"""Reading jobs and their logs, scoped to an owner."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.jobs.status import IN_FLIGHT, JobStatus
from services.pagination import Page, checked_count, paginate
from services.storage.lookup import owned
from services.storage.tables import Job, JobLog


async def get_job(session: AsyncSession, *, owner_id: str, job_id: str) -> Job | None:
    return await owned(session, Job, owner_id=owner_id, row_id=job_id)


async def list_jobs(
    session: AsyncSession,
    *,
    owner_id: str,
    first: int,
    after: str | None,
    max_first: int,
    statuses: list[str] | None = None,
    kinds: list[str] | None = None,
    dataset_id: str | None = None,
) -> Page[Job]:
    filters = [col(Job.owner_id) == owner_id]
    if statuses:
        filters.append(col(Job.status).in_(statuses))
    if kinds:
        filters.append(col(Job.kind).in_(kinds))
    if dataset_id:
        filters.append(col(Job.dataset_id) == dataset_id)
    return await paginate(session, Job, filters=filters, first=first, after=after, max_first=max_first)


MAX_LOG_ENTRIES = 1000


async def newest_logs(session: AsyncSession, *, job_id: str, last: int) -> list[JobLog]:
    """The newest `last` lines, oldest first; `last` is a caller's number, so it is bounded."""
    checked_count(last, name="last", default=100, most=MAX_LOG_ENTRIES)
    return await job_logs(session, job_id=job_id, last=last)


async def job_logs(session: AsyncSession, *, job_id: str, last: int | None = None, after_seq: int = 0) -> list[JobLog]:
    """Log entries in sequence order: the `last` n, or all after `after_seq`."""
    query = select(JobLog).where(JobLog.job_id == job_id, JobLog.seq > after_seq)
    if last is not None:
        rows = (await session.exec(query.order_by(col(JobLog.seq).desc()).limit(last))).all()
        return list(reversed(rows))
    return list((await session.exec(query.order_by(col(JobLog.seq)))).all())


async def count_active_by_kind(session: AsyncSession) -> dict[tuple[str, str], int]:
    """{(kind, QUEUED|RUNNING): jobs}: what each queue holds, as the database knows it."""
    rows = await session.execute(
        select(Job.kind, Job.status, func.count()).where(col(Job.status).in_(IN_FLIGHT)).group_by(Job.kind, Job.status)
    )
    return {(kind, status): count for kind, status, count in rows.all()}


async def count_active_by_priority(session: AsyncSession) -> dict[tuple[str, str, str], int]:
    """{(kind, QUEUED|RUNNING, priority): jobs}: each queue's depth per priority."""
    rows = await session.execute(
        select(Job.kind, Job.status, Job.priority, func.count())
        .where(col(Job.status).in_(IN_FLIGHT))
        .group_by(Job.kind, Job.status, Job.priority)
    )
    return {(kind, status, priority): count for kind, status, priority, count in rows.all()}


async def count_running(session: AsyncSession) -> int:
    """RUNNING jobs of every owner: what a cluster's workers run (a replica with Celery runs none itself)."""
    return (await session.exec(select(func.count()).select_from(Job).where(Job.status == JobStatus.RUNNING))).one()
