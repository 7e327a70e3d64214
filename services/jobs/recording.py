"""Recording a running job: its log lines (gapless per-job sequence numbers), progress and stage timeline."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from services.jobs.context import WorkerMessage
from services.storage.tables import Job, JobLog, utcnow
from services.stored import StoredModel

logger = logging.getLogger("assay.jobs")


class StageTime(StoredModel):
    """One entry of a job's stage timeline (`Job.timeline`, a JSON column): written here, read by the schema.
    Times are stored as the ISO strings they were written with; the open stage has no end yet."""

    stage: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: float | None = None


class AttemptRecord(StoredModel):
    """One ended attempt of a job (`Job.attempts`, a JSON list): written by the runner, read by the schema."""

    attempt: int
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str
    error: str | None = None
    transient: bool = False
    retry_in_seconds: float | None = None
    code: str | None = None  # the failure's ErrorCode (Job.errorCode)


class LogRecorder:
    """Persists a running job's messages in batches and publishes them, in order, with gapless sequence numbers."""

    def __init__(self, runner: Any, job: Job) -> None:
        self.runner = runner
        self.job = job
        self.queue: asyncio.Queue[WorkerMessage | None] = asyncio.Queue()  # None: the job ended
        self.task = asyncio.create_task(self._run())

    def push(self, message: WorkerMessage) -> None:
        self.queue.put_nowait(message)

    async def close(self) -> None:
        self.queue.put_nowait(None)
        await self.task

    async def _run(self) -> None:
        done = False
        while not done:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            done = batch[-1] is None
            messages = [m for m in batch if m is not None]
            if messages:
                try:
                    await self._record(messages)
                except Exception:  # losing a log line must not kill the job
                    logger.exception("job %s: recording %d messages failed", self.job.id, len(messages))

    async def _record(self, messages: list[WorkerMessage]) -> None:
        events: list[dict[str, Any]] = []
        lines: list[JobLog] = []
        async with self.runner.sessions() as session:
            job = await session.get(Job, self.job.id)
            if job is None:
                return
            timeline = [dict(entry) for entry in job.timeline]
            for message in messages:
                kind = message[0]
                if kind == "log":
                    _, level, text, stage, when = message
                    text = cut_log_line(text, self.runner.max_log_chars)
                    entry = new_log(job, level, text, stage, datetime.fromisoformat(when))
                    lines.append(entry)
                    events.append({"kind": "LOG", "log": entry})
                elif kind == "progress":
                    job.progress = message[1]
                    events.append({"kind": "PROGRESS"})
                elif kind == "telemetry":  # kept by the runner until the job ends (services/jobs/telemetry.py)
                    self.runner.note(job.id, message[1])
                elif kind == "stage":
                    _, name, when = message
                    timeline = close_timeline(timeline, at=datetime.fromisoformat(when))
                    timeline.append({"stage": name, "started_at": when, "finished_at": None, "duration_ms": None})
                    job.stage = name
                    events.append({"kind": "PROGRESS"})
            if lines:  # one executemany: the ORM's per-object bookkeeping was a third of a busy job's cost
                await session.execute(
                    insert(JobLog),
                    [
                        {
                            "job_id": e.job_id,
                            "seq": e.seq,
                            "time": e.time,
                            "level": e.level,
                            "stage": e.stage,
                            "message": e.message,
                        }
                        for e in lines
                    ],
                )
            job.timeline = timeline
            session.add(job)
            await session.commit()
        self.runner.publish(job, events)


def cut_log_line(text: str, limit: int) -> str:
    """A line longer than the limit is kept to it, saying so: a job never dies on its own log."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (cut: {len(text):,} characters, the limit is {limit:,})"


def new_log(job: Job, level: str, message: str, stage: str | None, when: datetime | None = None) -> JobLog:
    job.log_seq += 1
    return JobLog(job_id=job.id, seq=job.log_seq, level=level, stage=stage, message=message, time=when or utcnow())


async def append_log(session: AsyncSession, job: Job, level: str, message: str) -> None:
    job.log_seq += 1
    session.add(JobLog(job_id=job.id, seq=job.log_seq, level=level, message=message))
    session.add(job)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def close_timeline(timeline: list[dict[str, Any]], *, at: datetime | None = None) -> list[dict[str, Any]]:
    """End the open stage, if any, at `at` (now by default)."""
    at = at or utcnow()
    closed = []
    for entry in timeline:
        entry = dict(entry)
        if entry.get("finished_at") is None:
            started = aware(datetime.fromisoformat(entry["started_at"]))
            entry["finished_at"] = at.isoformat()
            entry["duration_ms"] = round((at - started).total_seconds() * 1000, 3)
        closed.append(entry)
    return closed
