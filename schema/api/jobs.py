"""Job operations and subscriptions."""
from __future__ import annotations

from typing import AsyncGenerator

import strawberry

from resolvers import jobs as job_resolvers
from resolvers.permissions import IsAuthenticated
from services.errors import ServiceError

from schema.common import field_error, raw_id, user_error
from schema.jobs import CancelJobInput, Job, JobConnection, JobEvent, JobKind, JobPayload, JobStatus


@strawberry.type
class JobsQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The caller's jobs, newest first")
    async def jobs(self, info: strawberry.Info, first: int | None = 20, after: str | None = None,
                   status: list[JobStatus] | None = None, kind: list[JobKind] | None = None) -> JobConnection:
        try:
            page = await job_resolvers.list_page(info.context, first=20 if first is None else first, after=after,
                                                 statuses=[s.value for s in status or []],
                                                 kinds=[k.value for k in kind or []])
        except ServiceError as exc:
            raise field_error(exc) from exc
        return JobConnection.from_page(page)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def job(self, info: strawberry.Info, id: strawberry.ID) -> Job | None:
        row = await job_resolvers.get(info.context, raw_id(id, "Job"))
        return Job.from_row(row) if row else None


@strawberry.type
class JobsMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Stop a queued job at once, a running one within seconds")
    async def cancel_job(self, info: strawberry.Info, input: CancelJobInput) -> JobPayload:
        try:
            return JobPayload(job=Job.from_row(await job_resolvers.cancel(info.context, raw_id(input.id, "Job"))))
        except ServiceError as exc:
            return JobPayload(errors=[user_error(exc)])


@strawberry.type
class JobsSubscription:
    @strawberry.subscription(permission_classes=[IsAuthenticated],
                             description="The job's log backlog (after `after`, a log seq), then live log, progress "
                                         "and status events; completes when the job ends. With `batch: true`, log "
                                         "lines that arrive together come as one LOG event with `logs`.")
    async def job_events(self, info: strawberry.Info, job_id: strawberry.ID, after: int = 0,
                         batch: bool = False) -> AsyncGenerator[JobEvent, None]:
        try:
            async for event in job_resolvers.job_events(info.context, raw_id(job_id, "Job"), after=after, batch=batch):
                yield JobEvent.from_event(event, info.context.app.shared_events)
        except ServiceError as exc:
            raise field_error(exc) from exc

    @strawberry.subscription(permission_classes=[IsAuthenticated],
                             description="Every progress or status change of any of the caller's jobs")
    async def job_updates(self, info: strawberry.Info) -> AsyncGenerator[Job, None]:
        async for job in job_resolvers.job_updates(info.context):
            yield Job.from_row(job)
