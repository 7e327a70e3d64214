"""Prometheus metrics of a replica or a worker: what /metrics serves (docs/observability.md says what each means).

One registry per process role, not prometheus_client's global one: an app built twice in one process
(the tests) starts from zero, and nothing but what is listed here is exported. Job counters and
histograms are recorded by the JobRunner that drives the job (through services/jobs/observer.py);
a Celery worker's runner is one process (its job bodies run in forked children that record nothing),
so no multiprocess mode is needed. Gauges that describe shared state (queue depths, the database
pool, Redis) are read when a scrape arrives.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy import func, select
from sqlmodel import col

from services.jobs.kinds import QUEUES, JobKindSpec, queue_of
from services.jobs.observer import JobObserver, TraceCarrier
from services.jobs.priority import broker_keys
from services.jobs.status import ACTIVE
from services.storage.tables import Job

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from server.settings import Settings

logger = logging.getLogger("assay.metrics")
disable_created_metrics()  # the `_created` twin of every series doubles the exposition for nothing a dashboard uses

# Seconds: from a 5 ms query to a long subscription; jobs run from a second to hours.
OPERATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
JOB_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
MAX_OPERATION_NAMES = 200  # client-chosen names beyond this are counted as "(other)": bounded label sets
SCRAPE_CHECK_SECONDS = 2.0
# A count and its durations carry the same labels, so a dashboard can divide one by the other.
OPERATION_LABELS = ("operation", "type")
JOB_LABELS = ("kind", "status")
Instrument = TypeVar("Instrument", bound=MetricWrapperBase)


class Metrics:
    """The instruments of one process; `role` is "replica" or "worker"."""

    def __init__(self, *, role: str, kinds: dict[str, JobKindSpec] | None = None) -> None:
        self.role = role
        self.kinds = kinds or {}
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        instrument = self._instrument
        self.operations = instrument(
            Counter, "assay_graphql_operations", "GraphQL operations executed, by name and type", OPERATION_LABELS
        )
        self.operation_seconds = instrument(
            Histogram,
            "assay_graphql_operation_duration_seconds",
            "Time from receiving a GraphQL operation to its result (a subscription: its whole life)",
            OPERATION_LABELS,
            buckets=OPERATION_BUCKETS,
        )
        self.errors = instrument(
            Counter, "assay_graphql_errors", "GraphQL errors returned, by extensions.code", ["code"]
        )
        self.subscriptions = instrument(Gauge, "assay_graphql_active_subscriptions", "GraphQL subscriptions open now")
        self.jobs_finished = instrument(
            Counter, "assay_jobs_finished", "Jobs that reached a final status here, by kind and status", JOB_LABELS
        )
        self.job_seconds = instrument(
            Histogram,
            "assay_job_duration_seconds",
            "Time a job ran, from RUNNING to its final status",
            JOB_LABELS,
            buckets=JOB_BUCKETS,
        )
        self.queue_wait_seconds = instrument(
            Histogram,
            "assay_job_queue_wait_seconds",
            "Time a job waited between being enqueued and starting to run",
            ["kind"],
            buckets=JOB_BUCKETS,
        )
        self.jobs_running_here = instrument(Gauge, "assay_jobs_running", "Jobs this process drives now")
        self.queue_depth = instrument(
            Gauge,
            "assay_job_queue_depth",
            "Jobs not yet ended, by queue and status (QUEUED, RUNNING, NEEDS_INPUT), from the database",
            ["queue", "status"],
        )
        self.db_pool_size = instrument(Gauge, "assay_db_pool_size", "Connections the database pool keeps")
        self.db_pool_checked_out = instrument(Gauge, "assay_db_pool_checked_out", "Database connections in use now")
        self.db_pool_overflow = instrument(
            Gauge,
            "assay_db_pool_overflow",
            "Connections open beyond the pool size (negative: pool slots not yet opened)",
        )
        self.redis_up: Gauge | None = None  # created at the first scrape with Redis: absent without ASSAY_REDIS_URL
        self.broker_messages = instrument(
            Gauge,
            "assay_broker_queue_messages",
            "Job messages waiting in a Celery queue on Redis, not yet taken by a worker",
            ["queue"],
        )
        self.info = instrument(Gauge, "assay_info", "Always 1; labels say what this process is", ["role", "version"])
        self._names: set[str] = set()

    def _instrument(
        self, kind: type[Instrument], name: str, documentation: str, labels: Sequence[str] = (), **options: Any
    ) -> Instrument:
        """One of this process's instruments: in its own registry, never the global one."""
        return kind(name, documentation, labels, registry=self.registry, **options)

    # ------------------------------------------------------------------ GraphQL
    def operation_label(self, name: str | None) -> str:
        if not name:
            return "(anonymous)"
        if name in self._names:
            return name
        if len(self._names) >= MAX_OPERATION_NAMES:
            return "(other)"
        self._names.add(name)
        return name

    def count_errors(self, errors: list[Any], default: str = "UNCODED") -> None:
        for error in errors:
            code = (getattr(error, "extensions", None) or {}).get("code") or default
            self.errors.labels(str(code)[:40]).inc()

    # ------------------------------------------------------------------ jobs
    def job_observer(self) -> JobObserver:
        return JobMetrics(self)

    # ------------------------------------------------------------------ scrape
    async def refresh(
        self,
        *,
        engine: Any,
        running: int,
        sessions: Any = None,
        redis: Any = None,
        version: str = "",
        broker_queues: list[str] | None = None,
    ) -> None:
        """Read the gauges that describe shared state, each check bounded so a sick dependency cannot stall a scrape."""
        self.info.labels(self.role, version).set(1)
        self.jobs_running_here.set(running)
        pool = getattr(getattr(engine, "sync_engine", engine), "pool", None)
        for gauge, reading in (
            (self.db_pool_size, "size"),
            (self.db_pool_checked_out, "checkedout"),
            (self.db_pool_overflow, "overflow"),
        ):
            method = getattr(pool, reading, None)
            if callable(method):
                gauge.set(method())
        if redis is not None:
            if self.redis_up is None:
                self.redis_up = self._instrument(
                    Gauge, "assay_redis_up", "1 when Redis answered a PING at this scrape, 0 when it did not"
                )
            try:
                await asyncio.wait_for(redis.ping(), SCRAPE_CHECK_SECONDS)
                self.redis_up.set(1)
                for queue in broker_queues or []:  # kombu keeps a Redis queue's messages in a list per priority step
                    lengths = [redis.llen(key) for key in broker_keys(queue)]
                    total = sum(await asyncio.wait_for(asyncio.gather(*lengths), SCRAPE_CHECK_SECONDS))
                    self.broker_messages.labels(queue).set(total)
            except Exception:  # noqa: BLE001 - unreachable is the reading, not a failure of the scrape
                self.redis_up.set(0)
        if sessions is not None:
            try:
                await asyncio.wait_for(self._read_queue_depths(sessions), SCRAPE_CHECK_SECONDS)
            except Exception:
                logger.warning("metrics: the job queue depths could not be read", exc_info=True)

    async def _read_queue_depths(self, sessions: Any) -> None:
        statuses = [str(status) for status in ACTIVE]
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(col(Job.kind), col(Job.status), func.count())
                    .where(col(Job.status).in_(statuses))
                    .group_by(Job.kind, Job.status)
                )
            ).all()
        depths = {
            (queue, status): 0.0
            for queue in {queue_of(self.kinds, k) for k in self.kinds} or {"default"}
            for status in statuses
        }
        for kind, status, count in rows:
            queue = queue_of(self.kinds, kind) if kind in self.kinds else "default"
            depths[(queue, status)] = depths.get((queue, status), 0) + count
        for (queue, status), count in depths.items():
            self.queue_depth.labels(queue, status).set(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class JobMetrics(JobObserver):
    """Job counters and histograms, recorded by the runner that drives the job: once per ending."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def job_started(self, job: Job) -> None:
        if job.started_at is not None and job.created_at is not None:
            waited = (_aware(job.started_at) - _aware(job.created_at)).total_seconds()
            self.metrics.queue_wait_seconds.labels(job.kind).observe(max(waited, 0.0))

    def job_finished(self, job: Job, *, trace: TraceCarrier | None) -> None:
        status = str(job.status)
        self.metrics.jobs_finished.labels(job.kind, status).inc()
        if job.started_at is not None and job.finished_at is not None:
            ran = (_aware(job.finished_at) - _aware(job.started_at)).total_seconds()
            self.metrics.job_seconds.labels(job.kind, status).observe(max(ran, 0.0))


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def metrics_refusal(
    settings: Settings, *, client_host: str | None, authorization: str | None
) -> tuple[int, str] | None:
    """None when the caller may read metrics: from an allowed network, or with the configured bearer token."""
    if authorization:
        scheme, _, presented = authorization.partition(" ")
        if (
            settings.metrics_token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(presented.strip().encode(), settings.metrics_token.get_secret_value().encode())
        ):
            return None
        return 401, "The metrics token is not valid"
    if client_host and _in_networks(client_host, settings.metrics_allow):
        return None
    return 403, "Metrics are readable only from the networks in ASSAY_METRICS_ALLOW or with ASSAY_METRICS_TOKEN"


def _in_networks(host: str, networks: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for network in (part.strip() for part in networks.split(",")):
        if not network:
            continue
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            logger.warning("ASSAY_METRICS_ALLOW: %r is not a network; ignored", network)
    return False


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics on a replica."""
    from starlette.responses import JSONResponse, Response

    state = request.app.state.assay
    client = request.client.host if request.client else None
    refusal = metrics_refusal(state.settings, client_host=client, authorization=request.headers.get("authorization"))
    if refusal is not None:
        headers = {"www-authenticate": "Bearer"} if refusal[0] == 401 else None
        return JSONResponse({"error": refusal[1]}, status_code=refusal[0], headers=headers)
    metrics: Metrics = request.app.state.metrics
    broker_queues = list(QUEUES) if state.settings.executor == "celery" else None
    await metrics.refresh(
        engine=state.engine,
        running=len(state.jobs.active_job_ids),
        sessions=state.sessions,
        redis=state.redis,
        version=state.version,
        broker_queues=broker_queues,
    )
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(settings: Settings, metrics: Metrics, *, refresh: Any) -> Any:
    """/metrics of a Celery worker on ASSAY_WORKER_METRICS_HOST:PORT, in a thread, with the replicas' protection.

    `refresh()` returns a concurrent future that reads the scrape-time gauges on the worker's loop.
    Returns the server (None when turned off or the port is taken: the worker runs on, saying so)."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client.exposition import ThreadingWSGIServer

    if not settings.worker_metrics_port:
        return None

    def application(environ: dict, start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: the metrics are at /metrics\n"]
        refusal = metrics_refusal(
            settings, client_host=environ.get("REMOTE_ADDR"), authorization=environ.get("HTTP_AUTHORIZATION")
        )
        if refusal is not None:
            status = "401 Unauthorized" if refusal[0] == 401 else "403 Forbidden"
            start_response(status, [("Content-Type", "text/plain")])
            return [refusal[1].encode() + b"\n"]
        try:
            refresh().result(timeout=3 * SCRAPE_CHECK_SECONDS)
        except Exception:  # the counters are still worth serving
            logger.warning("metrics: the worker's gauges could not be read", exc_info=True)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [metrics.exposition()]

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: not logged
            return None

    try:
        server = make_server(
            settings.worker_metrics_host,
            settings.worker_metrics_port,
            application,
            ThreadingWSGIServer,
            handler_class=QuietHandler,
        )
    except OSError as exc:
        logger.warning(
            "worker metrics: cannot listen on %s:%s (%s); set ASSAY_WORKER_METRICS_PORT to a free port "
            "(0 turns metrics off)",
            settings.worker_metrics_host,
            settings.worker_metrics_port,
            exc,
        )
        return None
    threading.Thread(target=server.serve_forever, name="assay-worker-metrics", daemon=True).start()
    logger.info("worker metrics on http://%s:%s/metrics", settings.worker_metrics_host, settings.worker_metrics_port)
    return server
