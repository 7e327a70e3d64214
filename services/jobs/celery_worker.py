"""The worker side of ASSAY_EXECUTOR=celery: one event loop per worker process owns the job records.

Celery's thread pool hands each `assay.run_job` to a thread, which waits while this loop's
JobRunner drives the job: the body in a process forked from the worker's warm fork server,
heartbeats and cancel checks on the loop. Cancel requests arrive on the bus (and are polled from
Redis at each heartbeat, in case the message was missed); the worker's record in Redis, refreshed
at each heartbeat, is how replicas see it alive.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as redis

from services.jobs.bus import CONTROL_CHANNEL
from services.jobs.executor import ProcessExecutor
from services.jobs.kinds import JobKindSpec
from services.jobs.observer import JobObserver, TraceCarrier
from services.jobs.redis_bus import RedisEventBus
from services.jobs.runner import JobRunner
from services.jobs.shared_state import RedisCancelRequests, RedisWorkerRecords
from services.storage import db
from services.storage.objects import StorageConfig

logger = logging.getLogger("assay.worker")


@dataclass
class WorkerConfig:
    name: str
    database_url: str
    redis_url: str
    queues: list[str]
    concurrency: int
    kinds: dict[str, JobKindSpec]
    preload: list[str]
    timeout_for: Callable[[str], float]
    heartbeat_seconds: float
    grace_seconds: float
    max_result_bytes: int
    max_log_chars: int = 16384
    memory_mb: int = 2048
    scratch_root: Path | None = None
    telemetry_path: Path | None = None
    observer: JobObserver | None = None  # metrics and traces of the jobs this worker runs
    log_level: str = "INFO"  # ASSAY_LOG_LEVEL, for the job processes too
    log_format: str = "text"
    retry_backoff: tuple[float, float] = (2.0, 60.0)
    storage: StorageConfig | None = None  # see JobSpec.storage


class WorkerRuntime:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="assay-worker-loop", daemon=True)
        self.runner: JobRunner | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)
        logger.info(
            "worker %s ready: queues %s, %d at once",
            self.config.name,
            ",".join(self.config.queues),
            self.config.concurrency,
        )

    async def _start(self) -> None:
        config = self.config
        self.engine = db.create_engine(config.database_url)
        self.sessions = db.session_factory(self.engine)
        self.client = redis.from_url(config.redis_url)
        self.bus = RedisEventBus(config.redis_url)
        await self.bus.start()
        self.records = RedisWorkerRecords(self.client, ttl_seconds=3 * config.heartbeat_seconds)
        cancels = RedisCancelRequests(self.client)
        pool = ProcessExecutor(
            max_workers=config.concurrency,
            grace_seconds=config.grace_seconds,
            preload=config.preload,
            memory_mb=config.memory_mb,
            scratch_root=config.scratch_root,
            log_level=config.log_level,
            log_format=config.log_format,
            storage=config.storage,
        )
        self.runner = JobRunner(
            sessions=self.sessions,
            bus=self.bus,
            pool=pool,
            kinds=config.kinds,
            timeout_for=config.timeout_for,
            heartbeat_seconds=config.heartbeat_seconds,
            telemetry_path=config.telemetry_path,
            cancel_poll=cancels.pending,
            on_beat=self._write_record,
            max_result_bytes=config.max_result_bytes,
            max_log_chars=config.max_log_chars,
            observer=config.observer,
            retry_backoff=config.retry_backoff,
        )
        await self.runner.start()
        await self._write_record([])
        self._control = asyncio.create_task(self._follow_cancels(), name="assay-worker-cancels")

    async def _write_record(self, running: list[str]) -> None:
        await self.records.write(
            self.config.name, queues=self.config.queues, concurrency=self.config.concurrency, running=running
        )

    async def _follow_cancels(self) -> None:
        with self.bus.subscribe(CONTROL_CHANNEL) as requests:
            while True:
                delivery = await requests.get()
                if delivery is None:
                    return
                message = delivery.message
                if "cancel" in message and self.runner is not None:
                    self.runner.cancel(message["cancel"], reason=message.get("reason") or "Cancelled")

    def run_job(self, job_id: str, attempt: int, trace: TraceCarrier | None = None) -> None:
        """Called on a Celery pool thread: returns when the job has ended (or was not this attempt's to run)."""
        assert self.runner is not None, "WorkerRuntime.start() first"
        asyncio.run_coroutine_threadsafe(self.runner.run(job_id, attempt, trace or {}), self.loop).result()

    def stop(self) -> None:
        if self.runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _stop(self) -> None:
        self._control.cancel()
        assert self.runner is not None
        await self.runner.stop(hand_back=False)
        await self.records.remove(self.config.name)
        await self.bus.aclose()
        await self.client.aclose()
        await self.engine.dispose()
