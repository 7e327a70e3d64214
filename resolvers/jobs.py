"""Jobs: lookups, cancel, and the live event streams behind the subscriptions."""
from __future__ import annotations

from typing import Any, AsyncIterator

from services.errors import conflict, invalid, not_found
from services.jobs import queries
from services.jobs.bus import job_channel, user_channel
from services.jobs.events import decode_message
from services.jobs.status import TERMINAL
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
        raise not_found("Job", ["id"])
    if job.status in TERMINAL:
        raise conflict(f"The job already ended ({job.status})", ["id"])
    await ctx.app.jobs.cancel(job.id)
    return await get(ctx, job.id) or job


BACKLOG_BATCH = 500


def batch_logs(events: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """The `batch: true` form of events that arrived together: their log lines as one LOG event.

    Status changes still travel on their own (after the lines before them); a burst of progress
    alone is sent as its latest state.
    """
    batched: list[dict[str, Any]] = []
    lines: list[JobLog] = []
    for event in events:
        if event["kind"] == "STATUS":
            if lines:
                batched.append({"kind": "LOG", "job": event["job"], "log": lines[-1], "logs": lines})
                lines = []
            batched.append({"kind": "STATUS", "job": event["job"], "log": None, "logs": [],
                            "final": event.get("final", False)})
        elif event["log"] is not None:
            lines.append(event["log"])
    if lines:
        batched.append({"kind": "LOG", "job": events[-1]["job"], "log": lines[-1], "logs": lines})
    elif events[-1]["kind"] == "PROGRESS":
        batched.append({**events[-1], "logs": []})
    return tuple(batched)


def _ends_stream(event: dict[str, Any]) -> bool:
    return bool(event.get("final")) or (event["kind"] == "STATUS" and event["job"].status in TERMINAL)


async def job_events(ctx: Context, job_id: str | None, *, after: int, batch: bool = False
                     ) -> AsyncIterator[dict[str, Any]]:
    """The backlog after `after`, the job's current status, then live events, without gaps or repeats
    of log lines; ends with the job. (A watcher attaching to a quiet job learns at once where it is.)

    With `batch`, log lines that arrived together travel in one LOG event (`logs`), so a fast job
    costs one message per burst instead of one per line. Live events are the very objects the bus
    delivered to every subscriber, so the GraphQL layer can execute and encode each once.
    """
    job = await get(ctx, job_id)
    if job is None:
        raise not_found("Job", ["jobId"])
    with ctx.app.bus.subscribe(job_channel(job.id)) as live:  # subscribe first so nothing falls between
        async with ctx.session() as session:
            job = await session.get(Job, job.id) or job
            backlog = await queries.job_logs(session, job_id=job.id, after_seq=after)
        seen = backlog[-1].seq if backlog else after
        step = BACKLOG_BATCH if batch else 1
        for start in range(0, len(backlog), step):
            chunk = backlog[start:start + step]
            yield {"kind": "LOG", "job": job, "log": chunk[-1], "logs": chunk}
        yield {"kind": "STATUS", "job": job, "log": None}  # where the job stands now, before anything changes
        if job.status in TERMINAL:
            return
        version = job.version
        while True:
            delivery = await live.get()
            if delivery is None:  # the server is shutting down
                return
            events = delivery.derived("rows", decode_message)
            if events and events[0]["job"].version < version:
                continue  # a change published before the state the backlog already showed
            if any(e["log"] is not None and e["log"].seq <= seen for e in events):
                # Only right after the backlog: lines it already sent; this subscriber's own copy.
                events = tuple(e for e in events if e["log"] is None or e["log"].seq > seen)
                outgoing = batch_logs(events) if batch and events else events
            else:
                rows = events
                outgoing = delivery.derived("batch", lambda _: batch_logs(rows)) if batch else events
            for event in outgoing:
                if event["log"] is not None:
                    seen = event["log"].seq
                yield event
                if _ends_stream(event):
                    return


async def job_updates(ctx: Context) -> AsyncIterator[Job]:
    """Every change to any of the caller's jobs, as the job's new state."""
    with ctx.app.bus.subscribe(user_channel(ctx.user_id)) as live:
        while True:
            delivery = await live.get()
            if delivery is None:
                return
            for event in delivery.derived("rows", decode_message):
                if event["kind"] != "LOG":
                    yield event["job"]
