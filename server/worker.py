"""`python -m server.worker`: a Celery worker running Assay's jobs (what `make worker` does).

Configured only by ASSAY_* variables, like the server: ASSAY_REDIS_URL (required), ASSAY_DATABASE_URL
and ASSAY_DATA_DIR (the same as the replicas'), ASSAY_WORKER_QUEUES (default all),
ASSAY_WORKER_CONCURRENCY (jobs at once, each in its own process), ASSAY_WORKER_NAME; its /metrics
listens on ASSAY_WORKER_METRICS_HOST:ASSAY_WORKER_METRICS_PORT (docs/observability.md).

`python -m server.worker --health` is a container's health check: it exits 0 when this worker (by
ASSAY_WORKER_NAME, else any worker of this host) wrote its heartbeat record to Redis lately, else 1.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from celery import signals

from server import telemetry
from server.job_kinds import job_kinds
from server.job_options import process_options, runner_options
from server.logs import configure_logging
from server.metrics import Metrics, serve_worker_metrics
from server.settings import Settings
from server.webhooks import deliverer
from services.jobs.celery_app import RUN_JOB, create_celery
from services.jobs.celery_worker import WorkerConfig, WorkerRuntime
from services.jobs.kinds import QUEUES
from services.jobs.observer import JobObservers
from services.storage import objects


def worker_queues(settings: Settings) -> list[str]:
    chosen = [name.strip() for name in settings.worker_queues.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown:
        raise SystemExit(f"assay worker: unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}")
    return chosen or list(QUEUES)


def default_worker_name() -> str:
    return f"assay-{socket.gethostname()}-{os.getpid()}"


def health(settings: Settings) -> int:
    """0 when a live record (it expires after missed heartbeats) names this worker; its PID is unknown to a
    separate health-check process, so without ASSAY_WORKER_NAME any worker of this host counts."""
    import redis

    pattern = (
        f"assay:worker:{settings.worker_name}"
        if settings.worker_name
        else f"assay:worker:assay-{socket.gethostname()}-*"
    )
    assert settings.redis_url, "workers run only with ASSAY_REDIS_URL (their broker)"
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        live = next(iter(client.scan_iter(match=pattern, count=100)), None)
    except redis.RedisError as exc:
        print(f"assay worker health: Redis unreachable: {exc}", file=sys.stderr)  # noqa: T201 - a CLI check
        return 1
    if live is None:
        print(f"assay worker health: no live worker record matches {pattern}", file=sys.stderr)  # noqa: T201 - a CLI check
        return 1
    return 0


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if not settings.redis_url:
        raise SystemExit(
            "assay worker: ASSAY_REDIS_URL is required (the Celery broker and event bus), "
            "e.g. ASSAY_REDIS_URL=redis://127.0.0.1:6379/0"
        )
    if "--health" in sys.argv[1:]:
        raise SystemExit(health(settings))
    queues = worker_queues(settings)
    objects.configure_from(settings.storage)  # for the end hooks
    name = settings.worker_name or default_worker_name()
    kinds = job_kinds()
    # The runner is this one process (Celery's thread pool; bodies run in forked children that record
    # nothing), so one registry holds every job metric: no prometheus multiprocess mode needed.
    metrics = Metrics(role="worker", kinds=kinds)
    tracing = telemetry.configure_tracing("assay-worker")
    observer = JobObservers(metrics.job_observer(), *([telemetry.JobTracing()] if tracing else []))
    runtime = WorkerRuntime(
        WorkerConfig(
            name=name,
            database_url=settings.resolved_database_url,
            redis_url=settings.redis_url,
            queues=queues,
            concurrency=settings.worker_concurrency,
            **process_options(settings, kinds),
            **runner_options(settings, kinds, observer),
        )
    )
    celery = create_celery(settings.redis_url)

    @celery.task(name=RUN_JOB, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_job(job_id: str, attempt: int, trace: dict[str, str] | None = None) -> None:
        runtime.run_job(job_id, attempt, trace)

    deliveries: list = []

    async def read_gauges() -> None:  # on the worker's loop, which owns the runner, the engine and the client
        running = len(runtime.runner.running_job_ids) if runtime.runner else 0
        await metrics.refresh(engine=runtime.engine, running=running, redis=runtime.client, broker_queues=queues)

    def start(**_) -> None:
        runtime.start()
        # This worker's webhook delivery loop, on the loop that owns its database engine
        deliveries.append(
            asyncio.run_coroutine_threadsafe(deliverer(settings, runtime.sessions, name).run(), runtime.loop)
        )
        serve_worker_metrics(
            settings, metrics, refresh=lambda: asyncio.run_coroutine_threadsafe(read_gauges(), runtime.loop)
        )

    def stop(**_) -> None:
        for delivering in deliveries:
            delivering.cancel()
        runtime.stop()
        telemetry.flush_traces()

    signals.worker_init.connect(start, weak=False)
    signals.worker_shutdown.connect(stop, weak=False)
    quiet = ["--quiet"] if settings.log_format == "json" else []  # Celery's banner is not a log line: no JSON
    celery.worker_main(
        [
            *quiet,
            "worker",
            "--pool=threads",
            f"--concurrency={settings.worker_concurrency}",
            "--queues",
            ",".join(queues),
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            f"--loglevel={settings.log_level}",
        ]
    )


if __name__ == "__main__":
    main()
