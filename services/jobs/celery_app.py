"""The Celery application both sides share: replicas send `assay.run_job`, workers run it.

Acknowledged only when the job ends (acks_late, reject_on_worker_lost), one job fetched at a time
per slot (prefetch 1), so a killed worker never holds jobs it was not running. A worker that dies
while running one is noticed by our heartbeat deadline (seconds), not Redis' visibility timeout
(an hour): any replica then requeues the job as attempt n+1, and the dead attempt's message, if
Redis ever redelivers it, finds its attempt gone and does nothing.
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from services.jobs.kinds import QUEUES
from services.jobs.priority import CELERY_STEPS, Priority, celery_priority

RUN_JOB = "assay.run_job"


def create_celery(redis_url: str) -> Celery:
    app = Celery("assay", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # results live in the job record
        worker_prefetch_multiplier=1,
        # kombu ships no annotations, so its constructors are untyped calls to mypy
        task_queues=[
            Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]
            for name in QUEUES
        ],
        task_default_queue="default",
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Redis has no native priorities: kombu keeps one list per step and serves step 0 first, so a
        # HIGH job queued after LOW ones is fetched first (prefetch 1 + acks_late: a busy worker holds none).
        # queue_order_strategy stays round robin: "priority" would rank whole queues (ingest starving modeling).
        broker_transport_options={"visibility_timeout": 3600, "priority_steps": CELERY_STEPS},
        task_default_priority=celery_priority(Priority.NORMAL),
    )
    return app


def send_job(
    app: Celery,
    *,
    job_id: str,
    attempt: int,
    queue: str,
    trace: dict[str, str] | None = None,
    priority: str | int | None = None,
) -> None:
    """`trace`: the enqueuing request's W3C trace context, so the worker's spans join its trace."""
    app.send_task(
        RUN_JOB,
        args=[job_id, attempt],
        kwargs={"trace": trace} if trace else None,
        queue=queue,
        priority=celery_priority(priority),
    )
