"""The worker side of a job: whoever runs a job owns its record.

A JobRunner lives where job bodies run — in the server process for the local executor, in each
Celery worker otherwise. It makes the compare-and-set transitions, records logs, progress and
heartbeats in the database, applies the kind's end hooks and publishes every change as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import ErrorCode
from services.jobs import telemetry
from services.jobs.endings import JobRecords, checked_result, ended_attempt, hand_back, retry_later, wait_for_answer
from services.jobs.events import publish_job_events, publish_status
from services.jobs.executor import ProcessExecutor, WorkerOutcome
from services.jobs.observer import JobObserver, JobObservers, TraceCarrier, current_job_id
from services.jobs.priority import parse as parse_priority
from services.jobs.recording import LogRecorder, close_timeline
from services.jobs.status import ACTIVE, JobStatus
from services.jobs.transitions import transition
from services.jobs.worker_process import JobSpec
from services.storage.tables import Job, JobLog, utcnow

logger = logging.getLogger("assay.jobs")

CancelPoll = Callable[[list[str]], Awaitable[dict[str, str]]]
BeatHook = Callable[[list[str]], Awaitable[None]]


@dataclass(eq=False, kw_only=True)
class JobRunner(JobRecords):
    pool: ProcessExecutor
    timeout_for: Callable[[str], float]
    telemetry_path: Path | None = None
    cancel_poll: CancelPoll | None = None
    on_beat: BeatHook | None = None
    max_result_bytes: int = 64 * 1024 * 1024
    max_log_chars: int = 16384
    observer: InitVar[JobObserver | None] = None
    # (first wait, longest wait) in seconds before a transient failure's re-run
    retry_backoff: tuple[float, float] = (2.0, 60.0)
    observers: JobObservers = field(init=False)
    _traces: dict[str, TraceCarrier] = field(default_factory=dict, init=False)
    _driving: set[str] = field(default_factory=set, init=False)
    _running_snapshots: dict[str, Job] = field(default_factory=dict, init=False)
    _stop_reasons: dict[str, tuple[JobStatus, str]] = field(default_factory=dict, init=False)
    _beat_task: asyncio.Task[None] | None = field(default=None, init=False)
    _notes: dict[str, dict[str, list[str]]] = field(default_factory=dict, init=False)  # what bodies noted
    _first_started: dict[str, Any] = field(default_factory=dict, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def __post_init__(self, observer: JobObserver | None) -> None:
        # Metrics and traces (services/jobs/observer.py), wrapped so that an observer's failure never fails a job.
        self.observers = observer if isinstance(observer, JobObservers) else JobObservers(*filter(None, [observer]))

    async def start(self) -> None:
        self.pool.warm_up()
        self._beat_task = asyncio.create_task(self._beat(), name="assay-job-heartbeat")

    @property
    def running_job_ids(self) -> list[str]:
        return list(self._driving)

    def publish(self, job: Job, events: list[dict[str, Any]]) -> None:
        publish_job_events(self.bus, job, events)

    # ------------------------------------------------------------------ control
    def cancel(
        self, job_id: str, *, status: JobStatus = JobStatus.CANCELLED, reason: str = "Cancelled by the user"
    ) -> bool:
        """Stop a job this runner drives (checkpoint, then hard stop after the grace period)."""
        if job_id not in self._driving:
            return False
        self._stop_reasons.setdefault(job_id, (status, reason))
        self.pool.cancel(job_id)
        return True

    def stopping(self, job_id: str) -> bool:
        """A stop was asked for and the job's end is not recorded yet (its process may already be gone)."""
        return job_id in self._stop_reasons

    def announce_hand_back(self) -> None:
        """Tell subscribers first, while their sockets are still open: running jobs go back to the queue."""
        for job in self._running_snapshots.values():
            handed_back = job.model_copy(
                update={
                    "status": JobStatus.QUEUED,
                    "error": "The server is shutting down; the job resumes at the next start",
                }
            )
            publish_status(self.bus, handed_back, final=True)

    async def stop(self, *, hand_back: bool) -> None:
        self._stopping.set()  # jobs waiting out a retry backoff stay QUEUED for the next start or another worker
        if self._beat_task:
            # Awaited while the database engine is still open: a heartbeat cancelled mid-query on a
            # disposed engine never finishes, which hung test-client teardown now and then.
            self._beat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat_task
        if hand_back:
            for job_id in list(self._driving):
                self._stop_reasons[job_id] = (
                    JobStatus.QUEUED,
                    "The server shut down; the job will run again at the next start",
                )
                self.pool.cancel(job_id)
        deadline = asyncio.get_running_loop().time() + 10
        # The drivers remove themselves from _driving as they end; a bounded poll at shutdown is simpler than
        # an Event per driver (ASYNC110).
        while self._driving and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110 - a bounded poll at shutdown, see above
            await asyncio.sleep(0.05)
        await self.pool.shutdown()

    # ------------------------------------------------------------------ running
    async def run(self, job_id: str, attempt: int | None = None, trace: TraceCarrier | None = None) -> None:
        """Drive a QUEUED job (at `attempt`, when given) to its end; anything else is left alone.

        `trace` is the enqueuing request's trace context from the job's message; without one, the
        context this task was started in (the request's, for the local executor) is used."""
        if job_id in self._driving:
            return
        self._driving.add(job_id)
        self._traces[job_id] = trace if trace is not None else self.observers.trace_carrier()
        self.observers.follow_trace(self._traces[job_id])  # this task's log lines carry the request's trace id
        current_job_id.set(job_id)
        try:
            async with self.sessions() as session:
                job = await session.get(Job, job_id)
            if job is None or job.status != JobStatus.QUEUED or (attempt is not None and job.attempt != attempt):
                return
            while job is not None:
                retry_in = await self._run_attempt(job)
                job = await self._after_backoff(job_id, retry_in) if retry_in is not None else None
        except Exception:  # a job must never stay RUNNING because the runner tripped
            logger.exception("job %s: the runner failed while driving it", job_id)
            async with self.sessions() as session:
                job = await session.get(Job, job_id)
                if job and await transition(
                    session,
                    job,
                    JobStatus.FAILED,
                    from_statuses=ACTIVE,
                    error="Internal error; the server log has details",
                ):
                    await self._finish(session, job, None, success=False)
        finally:
            self._driving.discard(job_id)
            self._stop_reasons.pop(job_id, None)
            self._running_snapshots.pop(job_id, None)
            self._traces.pop(job_id, None)
            self._notes.pop(job_id, None)
            self._first_started.pop(job_id, None)

    async def _run_attempt(self, job: Job) -> float | None:
        """Run one attempt to its end; the seconds to wait before the next when it failed transiently."""
        spec = self.kinds[job.kind]
        recorder = LogRecorder(self, job)
        timer = asyncio.get_running_loop().call_later(self.timeout_for(job.kind), self._expire, job)
        try:
            outcome = await self.pool.submit(
                JobSpec(job.id, spec.work, job.params, priority=int(parse_priority(job.priority))),
                on_start=lambda: self._mark_running(job),
                on_message=recorder.push,
            )
        finally:
            timer.cancel()
        await recorder.close()
        return await self._conclude(job, outcome)

    async def _after_backoff(self, job_id: str, seconds: float) -> Job | None:
        """Wait out the backoff (this task stays the job's driver, so recovery leaves it alone), then the job if
        it is still QUEUED: cancelled meanwhile, or this runner stopping, ends the wait without a run."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        if self._stopping.is_set():
            return None
        async with self.sessions() as session:
            job = await session.get(Job, job_id)
        return job if job is not None and job.status == JobStatus.QUEUED else None

    def note(self, job_id: str, note: dict[str, Any]) -> None:
        telemetry.merge_notes(self._notes.setdefault(job_id, {}), note)

    async def _mark_running(self, job: Job) -> bool:
        async with self.sessions() as session:
            # Read afresh, never merge the copy read before the wait: merging it would write its stale
            # status back (a job cancelled while it waited came back to life as QUEUED).
            fresh = await session.get(Job, job.id)
            if fresh is None or fresh.attempt != job.attempt:
                return False
            job = fresh
            now = utcnow()
            if not await transition(
                session, job, JobStatus.RUNNING, from_statuses=(JobStatus.QUEUED,), started_at=now, heartbeat_at=now
            ):
                return False
            self._first_started.setdefault(job.id, now)
            on_start = self.kinds[job.kind].hooks.on_start
            if on_start is not None:
                await on_start(session, job, None)
            await session.commit()
        self._running_snapshots[job.id] = job
        logger.debug("job %s (%s): attempt %d started at %s priority", job.id, job.kind, job.attempt, job.priority)
        publish_status(self.bus, job)
        self.observers.job_started(job)
        return True

    def _expire(self, job: Job) -> None:
        limit = self.timeout_for(job.kind)
        self.cancel(job.id, status=JobStatus.FAILED, reason=f"Timed out after {limit:g} s (the {job.kind} time limit)")

    async def _conclude(self, job: Job, outcome: WorkerOutcome) -> float | None:
        stop = self._stop_reasons.get(job.id)
        outcome = checked_result(outcome, self.max_result_bytes)
        async with self.sessions() as session:
            fresh = await session.get(Job, job.id)  # afresh, as in _mark_running
            if fresh is None or fresh.attempt != job.attempt:
                return None
            job = fresh
            spec = self.kinds.get(job.kind)
            if (
                outcome.status == "failed"
                and outcome.transient
                and stop is None
                and spec is not None
                and job.retries < spec.max_retries
            ):
                return await retry_later(session, job, outcome, spec.max_retries, self.retry_backoff, self.bus)
            if outcome.status == "succeeded" and stop is None:
                if await transition(
                    session,
                    job,
                    JobStatus.SUCCEEDED,
                    from_statuses=(JobStatus.RUNNING,),
                    progress=1.0,
                    result=outcome.result,
                    timeline=close_timeline(job.timeline),
                    attempts=ended_attempt(job, JobStatus.SUCCEEDED),
                ):
                    try:
                        await self._finish(session, job, outcome.result, success=True)
                        return None
                    except Exception:
                        logger.exception("job %s: applying the result failed", job.id)
                        await session.rollback()
                        await session.refresh(job)
                        outcome = WorkerOutcome("failed", code=ErrorCode.INTERNAL, error="Saving the result failed")
                else:
                    return None
            if outcome.status == "needs_input" and stop is None:
                await wait_for_answer(session, job, outcome, self.bus)
                return None
            if stop is not None and stop[0] == JobStatus.QUEUED:  # handed back at shutdown
                await hand_back(session, job, self.bus)
                return None
            status, reason = stop or (
                (JobStatus.CANCELLED, "Cancelled")
                if outcome.status == "cancelled"
                else (JobStatus.FAILED, outcome.error or "Failed")
            )
            if outcome.status == "failed" and outcome.code == ErrorCode.INTERNAL and stop is None:
                logger.error("job %s failed: %s", job.id, outcome.error)
                reason = f"Internal error: {outcome.error}"
            if await transition(
                session,
                job,
                status,
                from_statuses=(JobStatus.RUNNING,),
                error=reason,
                timeline=close_timeline(job.timeline),
                attempts=ended_attempt(
                    job,
                    status,
                    error=reason,
                    transient=outcome.transient,
                    code=outcome.code if outcome.status == "failed" and stop is None else None,
                ),
            ):
                details = outcome.result if outcome.status == "failed" and stop is None else None
                await self._finish(session, job, details, success=False)
        return None

    async def _finish(self, session: AsyncSession, job: Job, result: dict[str, Any] | None, *, success: bool) -> None:
        record = await self._telemetry(session, job)
        await self.finish(session, job, result, success=success)
        self._write_telemetry(record)
        logger.info("job %s (%s, attempt %d) ended %s", job.id, job.kind, job.attempt, job.status)
        # Only after a won compare-and-set to a final status: each ending is observed exactly once.
        self.observers.job_finished(job, trace=self._traces.get(job.id))

    async def _telemetry(self, session: AsyncSession, job: Job) -> telemetry.JobTelemetry:
        """Kept on the job in the transaction that ends it (so `job.telemetry` and the status agree)."""
        level = col(JobLog.level) == "WARNING"
        warnings = (
            await session.exec(
                select(JobLog.message)
                .where(JobLog.job_id == job.id, level)
                .order_by(col(JobLog.seq))
                .limit(telemetry.MAX_WARNINGS)
            )
        ).all()
        count = (
            await session.exec(select(func.count()).select_from(JobLog).where(JobLog.job_id == job.id, level))
        ).one()
        record = telemetry.build(
            job,
            notes=self._notes.get(job.id, {}),
            warnings=list(warnings),
            warning_count=count,
            first_started_at=self._first_started.get(job.id),
        )
        job.telemetry = record.model_dump(mode="json")
        session.add(job)
        return record

    def _write_telemetry(self, record: telemetry.JobTelemetry) -> None:
        if self.telemetry_path is None:
            return
        try:
            telemetry.append_line(self.telemetry_path, record)
        except OSError:  # a full disk must not undo a finished job
            logger.exception("job %s: writing its telemetry line failed", record.job_id)

    # ------------------------------------------------------------------ liveness
    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.beat_once()
            except Exception:  # the heartbeat must outlive a transient database or Redis error
                logger.exception("job heartbeat failed")

    async def beat_once(self) -> None:
        running = list(self._driving)
        if running:
            async with self.sessions() as session:
                await session.execute(
                    update(Job)
                    .where(col(Job.id).in_(running), col(Job.status) == JobStatus.RUNNING)
                    .values(heartbeat_at=utcnow())
                )
                await session.commit()
            if self.cancel_poll is not None:  # a cancel whose bus message this worker missed
                for job_id, reason in (await self.cancel_poll(running)).items():
                    self.cancel(job_id, reason=reason)
        if self.on_beat is not None:
            await self.on_beat(running)
