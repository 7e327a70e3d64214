"""What a runner tells the rest of the process about the jobs it drives.

Metrics and traces hang on this small interface (server/metrics.py, server/telemetry.py), so
services/jobs imports neither prometheus_client nor OpenTelemetry. A trace carrier is a plain
dict of W3C trace-context headers (`traceparent`, `tracestate`): it travels with the job's
message from the request that enqueued it to whoever runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from typing import TypeVar

from services.storage.tables import Job

T = TypeVar("T")

logger = logging.getLogger("assay.jobs")

TraceCarrier = dict[str, str]

# The job a log line is about, for structured logs (server/logs.py reads it); set while a runner drives one.
current_job_id: ContextVar[str | None] = ContextVar("assay_job_id", default=None)


class JobObserver:
    """Observes nothing; subclasses override what they need. Called on the runner's event loop."""

    def trace_carrier(self) -> TraceCarrier:
        """The caller's trace context, to send along with a job it enqueues."""
        return {}

    def follow_trace(self, trace: TraceCarrier) -> None:
        """Make `trace` the current trace context of the calling task (the runner's, for one job)."""

    def job_started(self, job: Job) -> None:
        """`job` has just become RUNNING here."""

    def job_finished(self, job: Job, *, trace: TraceCarrier | None) -> None:
        """`job` has just reached its final status here (called once per job and attempt that ends)."""


class JobObservers(JobObserver):
    """Several observers as one; a failing observer is logged and never fails the job."""

    def __init__(self, *observers: JobObserver) -> None:
        self.observers = observers

    def trace_carrier(self) -> TraceCarrier:
        carrier: TraceCarrier = {}
        nothing: TraceCarrier = {}
        for observer in self.observers:
            carrier.update(self._safely(observer.trace_carrier, nothing))
        return carrier

    def follow_trace(self, trace: TraceCarrier) -> None:
        for observer in self.observers:
            self._safely(partial(observer.follow_trace, trace), None)

    def job_started(self, job: Job) -> None:
        for observer in self.observers:
            self._safely(partial(observer.job_started, job), None)

    def job_finished(self, job: Job, *, trace: TraceCarrier | None) -> None:
        for observer in self.observers:
            self._safely(partial(observer.job_finished, job, trace=trace), None)

    @staticmethod
    def _safely(call: Callable[[], T], default: T) -> T:
        try:
            return call()
        except Exception:  # observing a job must never break it
            logger.exception("a job observer failed")
            return default
