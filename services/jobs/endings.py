"""How an attempt's end is put on record, in the transaction of its compare-and-set: a question, a hand-back,
a retry, or a final status with the kind's end hook (JobRecords.finish); and the attempt's entry in `job.attempts`."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import ErrorCode
from services.jobs.bus import EventBus
from services.jobs.events import publish_status
from services.jobs.executor import WorkerOutcome
from services.jobs.kinds import JobKindSpec
from services.jobs.recording import AttemptRecord, close_timeline
from services.jobs.retry import backoff_seconds
from services.jobs.status import JobStatus
from services.jobs.transitions import transition, transition_noted
from services.storage.tables import Job, utcnow

logger = logging.getLogger("assay.jobs")


def checked_result(outcome: WorkerOutcome, max_bytes: int) -> WorkerOutcome:
    """A result too large to keep is refused with the limit named, never lost on its way."""
    if outcome.status != "succeeded":
        return outcome
    size = len(json.dumps(outcome.result or {}, default=str))
    if size > max_bytes:
        return WorkerOutcome(
            "failed",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
            error=f"The job's result ({size / 1048576:.1f} MB) is over the {max_bytes / 1048576:.3g} MB limit",
        )
    return outcome


async def wait_for_answer(session: AsyncSession, job: Job, outcome: WorkerOutcome, bus: EventBus) -> None:
    """The body asked a question: NEEDS_INPUT until someone answers."""
    asked = outcome.result or {}  # the executor always sets the question and its choices
    await transition_noted(
        session,
        job,
        JobStatus.NEEDS_INPUT,
        ("INFO", f"Waiting for an answer: {asked['question']}"),
        from_statuses=(JobStatus.RUNNING,),
        question=asked["question"],
        choices=asked["choices"],
        timeline=close_timeline(job.timeline),
    )
    publish_status(bus, job)


async def hand_back(session: AsyncSession, job: Job, bus: EventBus) -> None:
    """Stopped at shutdown: QUEUED again, for the next start or another worker."""
    await transition(
        session,
        job,
        JobStatus.QUEUED,
        from_statuses=(JobStatus.RUNNING,),
        error=None,
        started_at=None,
        timeline=close_timeline(job.timeline),
    )
    await session.commit()
    publish_status(bus, job)


async def retry_later(
    session: AsyncSession,
    job: Job,
    outcome: WorkerOutcome,
    max_retries: int,
    backoff: tuple[float, float],
    bus: EventBus,
) -> float | None:
    """Back to QUEUED as the next attempt (so a stale broker message for this one does nothing), saying so."""
    retry = job.retries + 1
    delay = backoff_seconds(retry, base=backoff[0], cap=backoff[1])
    attempts = ended_attempt(job, "RETRYING", error=outcome.error, transient=True, retry_in_seconds=round(delay, 3))
    note = (
        f"Attempt {job.attempt} failed with a transient error: "
        f"{outcome.error}; retrying in {delay:.1f} s (retry {retry} of {max_retries})"
    )
    if not await transition_noted(
        session,
        job,
        JobStatus.QUEUED,
        ("WARNING", note),
        from_statuses=(JobStatus.RUNNING,),
        error=None,
        attempt=job.attempt + 1,
        retries=retry,
        started_at=None,
        progress=0.0,
        timeline=close_timeline(job.timeline),
        attempts=attempts,
    ):
        return None
    publish_status(bus, job)
    logger.warning(
        "job %s (%s): transient failure, retry %d of %d in %.1f s: %s",
        job.id,
        job.kind,
        retry,
        max_retries,
        delay,
        outcome.error,
    )
    return delay


@dataclass(eq=False, kw_only=True)
class JobRecords:
    """What both sides of jobs keep their records with (the replica's JobEngine, the worker's JobRunner): the
    database, the bus that announces each change, and the declared kinds, whose end hooks apply."""

    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    kinds: dict[str, JobKindSpec]
    heartbeat_seconds: float = 2.0

    async def finish(self, session: AsyncSession, job: Job, result: dict[str, Any] | None, *, success: bool) -> None:
        """Apply the kind's end hook in the same transaction as the final status, then announce it."""
        spec = self.kinds.get(job.kind)
        if spec is not None:
            await (spec.hooks.on_success if success else spec.hooks.on_failure)(session, job, result)
        await session.commit()
        publish_status(self.bus, job)


def ended_attempt(job: Job, outcome: str, **facts: Any) -> list[dict[str, Any]]:
    """The job's attempts with this one's end added: what `job.attempts` shows."""
    entry = AttemptRecord(
        attempt=job.attempt,
        started_at=job.started_at,
        finished_at=utcnow(),
        outcome=str(outcome),
        error=facts.get("error"),
        transient=bool(facts.get("transient", False)),
        retry_in_seconds=facts.get("retry_in_seconds"),
        code=str(facts["code"]) if facts.get("code") else None,
    )
    return [*(job.attempts or []), entry.model_dump(mode="json")]
