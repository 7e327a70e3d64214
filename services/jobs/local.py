"""The embedded default executor: this server process is the only worker.

Its runner drives jobs in worker processes forked from a warm fork server (milliseconds to start),
at most `max_workers` at once; a SIGTERM hands running jobs back to the queue for the next start.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from services.jobs.kinds import QUEUES
from services.jobs.runner import JobRunner
from services.jobs.status import JobStatus
from services.jobs.transitions import transition
from services.storage.tables import Job


class LocalExecutor:
    redispatches_queued = True
    runs_jobs_here = True

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        await self.runner.start()

    def dispatch(self, job: Job) -> None:
        if job.id in self._tasks:
            return
        task = self._tasks[job.id] = asyncio.create_task(self.runner.run(job.id), name=f"assay-job-{job.id[:8]}")
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    def is_running_here(self, job_id: str) -> bool:
        return job_id in self._tasks

    async def request_cancel(self, job_id: str, reason: str) -> None:
        if self.runner.cancel(job_id, reason=reason):
            return
        async with self.runner.sessions() as session:  # RUNNING, yet nobody here drives it: an orphan
            job = await session.get(Job, job_id)
            if job and await transition(
                session, job, JobStatus.CANCELLED, from_statuses=(JobStatus.RUNNING,), error=reason
            ):
                await self.runner.finish(session, job, None, success=False)

    def announce_shutdown(self) -> None:
        self.runner.announce_hand_back()

    async def stop(self) -> None:
        await self.runner.stop(hand_back=True)
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=10)

    @property
    def active_job_ids(self) -> list[str]:
        return self.runner.running_job_ids

    @property
    def workers(self) -> int:
        return self.runner.pool.max_workers

    async def live_workers(self) -> list[dict[str, Any]]:
        return [
            {
                "name": f"local@{socket.gethostname()}:{os.getpid()}",
                "queues": list(QUEUES),
                "concurrency": self.workers,
                "running": self.runner.running_job_ids,
            }
        ]
