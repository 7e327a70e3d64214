"""OpenTelemetry traces, on when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.

A GraphQL request is a trace: the ASGI middleware's server span, Strawberry's operation and resolver
spans under it. The resolver that enqueues a job hands its trace context (W3C `traceparent`) to the
job's message (services/jobs/observer.py); the runner that drives the job — in this server or in a
Celery worker — records the job and each of its stages as spans under it when the job ends, with the
start and end times the job's timeline recorded (the stages ran in a forked process that exports
nothing itself). Exporting is OTLP over HTTP/protobuf, configured by the standard OTEL_* variables.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from services.jobs.observer import JobObserver, TraceCarrier
from services.storage.tables import Job

logger = logging.getLogger("assay.telemetry")

_provider: Any = None


def tracing_enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(service_name: str) -> bool:
    """Install the SDK's tracer provider once per process; False (and nothing installed) without an endpoint."""
    global _provider
    if _provider is not None:
        return True
    if not tracing_enabled():
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(_provider)
    logger.info(
        "tracing: exporting spans to %s",
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    return True


def flush_traces() -> None:
    """Send what is buffered (at shutdown: a worker's last jobs' spans must not be lost)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)


@cache  # the same class every call: the schema, built once per set of extensions, is shared (schema.root)
def graphql_extensions() -> tuple[Any, ...]:
    """Strawberry's OpenTelemetry extension, minus what could carry secrets into a trace backend: the query
    text (a password may be written inline in it) and resolver argument values (inputs hold passwords and tokens)."""
    from strawberry.extensions.tracing import OpenTelemetryExtension

    class OperationTracing(OpenTelemetryExtension):
        def on_operation(self):
            inner = super().on_operation()
            query = self.execution_context.query
            self.execution_context.query = None  # the parent sets the `query` attribute before its yield
            try:
                next(inner)
            finally:
                self.execution_context.query = query
            yield
            next(inner, None)

        def filter_resolver_args(self, args: dict[str, Any], info: Any) -> dict[str, Any]:
            return {}  # not an arg_filter: Strawberry deep-copies the arguments for one, and uploads do not copy

    return (OperationTracing,)


def asgi_middleware() -> list[Any]:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from starlette.middleware import Middleware

    return [Middleware(OpenTelemetryMiddleware, excluded_urls="/health,/metrics")]


def current_trace_id() -> str | None:
    """The hex trace id of the current span, for log lines; None outside a trace or without the SDK."""
    if _provider is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class JobTracing(JobObserver):
    """Carries the trace context into a job's message and records the job's spans where it ran."""

    def trace_carrier(self) -> TraceCarrier:
        from opentelemetry import propagate

        carrier: TraceCarrier = {}
        propagate.inject(carrier)
        return carrier

    def follow_trace(self, trace: TraceCarrier) -> None:
        # Attached for the rest of the runner's task, whose context dies with it: no detach needed.
        from opentelemetry import context, propagate

        if trace:
            context.attach(propagate.extract(trace))

    def job_finished(self, job: Job, *, trace: TraceCarrier | None) -> None:
        from opentelemetry import propagate
        from opentelemetry import trace as otel
        from opentelemetry.trace import Status, StatusCode

        tracer = otel.get_tracer("assay.jobs")
        parent = propagate.extract(trace or {})
        ended = _nanos(job.finished_at) or _nanos(datetime.now(UTC))
        span = tracer.start_span(
            f"job {job.kind}",
            context=parent,
            start_time=_nanos(job.started_at) or ended,
            attributes={
                "assay.job.id": job.id,
                "assay.job.kind": job.kind,
                "assay.job.status": str(job.status),
                "assay.job.attempt": job.attempt,
            },
        )
        inside = otel.set_span_in_context(span)
        for stage in job.timeline or []:
            started, finished = _nanos(stage.get("started_at")), _nanos(stage.get("finished_at"))
            if started is None:
                continue
            child = tracer.start_span(
                f"stage {stage.get('stage')}",
                context=inside,
                start_time=started,
                attributes={"assay.job.id": job.id, "assay.job.stage": str(stage.get("stage"))},
            )
            child.end(end_time=finished or ended)
        if str(job.status) != "SUCCEEDED":
            span.set_status(Status(StatusCode.ERROR, job.error or str(job.status)))
        span.end(end_time=ended)


def _nanos(moment: datetime | str | None) -> int | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000_000)
