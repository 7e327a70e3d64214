"""The replica side of jobs: enqueue, hand to an executor, cancel, answer, and recover dead ones.

Replicas never drive a running job themselves: the executor's runner owns it (services/jobs/runner.py).
Any replica can serve any job; what they do to a job record is compare-and-set, so N replicas
doing it at once do it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NotRequired, Protocol, TypedDict, Unpack, runtime_checkable

from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.jobs.endings import JobRecords, ended_attempt
from services.jobs.events import publish_status
from services.jobs.kinds import JobKindSpec
from services.jobs.priority import Priority, requested
from services.jobs.recording import append_log, aware, close_timeline
from services.jobs.status import ACTIVE, TERMINAL, JobStatus
from services.jobs.transitions import transition, transition_noted
from services.storage.tables import Job, utcnow

__all__ = ["ACTIVE", "TERMINAL", "Executor", "JobEngine", "JobKindSpec", "JobStatus", "transition"]

logger = logging.getLogger("assay.jobs")


class Executor(Protocol):
    """Where jobs run. Local: this process's runner and fork server. Celery: workers via Redis."""

    redispatches_queued: bool  # whether QUEUED jobs nobody holds are handed over again by recovery
    runs_jobs_here: bool  # local: this process's runner drives them; Celery: workers elsewhere do

    async def start(self) -> None: ...

    def dispatch(self, job: Job) -> None:
        """Hand a committed QUEUED job over to run (its runner ignores it unless still QUEUED at that attempt)."""

    async def request_cancel(self, job_id: str, reason: str) -> None:
        """Ask whoever runs the job to stop it (checkpoint, then hard stop after the grace period)."""

    def is_running_here(self, job_id: str) -> bool: ...

    def announce_shutdown(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def active_job_ids(self) -> list[str]: ...

    @property
    def workers(self) -> int: ...

    async def live_workers(self) -> list[dict[str, Any]]:
        """[{"name", "queues", "concurrency", "running"}] for the admin's view."""


class NewJob(TypedDict):
    """A job to queue: its owner, kind and params, the dataset it works on, and its priority (else the one the
    current operation asked for)."""

    owner_id: str
    kind: str
    params: dict[str, Any]
    dataset_id: NotRequired[str | None]
    priority: NotRequired[Priority | None]


@runtime_checkable
class MadeByJob(Protocol):
    """A row that names the job that made it (a model, a validation, a report...), for `JobEngine.submit`."""

    job_id: str | None


@dataclass(eq=False, kw_only=True)
class JobEngine(JobRecords):
    executor: Executor
    max_attempts: int = 2
    needs_input_timeout: float = 86400
    resend_queued_after: float = 600
    _watch: asyncio.Task[None] | None = field(default=None, init=False)
    _accepting: bool = field(default=False, init=False)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._accepting = True
        await self.executor.start()
        await self.recover(stale_only=not self.executor.redispatches_queued)
        self._watch = asyncio.create_task(self._watch_loop(), name="assay-job-recovery")

    def announce_shutdown(self) -> None:
        """Tell subscribers first, while their sockets are still open; then end their streams."""
        self._accepting = False
        self.executor.announce_shutdown()
        self.bus.close()

    async def stop(self) -> None:
        if self._accepting:
            self.announce_shutdown()
        if self._watch:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.executor.stop()

    @property
    def active_job_ids(self) -> list[str]:
        return self.executor.active_job_ids

    # ------------------------------------------------------------------ API
    async def enqueue(self, session: AsyncSession, **new: Unpack[NewJob]) -> Job:
        """Persist a QUEUED job (the caller commits, then calls `launch`). Without `priority`, the one the
        current operation asked for (services/jobs/priority.py: `requesting`), NORMAL by default."""
        priority = new.get("priority")
        chosen = priority if priority is not None else requested.get()
        job = Job(
            owner_id=new["owner_id"],
            kind=new["kind"],
            params=new["params"],
            dataset_id=new.get("dataset_id"),
            priority=chosen.name,
        )
        session.add(job)
        return job

    async def submit(self, session: AsyncSession, *, record: SQLModel | None = None, **new: Unpack[NewJob]) -> Job:
        """Queue a job in the caller's transaction, commit it, and launch it: how a request starts any job.

        `record` is the row the job will fill in (a model, a validation, a new dataset version...): it is written
        before the job, so the job's params and `dataset_id` may name it, and one with a `job_id` keeps the job's
        id in the same commit. Nothing is committed unless all of it is."""
        if record is not None:
            session.add(record)
            await session.flush()
        job = await self.enqueue(session, **new)
        if isinstance(record, MadeByJob):
            await session.flush()  # the job's row first: the record's job_id refers to it
            record.job_id = job.id
        await session.commit()
        self.launch(job)
        return job

    def launch(self, job: Job) -> None:
        """Run a committed QUEUED job."""
        if not self._accepting:
            return
        publish_status(self.bus, job)
        self.executor.dispatch(job)

    async def cancel(self, job_id: str, *, reason: str = "Cancelled by the user") -> Job | None:
        """A job not yet running ends here and now; a running one is stopped by whoever runs it."""
        for _ in range(3):  # a job may start running between our read and our compare-and-set
            async with self.sessions() as session:
                job = await session.get(Job, job_id)
                if job is None or job.status in TERMINAL:
                    return job
                if job.status == JobStatus.RUNNING:
                    await self.executor.request_cancel(job.id, reason)
                    return job
                if await transition(
                    session,
                    job,
                    JobStatus.CANCELLED,
                    from_statuses=(JobStatus.QUEUED, JobStatus.NEEDS_INPUT),
                    error=reason,
                ):
                    await self.finish(session, job, None, success=False)
                    return job
        return job

    async def answer(self, job_id: str, answer: str) -> Job | None:
        """Resume a NEEDS_INPUT job with the answer (the caller has checked it is one of the choices)."""
        async with self.sessions() as session:
            job = await session.get(Job, job_id)
            if job is None:
                return None
            params = {**job.params, "answer": answer}
            if not await transition_noted(
                session,
                job,
                JobStatus.QUEUED,
                ("INFO", f"Answered: {answer}"),
                from_statuses=(JobStatus.NEEDS_INPUT,),
                params=params,
                question=None,
                choices=None,
            ):
                return None
        self.launch(job)
        return job

    async def expire_waiting(self) -> None:
        """Jobs left waiting for an answer longer than `needs_input_timeout` end CANCELLED with the reason."""
        limit = utcnow() - timedelta(seconds=self.needs_input_timeout)
        async with self.sessions() as session:
            waiting = (
                await session.exec(select(Job).where(Job.status == JobStatus.NEEDS_INPUT, col(Job.updated_at) < limit))
            ).all()
            for job in waiting:
                reason = f"No answer within {self.needs_input_timeout:g} s"
                if await transition(
                    session, job, JobStatus.CANCELLED, from_statuses=(JobStatus.NEEDS_INPUT,), error=reason
                ):
                    await self.finish(session, job, None, success=False)

    # ------------------------------------------------------------------ recovery
    async def _watch_loop(self) -> None:
        while self._accepting:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.recover(stale_only=True)
                await self.expire_waiting()
            except Exception:  # recovery must outlive a transient database error
                logger.exception("job recovery tick failed")

    async def recover(self, *, stale_only: bool = False) -> None:
        """RUNNING jobs whose heartbeat stopped (their worker died) run again or fail; with the local
        executor, QUEUED jobs nobody runs start. `stale_only=False` (a lone local server starting)
        treats every RUNNING job as orphaned."""
        stale_before = utcnow() - timedelta(seconds=3 * self.heartbeat_seconds)
        statuses = (JobStatus.RUNNING, JobStatus.QUEUED) if self.executor.redispatches_queued else (JobStatus.RUNNING,)
        async with self.sessions() as session:
            candidates = (await session.exec(select(Job).where(col(Job.status).in_(statuses)))).all()
            to_launch: list[Job] = []
            for job in candidates:
                if self.executor.is_running_here(job.id):
                    continue
                if job.status == JobStatus.QUEUED:
                    to_launch.append(job)
                    continue
                if stale_only and job.heartbeat_at and aware(job.heartbeat_at) > stale_before:
                    continue
                await self._recover_running(session, job, to_launch)
        for job in to_launch:
            self.launch(job)
        if not self.executor.redispatches_queued:
            await self.resend_long_queued()

    async def resend_long_queued(self) -> None:
        """Send again the jobs QUEUED for `resend_queued_after` seconds, once per such interval.

        A job whose broker message was lost (Redis restarted without its data, a send failed) would
        otherwise wait forever. Sending twice is harmless: a runner ignores a message unless the job is
        still QUEUED at that attempt, and of two at once the compare-and-set lets one start it.
        """
        if self.resend_queued_after <= 0:
            return
        waited_since = utcnow() - timedelta(seconds=self.resend_queued_after)
        resent: list[Job] = []
        async with self.sessions() as session:
            waiting = (
                await session.exec(
                    select(Job).where(Job.status == JobStatus.QUEUED, col(Job.updated_at) < waited_since).limit(500)
                )
            ).all()
            for job in waiting:  # the compare-and-set bumps updated_at: one replica sends it, once per interval
                if await transition(session, job, JobStatus.QUEUED, from_statuses=(JobStatus.QUEUED,)):
                    await append_log(
                        session,
                        job,
                        "WARNING",
                        f"Still queued after {self.resend_queued_after:g} s; "
                        "sent to the queue again in case its message was lost",
                    )
                    await session.commit()
                    resent.append(job)
        for job in resent:
            self.launch(job)

    async def _recover_running(self, session: AsyncSession, job: Job, to_launch: list[Job]) -> None:
        # Re-runs after transient failures (job.retries) have their own limit: they do not use up these.
        if job.attempt - job.retries < self.max_attempts:
            requeued = await transition(
                session,
                job,
                JobStatus.QUEUED,
                from_statuses=(JobStatus.RUNNING,),
                attempt=job.attempt + 1,
                started_at=None,
                timeline=close_timeline(job.timeline),
                attempts=ended_attempt(job, "WORKER_LOST", error="Its worker or server stopped"),
            )
            if requeued:
                await append_log(
                    session,
                    job,
                    "WARNING",
                    "The worker or server running this job stopped; running it again "
                    f"(attempt {job.attempt - job.retries} of {self.max_attempts})",
                )
                await session.commit()
                to_launch.append(job)
            return
        reason = f"Its worker or server stopped while this job ran, {job.attempt} time(s); giving up"
        if await transition(
            session,
            job,
            JobStatus.FAILED,
            from_statuses=(JobStatus.RUNNING,),
            error=reason,
            timeline=close_timeline(job.timeline),
            attempts=ended_attempt(job, "WORKER_LOST", error=reason),
        ):
            await self.finish(session, job, None, success=False)
