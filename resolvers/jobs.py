"""Jobs: lookups, cancel, and the live event streams behind the subscriptions."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from resolvers.context import Context
from resolvers.fields import mutation, query
from resolvers.loaders import Loaders
from resolvers.permissions import IsAuthenticated
from schema.common import field_error, raw_id
from schema.conversion import loaded
from schema.domain import GraphQLDomain
from schema.jobs import CancelJobInput, JobConnection, JobEvent, JobKind, JobPayload, JobStatus
from schema.jobs import Job as JobType
from services.errors import ServiceError, conflict, not_found
from services.jobs import queries
from services.jobs.bus import job_channel, user_channel
from services.jobs.events import decode_message
from services.jobs.transitions import TERMINAL
from services.storage.tables import Job, JobLog


async def _get(ctx: Context, job_id: str | None) -> Job | None:
    if job_id is None:
        return None
    async with ctx.session() as session:
        return await queries.get_job(session, owner_id=ctx.user_id, job_id=job_id)


class JobsQuery:
    @query(description="The caller's jobs, newest first")
    async def jobs(
        self,
        ctx: Context,
        first: int | None = 20,
        after: str | None = None,
        status: list[JobStatus] | None = None,
        kind: list[JobKind] | None = None,
    ) -> JobConnection:
        page = await ctx.owned(
            queries.list_jobs,
            statuses=[s.value for s in status or []],
            kinds=[k.value for k in kind or []],
            **ctx.page(first, after),
        )
        return JobConnection.from_page(page, JobType.from_row)

    @query()
    async def job(self, info: strawberry.Info, id: strawberry.ID) -> JobType | None:
        return await loaded(info.context.loaders.job, raw_id(id, "Job"), JobType.from_row)


class JobsMutation:
    @mutation(description="Stop a queued job at once, a running one within seconds")
    async def cancel_job(self, ctx: Context, input: CancelJobInput) -> JobPayload:
        job = await _get(ctx, raw_id(input.id, "Job"))
        if job is None:
            raise not_found("Job", ["id"])
        if job.status in TERMINAL:
            raise conflict(f"The job already ended ({job.status})", ["id"])
        await ctx.app.jobs.cancel(job.id)
        return JobPayload(job=JobType.from_row(await _get(ctx, job.id) or job))


class JobsSubscription:
    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description="The job's log backlog (after `after`, a log seq), then live log, progress "
        "and status events; completes when the job ends. With `batch: true`, log "
        "lines that arrive together come as one LOG event with `logs`.",
    )
    async def job_events(
        self, info: strawberry.Info, job_id: strawberry.ID, after: int = 0, batch: bool = False
    ) -> AsyncGenerator[JobEvent, None]:
        try:  # field extensions see only the generator's creation, not errors raised while it runs
            async for event in job_events(info.context, raw_id(job_id, "Job"), after=after, batch=batch):
                yield JobEvent.from_event(event, info.context.app.shared_events)
        except ServiceError as exc:
            raise field_error(exc) from exc

    @strawberry.subscription(
        permission_classes=[IsAuthenticated], description="Every progress or status change of any of the caller's jobs"
    )
    async def job_updates(self, info: strawberry.Info) -> AsyncGenerator[JobType, None]:
        async for job in job_updates(info.context):
            yield JobType.from_row(job)


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
            batched.append(
                {"kind": "STATUS", "job": event["job"], "log": None, "logs": [], "final": event.get("final", False)}
            )
        elif event["log"] is not None:
            lines.append(event["log"])
    if lines:
        batched.append({"kind": "LOG", "job": events[-1]["job"], "log": lines[-1], "logs": lines})
    elif events[-1]["kind"] == "PROGRESS":
        batched.append({**events[-1], "logs": []})
    return tuple(batched)


def _ends_stream(event: dict[str, Any]) -> bool:
    return bool(event.get("final")) or (event["kind"] == "STATUS" and event["job"].status in TERMINAL)


async def job_events(
    ctx: Context, job_id: str | None, *, after: int, batch: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """The backlog after `after`, the job's current status, then live events, without gaps or repeats
    of log lines; ends with the job. (A watcher attaching to a quiet job learns at once where it is.)

    With `batch`, log lines that arrived together travel in one LOG event (`logs`), so a fast job
    costs one message per burst instead of one per line. Live events are the very objects the bus
    delivered to every subscriber, so the GraphQL layer can execute and encode each once.
    """
    job = await _get(ctx, job_id)
    if job is None:
        raise not_found("Job", ["jobId"])
    with ctx.app.bus.subscribe(job_channel(job.id)) as live:  # subscribe first so nothing falls between
        async with ctx.session() as session:
            job = await session.get(Job, job.id) or job
            backlog = await queries.job_logs(session, job_id=job.id, after_seq=after)
        seen = backlog[-1].seq if backlog else after
        step = BACKLOG_BATCH if batch else 1
        for start in range(0, len(backlog), step):
            chunk = backlog[start : start + step]
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
                outgoing = delivery.derived("batch", lambda _, rows=rows: batch_logs(rows)) if batch else events
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


def _job(loaders: Loaders) -> DataLoader[str | None, Job | None]:
    return loaders.by_id(Job)


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(
    name="jobs", query=JobsQuery, mutation=JobsMutation, subscription=JobsSubscription, loaders={"job": _job}
)
