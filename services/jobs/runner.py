"""The worker side of a job: whoever runs a job owns its record.

A JobRunner lives where job bodies run — in the server process for the local executor, in each
Celery worker otherwise. It makes the compare-and-set transitions, records logs, progress and
heartbeats in the database, applies the kind's end hooks and publishes every change as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import ErrorCode
from services.jobs import telemetry
from services.jobs.bus import EventBus
from services.jobs.events import publish_job_events, publish_status
from services.jobs.executor import JobSpec, ProcessExecutor, WorkerOutcome
from services.jobs.kinds import JobKindSpec
from services.jobs.observer import JobObserver, JobObservers, TraceCarrier, current_job_id
from services.jobs.priority import parse as parse_priority
from services.jobs.recording import AttemptRecord, LogRecorder, append_log, close_timeline
from services.jobs.retry import backoff_seconds
from services.jobs.status import ACTIVE, JobStatus
from services.jobs.transitions import transition
from services.storage.tables import Job, JobLog, utcnow

logger = logging.getLogger("assay.jobs")

CancelPoll = Callable[[list[str]], Awaitable[dict[str, str]]]
BeatHook = Callable[[list[str]], Awaitable[None]]


class JobRunner:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        pool: ProcessExecutor,
        kinds: dict[str, JobKindSpec],
        timeout_for: Callable[[str], float],
        heartbeat_seconds: float = 2.0,
        telemetry_path: Path | None = None,
        cancel_poll: CancelPoll | None = None,
        on_beat: BeatHook | None = None,
        max_result_bytes: int = 64 * 1024 * 1024,
        max_log_chars: int = 16384,
        observer: JobObserver | None = None,
        retry_backoff: tuple[float, float] = (2.0, 60.0),
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.pool = pool
        self.kinds = kinds
        self.timeout_for = timeout_for
        self.heartbeat_seconds = heartbeat_seconds
        self.telemetry_path = telemetry_path
        self.cancel_poll = cancel_poll
        self.on_beat = on_beat
        self.max_result_bytes = max_result_bytes
        self.max_log_chars = max_log_chars
        # Metrics and traces (services/jobs/observer.py), wrapped so that an observer's failure never fails a job.
        self.observer = observer if isinstance(observer, JobObservers) else JobObservers(*filter(None, [observer]))
        self._traces: dict[str, TraceCarrier] = {}
        self._driving: set[str] = set()
        self._running_snapshots: dict[str, Job] = {}
        self._stop_reasons: dict[str, tuple[JobStatus, str]] = {}
        self._beat_task: asyncio.Task[None] | None = None
        self.retry_backoff = retry_backoff  # (first wait, longest wait) in seconds before a transient failure's re-run
        self._notes: dict[str, dict[str, list[str]]] = {}  # what each job's body noted for its telemetry
        self._first_started: dict[str, Any] = {}
        self._stopping = asyncio.Event()

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
        self._traces[job_id] = trace if trace is not None else self.observer.trace_carrier()
        self.observer.follow_trace(self._traces[job_id])  # this task's log lines carry the request's trace id
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
        self.observer.job_started(job)
        return True

    def _expire(self, job: Job) -> None:
        limit = self.timeout_for(job.kind)
        self.cancel(job.id, status=JobStatus.FAILED, reason=f"Timed out after {limit:g} s (the {job.kind} time limit)")

    def _checked_result(self, outcome: WorkerOutcome) -> WorkerOutcome:
        """A result too large to keep is refused with the limit named, never lost on its way."""
        if outcome.status != "succeeded":
            return outcome
        size = len(json.dumps(outcome.result or {}, default=str))
        if size > self.max_result_bytes:
            return WorkerOutcome(
                "failed",
                code=ErrorCode.PAYLOAD_TOO_LARGE,
                error=f"The job's result ({size / 1048576:.1f} MB) is over the "
                f"{self.max_result_bytes / 1048576:.3g} MB limit",
            )
        return outcome

    async def _conclude(self, job: Job, outcome: WorkerOutcome) -> float | None:
        stop = self._stop_reasons.get(job.id)
        outcome = self._checked_result(outcome)
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
                return await self._retry_later(session, job, outcome, spec.max_retries)
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
                asked = outcome.result or {}  # the executor always sets the question and its choices
                await transition(
                    session,
                    job,
                    JobStatus.NEEDS_INPUT,
                    from_statuses=(JobStatus.RUNNING,),
                    question=asked["question"],
                    choices=asked["choices"],
                    timeline=close_timeline(job.timeline),
                )
                await append_log(session, job, "INFO", f"Waiting for an answer: {asked['question']}")
                await session.commit()
                publish_status(self.bus, job)
                return None
            if stop is not None and stop[0] == JobStatus.QUEUED:  # handed back at shutdown
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
                publish_status(self.bus, job)
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

    async def _retry_later(
        self, session: AsyncSession, job: Job, outcome: WorkerOutcome, max_retries: int
    ) -> float | None:
        """Back to QUEUED as the next attempt (so a stale broker message for this one does nothing), saying so."""
        retry = job.retries + 1
        delay = backoff_seconds(retry, base=self.retry_backoff[0], cap=self.retry_backoff[1])
        attempts = ended_attempt(job, "RETRYING", error=outcome.error, transient=True, retry_in_seconds=round(delay, 3))
        if not await transition(
            session,
            job,
            JobStatus.QUEUED,
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
        await append_log(
            session,
            job,
            "WARNING",
            f"Attempt {job.attempt - 1} failed with a transient error: "
            f"{outcome.error}; retrying in {delay:.1f} s (retry {retry} of {max_retries})",
        )
        await session.commit()
        publish_status(self.bus, job)
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

    async def _finish(self, session: AsyncSession, job: Job, result: dict[str, Any] | None, *, success: bool) -> None:
        record = await self._telemetry(session, job)
        await finish_job(session, job, result, success=success, kinds=self.kinds, bus=self.bus)
        self._write_telemetry(record)
        logger.info("job %s (%s, attempt %d) ended %s", job.id, job.kind, job.attempt, job.status)
        # Only after a won compare-and-set to a final status: each ending is observed exactly once.
        self.observer.job_finished(job, trace=self._traces.get(job.id))

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


async def finish_job(
    session: AsyncSession,
    job: Job,
    result: dict[str, Any] | None,
    *,
    success: bool,
    kinds: dict[str, JobKindSpec],
    bus: EventBus,
) -> None:
    """Apply the kind's end hook in the same transaction as the final status, then announce it."""
    spec = kinds.get(job.kind)
    if spec is not None:
        await (spec.hooks.on_success if success else spec.hooks.on_failure)(session, job, result)
    await session.commit()
    publish_status(bus, job)


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
