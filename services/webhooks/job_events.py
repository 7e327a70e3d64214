"""JOB_FINISHED for every job kind: each kind's end hooks, wrapped once where the registry is assembled.

The hooks run in the transaction of the job's final compare-and-set (services.jobs.endings.JobRecords.finish),
so the event is queued exactly when the ending commits, once per ending, whoever ends it (a worker, a
cancel, recovery). services/jobs stays unaware of webhooks: the server and the worker wrap the kinds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.jobs.kinds import Finisher, JobHooks, JobKindSpec
from services.storage.tables import Job
from services.webhooks.events import WebhookEvent, api_id, publish


def job_finished_data(job: Job) -> dict[str, Any]:
    return {
        "jobId": api_id("Job", job.id),
        "kind": job.kind,
        "status": job.status,
        "error": job.error,
        "attempt": job.attempt,
        "datasetId": api_id("Dataset", job.dataset_id) if job.dataset_id else None,
        "startedAt": job.started_at,
        "finishedAt": job.finished_at,
    }


def _announcing(hook: Finisher) -> Finisher:
    async def finish(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
        await hook(session, job, result)
        await publish(session, user_id=job.owner_id, event=WebhookEvent.JOB_FINISHED, data=job_finished_data(job))

    return finish


def announce_job_endings(kinds: dict[str, JobKindSpec]) -> dict[str, JobKindSpec]:
    """`kinds` whose end hooks also queue JOB_FINISHED for the owner's webhooks."""
    return {name: replace(spec, hooks=_announcing_ends(spec.hooks)) for name, spec in kinds.items()}


def _announcing_ends(hooks: JobHooks) -> JobHooks:
    return replace(hooks, on_success=_announcing(hooks.on_success), on_failure=_announcing(hooks.on_failure))
