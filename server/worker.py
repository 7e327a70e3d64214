"""`python -m server.worker`: a Celery worker running Assay's jobs (what `make worker` does).

Configured only by ASSAY_* variables, like the server: ASSAY_REDIS_URL (required), ASSAY_DATABASE_URL
and ASSAY_DATA_DIR (the same as the replicas'), ASSAY_WORKER_QUEUES (default all),
ASSAY_WORKER_CONCURRENCY (jobs at once, each in its own process), ASSAY_WORKER_NAME.
"""
from __future__ import annotations

import logging
import os
import socket

from celery import signals

from server.job_kinds import job_kinds, worker_preload
from server.settings import Settings
from services.jobs.celery_app import RUN_JOB, create_celery
from services.jobs.celery_worker import WorkerConfig, WorkerRuntime
from services.jobs.kinds import QUEUES


def worker_queues(settings: Settings) -> list[str]:
    chosen = [name.strip() for name in settings.worker_queues.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown:
        raise SystemExit(f"assay worker: unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}")
    return chosen or list(QUEUES)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    if not settings.redis_url:
        raise SystemExit("assay worker: ASSAY_REDIS_URL is required (the Celery broker and event bus), "
                         "e.g. ASSAY_REDIS_URL=redis://127.0.0.1:6379/0")
    queues = worker_queues(settings)
    name = settings.worker_name or f"assay-{socket.gethostname()}-{os.getpid()}"
    kinds = job_kinds()
    runtime = WorkerRuntime(WorkerConfig(
        name=name, database_url=settings.resolved_database_url, redis_url=settings.redis_url, queues=queues,
        concurrency=settings.worker_concurrency, kinds=kinds, preload=worker_preload(kinds),
        timeout_for=settings.timeout_for, heartbeat_seconds=settings.job_heartbeat_seconds,
        grace_seconds=settings.job_cancel_grace_seconds, max_result_bytes=round(settings.max_job_result_mb * 1048576),
        max_log_chars=settings.max_log_line_chars,
        telemetry_path=settings.resolved_data_dir / "telemetry" / "jobs.jsonl"))
    celery = create_celery(settings.redis_url)

    @celery.task(name=RUN_JOB, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_job(job_id: str, attempt: int) -> None:
        runtime.run_job(job_id, attempt)

    signals.worker_init.connect(lambda **_: runtime.start(), weak=False)
    signals.worker_shutdown.connect(lambda **_: runtime.stop(), weak=False)
    celery.worker_main(["worker", "--pool=threads", f"--concurrency={settings.worker_concurrency}",
                        "--queues", ",".join(queues), "--hostname", f"{name}@%h", "--without-gossip",
                        "--without-mingle", "--loglevel=INFO"])


if __name__ == "__main__":
    main()
