"""The replica side of ASSAY_EXECUTOR=celery: jobs go to Celery queues, cancels go over Redis.

A replica runs nothing itself, so its SIGTERM hands nothing back: whatever workers run goes on.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from celery import Celery

from services.jobs.bus import CONTROL_CHANNEL, EventBus
from services.jobs.celery_app import send_job
from services.jobs.kinds import JobKindSpec, queue_of
from services.jobs.observer import JobObserver
from services.jobs.shared_state import RedisCancelRequests, RedisWorkerRecords
from services.storage.tables import Job

logger = logging.getLogger("assay.jobs")


class CeleryExecutor:
    redispatches_queued = False  # QUEUED jobs wait in the broker, not in this process
    runs_jobs_here = False

    def __init__(
        self,
        *,
        celery: Celery,
        kinds: dict[str, JobKindSpec],
        bus: EventBus,
        cancels: RedisCancelRequests,
        workers: RedisWorkerRecords,
        observer: JobObserver | None = None,
    ) -> None:
        self.celery = celery
        self.kinds = kinds
        self.bus = bus
        self.cancels = cancels
        self.worker_records = workers
        self.observer = observer or JobObserver()
        # Sending is a blocking kombu call (~1 ms): one thread keeps it off the loop and in order.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assay-celery-send")

    async def start(self) -> None:
        return None

    def dispatch(self, job: Job) -> None:
        # The trace context is read here, in the enqueuing request, not on the sender thread.
        future = self._sender.submit(
            send_job,
            self.celery,
            job_id=job.id,
            attempt=job.attempt,
            queue=queue_of(self.kinds, job.kind),
            trace=self.observer.trace_carrier(),
            priority=job.priority,
        )

        def report(sent: Future[Any]) -> None:
            if sent.exception():
                logger.error("job %s: sending it to Celery failed: %s", job.id, sent.exception())

        future.add_done_callback(report)

    def is_running_here(self, job_id: str) -> bool:
        return False

    async def request_cancel(self, job_id: str, reason: str) -> None:
        await self.cancels.request(job_id, reason)
        self.bus.publish(CONTROL_CHANNEL, {"cancel": job_id, "reason": reason})

    def announce_shutdown(self) -> None:
        return None

    async def stop(self) -> None:
        await asyncio.to_thread(self._sender.shutdown, wait=True)

    @property
    def active_job_ids(self) -> list[str]:
        return []

    @property
    def workers(self) -> int:
        return 0

    async def live_workers(self) -> list[dict[str, Any]]:
        return await self.worker_records.live()
