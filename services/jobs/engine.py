"""The job engine: durable job state, compare-and-set transitions, logs and events, recovery."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.jobs.bus import EventBus, job_channel, user_channel
from services.jobs.executor import Executor, JobSpec, WorkerOutcome
from services.jobs.recording import LogRecorder, append_log, aware, close_timeline
from services.storage.tables import Job, utcnow

logger = logging.getLogger("assay.jobs")

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
ACTIVE = ("QUEUED", "RUNNING", "NEEDS_INPUT")
Finisher = Callable[[AsyncSession, Job, dict[str, Any] | None], Awaitable[None]]


@dataclass(frozen=True)
class JobKindSpec:
    """How to run one kind of job: its body, and what its end means for the objects it touches."""

    work: str
    on_success: Finisher
    on_failure: Finisher  # also on cancel and timeout: removes partial outputs
    on_start: Finisher | None = None


async def transition(session: AsyncSession, job: Job, to_status: str, *, from_statuses: tuple[str, ...],
                     **changes: Any) -> bool:
    """Compare-and-set: move `job` to `to_status` only if it is still in `from_statuses` at its known attempt."""
    now = utcnow()
    values = {"status": to_status, "version": Job.version + 1, "updated_at": now, **changes}
    if to_status in TERMINAL:
        values.setdefault("finished_at", now)
    result = await session.execute(
        update(Job).where(col(Job.id) == job.id, col(Job.status).in_(from_statuses), col(Job.attempt) == job.attempt)
        .values(**values))
    if result.rowcount != 1:
        return False
    await session.flush()
    await session.refresh(job)
    return True


class JobEngine:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], bus: EventBus, executor: Executor,
                 kinds: dict[str, JobKindSpec], timeout_for: Callable[[str], float], heartbeat_seconds: float = 2.0,
                 max_attempts: int = 2, telemetry_path: Path | None = None, needs_input_timeout: float = 86400) -> None:
        self.sessions = sessions
        self.bus = bus
        self.executor = executor
        self.kinds = kinds
        self.timeout_for = timeout_for
        self.heartbeat_seconds = heartbeat_seconds
        self.max_attempts = max_attempts
        self.telemetry_path = telemetry_path
        self.needs_input_timeout = needs_input_timeout
        self._tasks: dict[str, asyncio.Task] = {}
        self._running_snapshots: dict[str, Job] = {}
        self._stop_reasons: dict[str, tuple[str, str]] = {}
        self._heartbeat: asyncio.Task | None = None
        self._accepting = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._accepting = True
        self.executor.warm_up()
        await self.recover()
        self._heartbeat = asyncio.create_task(self._beat())

    def announce_shutdown(self) -> None:
        """Tell subscribers first, while their sockets are still open: running jobs go back to the queue."""
        self._accepting = False
        for job in self._running_snapshots.values():
            handed_back = job.model_copy(update={"status": "QUEUED",
                                                 "error": "The server is shutting down; the job resumes at the next start"})
            self._publish(handed_back, [{"kind": "STATUS", "job": handed_back, "log": None, "final": True}])
        self.bus.close()

    async def stop(self) -> None:
        """Stop accepting, hand running jobs back to the queue, and end open subscriptions with a final event."""
        if self._accepting:
            self.announce_shutdown()
        if self._heartbeat:
            # Awaited while the database engine is still open: a heartbeat cancelled mid-query on a
            # disposed engine never finishes, which hung test-client teardown now and then.
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for job_id in list(self._tasks):
            self._stop_reasons[job_id] = ("QUEUED", "The server shut down; the job will run again at the next start")
            self.executor.cancel(job_id)
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=10)
        await self.executor.shutdown()

    @property
    def active_job_ids(self) -> list[str]:
        return list(self._tasks)

    # ------------------------------------------------------------------ API
    async def enqueue(self, session: AsyncSession, *, owner_id: str, kind: str, params: dict[str, Any],
                      dataset_id: str | None = None) -> Job:
        """Persist a QUEUED job (the caller commits) and start it once committed."""
        job = Job(owner_id=owner_id, kind=kind, params=params, dataset_id=dataset_id)
        session.add(job)
        return job

    def launch(self, job: Job) -> None:
        """Run a committed QUEUED job in the background."""
        if not self._accepting or job.id in self._tasks:
            return
        self._publish_status(job)
        self._tasks[job.id] = asyncio.create_task(self._drive(job.id))

    async def cancel(self, job_id: str, *, reason: str = "Cancelled by the user") -> Job | None:
        async with self.sessions() as session:
            job = await session.get(Job, job_id)
            if job is None or job.status in TERMINAL:
                return job
            if job.id in self._tasks and job.status == "RUNNING":
                self._stop_reasons[job.id] = ("CANCELLED", reason)
                self.executor.cancel(job.id)
                return job
            self.executor.cancel(job.id)
            if await transition(session, job, "CANCELLED", from_statuses=ACTIVE, error=reason):
                await self._finish(session, job, None, success=False)
            return job

    async def answer(self, job_id: str, answer: str) -> Job | None:
        """Resume a NEEDS_INPUT job with the answer (the caller has checked it is one of the choices)."""
        async with self.sessions() as session:
            job = await session.get(Job, job_id)
            if job is None:
                return None
            params = {**job.params, "answer": answer}
            if not await transition(session, job, "QUEUED", from_statuses=("NEEDS_INPUT",), params=params,
                                    question=None, choices=None):
                return None
            await append_log(session, job, "INFO", f"Answered: {answer}")
            await session.commit()
        self.launch(job)
        return job

    async def expire_waiting(self) -> None:
        """Jobs left waiting for an answer longer than `needs_input_timeout` end CANCELLED with the reason."""
        limit = utcnow() - timedelta(seconds=self.needs_input_timeout)
        async with self.sessions() as session:
            waiting = (await session.exec(select(Job).where(Job.status == "NEEDS_INPUT", col(Job.updated_at) < limit))).all()
            for job in waiting:
                reason = f"No answer within {self.needs_input_timeout:g} s"
                if await transition(session, job, "CANCELLED", from_statuses=("NEEDS_INPUT",), error=reason):
                    await self._finish(session, job, None, success=False)

    # ------------------------------------------------------------------ running
    async def _drive(self, job_id: str) -> None:
        try:
            async with self.sessions() as session:
                job = await session.get(Job, job_id)
            if job is None or job.status != "QUEUED":
                return
            spec = self.kinds[job.kind]
            recorder = LogRecorder(self, job)
            timer = asyncio.get_running_loop().call_later(self.timeout_for(job.kind), self._expire, job)
            try:
                outcome = await self.executor.submit(
                    JobSpec(job.id, spec.work, job.params), on_start=lambda: self._mark_running(job),
                    on_message=recorder.push)
            finally:
                timer.cancel()
            await recorder.close()
            await self._conclude(job, outcome)
        except Exception:  # noqa: BLE001 - a job must never stay RUNNING because the engine tripped
            logger.exception("job %s: the engine failed while driving it", job_id)
            async with self.sessions() as session:
                job = await session.get(Job, job_id)
                if job and await transition(session, job, "FAILED", from_statuses=ACTIVE,
                                            error="Internal error; the server log has details"):
                    await self._finish(session, job, None, success=False)
        finally:
            self._tasks.pop(job_id, None)
            self._stop_reasons.pop(job_id, None)
            self._running_snapshots.pop(job_id, None)

    async def _mark_running(self, job: Job) -> bool:
        async with self.sessions() as session:
            job = await session.merge(job)
            now = utcnow()
            if not await transition(session, job, "RUNNING", from_statuses=("QUEUED",), started_at=now, heartbeat_at=now):
                return False
            on_start = self.kinds[job.kind].on_start
            if on_start is not None:
                await on_start(session, job, None)
            await session.commit()
        self._running_snapshots[job.id] = job
        self._publish_status(job)
        return True

    def _expire(self, job: Job) -> None:
        limit = self.timeout_for(job.kind)
        self._stop_reasons[job.id] = ("FAILED", f"Timed out after {limit:g} s (the {job.kind} time limit)")
        self.executor.cancel(job.id)

    async def _conclude(self, job: Job, outcome: WorkerOutcome) -> None:
        stop = self._stop_reasons.get(job.id)
        async with self.sessions() as session:
            job = await session.merge(job)
            await session.refresh(job)
            if outcome.status == "succeeded" and stop is None:
                if await transition(session, job, "SUCCEEDED", from_statuses=("RUNNING",), progress=1.0,
                                    result=outcome.result, timeline=close_timeline(job.timeline)):
                    try:
                        await self._finish(session, job, outcome.result, success=True)
                        return
                    except Exception:  # noqa: BLE001
                        logger.exception("job %s: applying the result failed", job.id)
                        await session.rollback()
                        await session.refresh(job)
                        outcome = WorkerOutcome("failed", code="INTERNAL", error="Saving the result failed")
                else:
                    return
            if outcome.status == "needs_input" and stop is None:
                await transition(session, job, "NEEDS_INPUT", from_statuses=("RUNNING",),
                                 question=outcome.result["question"], choices=outcome.result["choices"],
                                 timeline=close_timeline(job.timeline))
                await append_log(session, job, "INFO", f"Waiting for an answer: {outcome.result['question']}")
                await session.commit()
                self._publish_status(job)
                return
            if stop is not None and stop[0] == "QUEUED":  # handed back at shutdown
                await transition(session, job, "QUEUED", from_statuses=("RUNNING",), error=None, started_at=None,
                                 timeline=close_timeline(job.timeline))
                await session.commit()
                self._publish_status(job)
                return
            status, reason = stop or (("CANCELLED", "Cancelled") if outcome.status == "cancelled"
                                      else ("FAILED", outcome.error or "Failed"))
            if outcome.status == "failed" and outcome.code == "INTERNAL" and stop is None:
                logger.error("job %s failed: %s", job.id, outcome.error)
                reason = f"Internal error: {outcome.error}"
            if await transition(session, job, status, from_statuses=("RUNNING",), error=reason,
                                timeline=close_timeline(job.timeline)):
                details = outcome.result if outcome.status == "failed" and stop is None else None
                await self._finish(session, job, details, success=False)

    async def _finish(self, session: AsyncSession, job: Job, result: dict | None, *, success: bool) -> None:
        """Apply the kind's end hook in the same transaction as the final status, then announce it."""
        spec = self.kinds.get(job.kind)
        if spec is not None:
            await (spec.on_success if success else spec.on_failure)(session, job, result)
        await session.commit()
        self._publish_status(job)
        self._write_telemetry(job)

    # ------------------------------------------------------------------ events
    def _publish_status(self, job: Job) -> None:
        self._publish(job, [{"kind": "STATUS", "job": job.model_copy(), "log": None}])

    def _publish(self, job: Job, events: list[dict[str, Any]]) -> None:
        """One delivery per call: what a job reported together reaches subscribers together."""
        self.bus.publish(job_channel(job.id), events)
        self.bus.publish(user_channel(job.owner_id), events)

    def _write_telemetry(self, job: Job) -> None:
        if self.telemetry_path is None:
            return
        self.telemetry_path.parent.mkdir(parents=True, exist_ok=True)
        record = {"job_id": job.id, "kind": job.kind, "status": job.status, "attempt": job.attempt,
                  "stages": [{"stage": s["stage"], "duration_ms": s.get("duration_ms")} for s in job.timeline]}
        with self.telemetry_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------ liveness and recovery
    async def _beat(self) -> None:
        while self._accepting:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                if self._tasks:
                    async with self.sessions() as session:
                        await session.execute(update(Job).where(col(Job.id).in_(list(self._tasks)),  # type: ignore
                                                             col(Job.status) == "RUNNING").values(heartbeat_at=utcnow()))
                        await session.commit()
                await self.recover(stale_only=True)
                await self.expire_waiting()
            except Exception:  # noqa: BLE001 - the heartbeat must outlive a transient database error
                logger.exception("job heartbeat failed")

    async def recover(self, *, stale_only: bool = False) -> None:
        """Requeue or fail RUNNING jobs nobody drives any more; start QUEUED ones nobody runs."""
        stale_before = utcnow() - timedelta(seconds=3 * self.heartbeat_seconds)
        async with self.sessions() as session:
            orphans = (await session.exec(select(Job).where(col(Job.status).in_(("RUNNING", "QUEUED"))))).all()
            to_launch: list[Job] = []
            for job in orphans:
                if job.id in self._tasks:
                    continue
                if job.status == "QUEUED":
                    to_launch.append(job)
                    continue
                if stale_only and job.heartbeat_at and aware(job.heartbeat_at) > stale_before:
                    continue
                await self._recover_running(session, job, to_launch)
        for job in to_launch:
            self.launch(job)

    async def _recover_running(self, session: AsyncSession, job: Job, to_launch: list[Job]) -> None:
        if job.attempt < self.max_attempts:
            requeued = await transition(session, job, "QUEUED", from_statuses=("RUNNING",), attempt=job.attempt + 1,
                                        started_at=None, timeline=close_timeline(job.timeline))
            if requeued:
                await append_log(session, job, "WARNING", "The server stopped while this job ran; running it again "
                                  f"(attempt {job.attempt} of {self.max_attempts})")
                await session.commit()
                to_launch.append(job)
            return
        reason = f"The server stopped while this job ran, {job.attempt} time(s); giving up"
        if await transition(session, job, "FAILED", from_statuses=("RUNNING",), error=reason,
                            timeline=close_timeline(job.timeline)):
            await self._finish(session, job, None, success=False)
