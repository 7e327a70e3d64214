"""The Starlette app factory and its lifespan: migrate, bootstrap the admin, run the job engine and the
pipeline scheduler."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from resolvers.context import AppState
from resolvers.pipelines import pipeline_limits
from schema.fanout import SharedEvents
from schema.root import create_schema
from server import telemetry
from server.cors import cors_middleware, parse_origins
from server.graphiql import ASSET_PREFIX, STATIC_DIR
from server.graphql_view import AssayGraphQL
from server.job_kinds import job_kinds
from server.job_options import process_options, runner_options
from server.logs import RequestIds
from server.metrics import Metrics, metrics_endpoint
from server.operation_metrics import OperationMetrics
from server.request_limits import RequestLimits
from server.routes import (
    download_comparison_plot,
    download_comparison_report,
    download_dataset,
    download_job_file,
    download_model,
    download_plot,
    download_report,
    health_check,
    root,
)
from server.settings import Settings
from server.uploads import clear_staging
from server.webhooks import deliverer, stop_delivering
from services import auth
from services.cache import create_cache
from services.jobs.bus import InMemoryEventBus, ServerBus
from services.jobs.engine import JobEngine
from services.jobs.executor import ProcessExecutor
from services.jobs.local import LocalExecutor
from services.jobs.observer import JobObserver, JobObservers
from services.jobs.runner import JobRunner
from services.maintenance_runs import run_if_due
from services.monitoring.loop import keep_watch
from services.monitoring.recorder import PredictionRecorder
from services.monitoring.service import MonitorConfig
from services.pipelines.service import run_due_pipelines
from services.ratelimit import RedisSlidingWindowLimiter, SlidingWindowLimiter
from services.storage import db, objects

logger = logging.getLogger("assay")


def assay_version() -> str:
    try:
        return version("assay")
    except PackageNotFoundError:
        return "0.0.0"


def build_state(settings: Settings, observer: JobObserver | None = None) -> AppState:
    settings.check_deployment()
    objects.configure_from(settings.storage)  # this process's files: store or data dir
    auth.configure_password_hashing(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    engine = db.create_engine(
        settings.resolved_database_url,
        db.PoolSettings(
            size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            recycle_seconds=settings.db_pool_recycle_seconds,
        ),
    )
    sessions = db.session_factory(engine)
    kinds = job_kinds()
    redis_client = None
    bus: ServerBus
    if settings.redis_url:
        import redis.asyncio as redis

        from services.jobs.redis_bus import RedisEventBus

        redis_client = redis.from_url(settings.redis_url)
        bus = RedisEventBus(settings.redis_url)
    else:
        bus = InMemoryEventBus()
    if settings.executor == "celery":
        executor = celery_executor(settings, kinds=kinds, bus=bus, client=redis_client, observer=observer)
    else:
        pool = ProcessExecutor(max_workers=settings.max_concurrent_jobs, **process_options(settings, kinds))
        executor = LocalExecutor(
            JobRunner(sessions=sessions, bus=bus, pool=pool, **runner_options(settings, kinds, observer))
        )
    jobs = JobEngine(
        sessions=sessions,
        bus=bus,
        executor=executor,
        kinds=kinds,
        heartbeat_seconds=settings.job_heartbeat_seconds,
        max_attempts=settings.job_max_attempts,
        needs_input_timeout=settings.needs_input_timeout_seconds,
        resend_queued_after=settings.job_resend_queued_seconds,
    )
    window = settings.login_failure_window_seconds

    def limiter(name: str, limit: int, seconds: float):
        if redis_client is not None:
            return RedisSlidingWindowLimiter(redis_client, name=name, limit=limit, window=seconds)
        return SlidingWindowLimiter(limit=limit, window=seconds)

    return AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        jobs=jobs,
        bus=bus,
        version=assay_version(),
        redis=redis_client,
        shared_events=SharedEvents(),
        login_failures_by_account=limiter("login-account", settings.login_failures_per_account, window),
        login_failures_by_address=limiter("login-address", settings.login_failures_per_address, window),
        requests_by_user=limiter("requests", settings.requests_per_minute, 60),
        cache=create_cache(
            redis_client=redis_client, ttl=settings.cache_ttl_seconds, max_entries=settings.cache_max_entries
        ),
        # every ASSAY_MONITOR_* setting is the MonitorConfig field of its name
        monitor_config=MonitorConfig(data_dir=settings.resolved_data_dir, **settings.prefixed("monitor_")),
        recorder=PredictionRecorder(
            sessions=sessions,
            window_minutes=settings.monitor_window_minutes,
            reservoir_rows=settings.monitor_reservoir_rows,
        )
        if settings.monitoring == "on"
        else None,
    )


def celery_executor(settings: Settings, *, kinds, bus, client, observer=None):
    from services.jobs.celery_app import create_celery
    from services.jobs.celery_executor import CeleryExecutor
    from services.jobs.shared_state import RedisCancelRequests, RedisWorkerRecords

    redis_url = settings.redis_url
    assert redis_url, "Settings.check_deployment refuses the celery executor without ASSAY_REDIS_URL"
    return CeleryExecutor(
        celery=create_celery(redis_url),
        kinds=kinds,
        bus=bus,
        cancels=RedisCancelRequests(client),
        workers=RedisWorkerRecords(client, ttl_seconds=3 * settings.job_heartbeat_seconds),
        observer=observer,
    )


async def run_scheduled_pipelines(state: AppState, settings: Settings) -> None:
    """Start the runs of scheduled pipelines as they fall due, until the server stops."""
    limits = pipeline_limits(settings)
    while True:
        try:
            await run_due_pipelines(state.sessions, jobs=state.jobs, data_dir=settings.resolved_data_dir, limits=limits)
        except Exception:  # one bad tick must not end scheduling
            logger.exception("The pipeline scheduler's tick failed")
        await asyncio.sleep(settings.scheduler_tick_seconds)


async def run_periodic_maintenance(state: AppState, settings: Settings) -> None:
    """Start the cluster's clean-up once per ASSAY_MAINTENANCE_INTERVAL_SECONDS (one replica wins each period)."""
    while True:
        await asyncio.sleep(settings.scheduler_tick_seconds)  # not at start-up, which already cleared staging
        try:
            await run_if_due(
                state.sessions,
                jobs=state.jobs,
                interval_seconds=settings.maintenance_interval_seconds,
                data_dir=settings.resolved_data_dir,
                database_url=settings.resolved_database_url,
                log_retention_days=settings.log_retention_days,
            )
        except Exception:  # one bad tick must not end the clean-ups
            logger.exception("The maintenance tick failed")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    tracing = telemetry.configure_tracing("assay-replica")
    metrics = Metrics(role="replica", kinds=job_kinds())
    observers = [metrics.job_observer(), *([telemetry.JobTracing()] if tracing else [])]
    state = build_state(settings, observer=JobObservers(*observers))
    state.metrics = metrics

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate, settings.resolved_database_url)
        clear_staging(settings.resolved_data_dir)
        if settings.admin_email and settings.admin_password:
            async with state.sessions() as session:
                await auth.ensure_admin(
                    session=session, email=settings.admin_email, password=settings.admin_password.get_secret_value()
                )
        await state.bus.start()
        await state.jobs.start()
        scheduler = asyncio.create_task(run_scheduled_pipelines(state, settings), name="assay-pipeline-scheduler")
        cleanup = (
            asyncio.create_task(run_periodic_maintenance(state, settings), name="assay-maintenance")
            if settings.maintenance_interval_seconds > 0
            else None
        )
        # Webhooks are sent by whoever runs jobs: here with the local executor, by the workers with Celery.
        deliveries = (
            asyncio.create_task(deliverer(settings, state.sessions).run(), name="assay-webhook-deliveries")
            if settings.executor == "local"
            else None
        )
        watch = (
            asyncio.create_task(
                keep_watch(state.recorder, state.sessions, state.monitor_config), name="assay-monitoring"
            )
            if state.recorder is not None
            else None
        )
        # The start-up heap (schema, ORM, pandas, scikit-learn) lives as long as the process: keeping it
        # out of the collector's sweeps takes ~100 ms pauses off full collections while events stream.
        gc.freeze()
        logger.info("Assay %s ready; data in %s", state.version, settings.resolved_data_dir)
        try:
            yield
        finally:
            scheduler.cancel()
            await asyncio.gather(scheduler, return_exceptions=True)
            if cleanup is not None:
                cleanup.cancel()
                await asyncio.gather(cleanup, return_exceptions=True)
            await stop_delivering(deliveries)
            if watch is not None:  # its last flush runs as it stops
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
            await state.jobs.stop()
            await state.bus.aclose()
            if state.redis is not None:
                await state.redis.aclose()
            await state.engine.dispose()
            telemetry.flush_traces()

    graphql = AssayGraphQL(
        create_schema(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            extensions=(OperationMetrics, *(telemetry.graphql_extensions() if tracing else ())),
        ),
        app=state,
        limits=RequestLimits.from_settings(settings),
        allowed_origins=parse_origins(settings.cors_origins),
    )  # WebSocket handshakes' Origin
    app = Starlette(
        routes=[
            Route("/", root),
            Route("/health", health_check),
            Route("/metrics", metrics_endpoint),
            Route("/files/datasets/{dataset_id:str}.{fmt:str}", download_dataset),
            Route("/files/plots/{dataset_id:str}/{name:str}", download_plot),
            Route("/files/models/{model_id:str}.{fmt:str}", download_model),
            Route("/files/reports/{report_id:str}.html", download_report),
            Route("/files/comparisons/{comparison_id:str}.html", download_comparison_report),
            Route("/files/comparisons/{comparison_id:str}/{name:str}", download_comparison_plot),
            Route("/files/jobs/{job_id:str}", download_job_file),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Mount(ASSET_PREFIX, StaticFiles(directory=STATIC_DIR)),  # GraphiQL's own assets: no CDN
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
        middleware=[
            *(telemetry.asgi_middleware() if tracing else []),
            Middleware(RequestIds),
            *cors_middleware(parse_origins(settings.cors_origins)),
        ],
    )
    app.state.assay = state
    app.state.metrics = metrics
    return app
