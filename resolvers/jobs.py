"""Jobs: lookups, cancel, and the live event streams behind the subscriptions."""
from __future__ import annotations

from typing import Any, AsyncIterator

from services.errors import ServiceError, invalid
from services.jobs import queries
from services.jobs.bus import job_channel, user_channel
from services.jobs.engine import TERMINAL
from services.pagination import Page
from services.storage.tables import Job, JobLog

from resolvers.context import Context

MAX_LOG_ENTRIES = 1000


async def get(ctx: Context, job_id: str | None) -> Job | None:
    if job_id is None:
        return None
    async with ctx.session() as session:
        return await queries.get_job(session, owner_id=ctx.user_id, job_id=job_id)


async def list_page(ctx: Context, *, first: int, after: str | None, statuses: list[str] | None = None,
                    kinds: list[str] | None = None, dataset_id: str | None = None) -> Page[Job]:
    async with ctx.session() as session:
        return await queries.list_jobs(session, owner_id=ctx.user_id, first=first, after=after, statuses=statuses,
                                       kinds=kinds, dataset_id=dataset_id, max_first=ctx.settings.max_page_size)


async def logs(ctx: Context, job: Job, *, last: int) -> list[JobLog]:
    if last < 0 or last > MAX_LOG_ENTRIES:
        raise invalid(f"`last` must be between 0 and {MAX_LOG_ENTRIES}", ["last"])
    async with ctx.session() as session:
        return await queries.job_logs(session, job_id=job.id, last=last)


async def cancel(ctx: Context, job_id: str | None) -> Job:
    job = await get(ctx, job_id)
    if job is None:
        raise ServiceError("NOT_FOUND", "Job not found", ["id"])
    if job.status in TERMINAL:
        raise ServiceError("CONFLICT", f"The job already ended ({job.status})", ["id"])
    await ctx.app.jobs.cancel(job.id)
    return await get(ctx, job.id) or job


BACKLOG_BATCH = 500


async def job_events(ctx: Context, job_id: str | None, *, after: int, batch: bool = False
                     ) -> AsyncIterator[dict[str, Any]]:
    """The backlog after `after`, then live events, without gaps or repeats; ends with the job.

    With `batch`, log lines that are already waiting travel together in one LOG event (`logs`), so a
    fast job costs one message per burst instead of one per line.
    """
    job = await get(ctx, job_id)
    if job is None:
        raise ServiceError("NOT_FOUND", "Job not found", ["jobId"])
    with ctx.app.bus.subscribe(job_channel(job.id)) as live:  # subscribe first so nothing falls between
        async with ctx.session() as session:
            job = await session.get(Job, job.id) or job
            backlog = await queries.job_logs(session, job_id=job.id, after_seq=after)
        seen = backlog[-1].seq if backlog else after
        step = BACKLOG_BATCH if batch else 1
        for start in range(0, len(backlog), step):
            chunk = backlog[start:start + step]
            yield {"kind": "LOG", "job": job, "log": chunk[-1], "logs": chunk}
        if job.status in TERMINAL:
            yield {"kind": "STATUS", "job": job, "log": None}
            return
        while True:
            events = [await live.get()]
            while batch and not live.empty():
                events.append(live.get_nowait())
            pending_logs: list[JobLog] = []
            for event in events:
                if event is None:  # the server is shutting down
                    return
                log = event.get("log")
                if log is not None:
                    if log.seq <= seen:
                        continue
                    seen = log.seq
                if batch and event["kind"] != "STATUS":
                    pending_logs.extend([log] if log is not None else [])
                    latest = event
                    continue
                if pending_logs:
                    yield {"kind": "LOG", "job": event["job"], "log": pending_logs[-1], "logs": pending_logs}
                    pending_logs = []
                yield event if not batch else {**event, "logs": []}
                if event.get("final") or (event["kind"] == "STATUS" and event["job"].status in TERMINAL):
                    return
            if pending_logs:
                yield {"kind": "LOG", "job": latest["job"], "log": pending_logs[-1], "logs": pending_logs}
            elif batch and events and events[-1] is not None and events[-1]["kind"] == "PROGRESS":
                yield {**events[-1], "logs": []}


async def job_updates(ctx: Context) -> AsyncIterator[Job]:
    """Every change to any of the caller's jobs, as the job's new state."""
    with ctx.app.bus.subscribe(user_channel(ctx.user_id)) as live:
        while True:
            event = await live.get()
            if event is None:
                return
            if event["kind"] != "LOG":
                yield event["job"]
