"""Compare-and-set state changes of a job: the only way any process moves a job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.jobs.recording import append_log
from services.jobs.status import ACTIVE, TERMINAL, JobStatus
from services.storage.tables import Job, utcnow

__all__ = ["ACTIVE", "TERMINAL", "JobStatus", "transition", "transition_noted"]


async def transition(
    session: AsyncSession, job: Job, to_status: JobStatus, *, from_statuses: tuple[JobStatus, ...], **changes: Any
) -> bool:
    """Compare-and-set: move `job` to `to_status` only if it is still in `from_statuses` at its known attempt."""
    now = utcnow()
    values = {"status": to_status, "version": Job.version + 1, "updated_at": now, **changes}
    if to_status in TERMINAL:
        values.setdefault("finished_at", now)
    result = await session.exec(
        update(Job)
        .where(col(Job.id) == job.id, col(Job.status).in_(from_statuses), col(Job.attempt) == job.attempt)
        .values(**values)
    )
    if result.rowcount != 1:
        return False
    await session.flush()
    await session.refresh(job)
    return True


async def transition_noted(
    session: AsyncSession,
    job: Job,
    to_status: JobStatus,
    note: tuple[str, str],
    *,
    from_statuses: tuple[JobStatus, ...],
    **changes: Any,
) -> bool:
    """A transition that, when it wins, says so in the job's log (`note`: level and message), committed with it."""
    if not await transition(session, job, to_status, from_statuses=from_statuses, **changes):
        return False
    await append_log(session, job, *note)
    await session.commit()
    return True
