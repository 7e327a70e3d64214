"""Prometheus figures of GraphQL operations: a Strawberry extension, counting on the app's own Metrics.

The schema is built once per process and shared by its apps (schema.root.create_schema), so the extension is
one class that finds the instruments through the request context rather than a class bound to one Metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from server.metrics import Metrics


def _operation_type(context: Any) -> str:
    try:
        kind = context.operation_type
    except Exception:  # noqa: BLE001 - a document that did not parse has no type
        return "unknown"
    return kind.value if isinstance(kind, OperationType) else "unknown"


# ---------------------------------------------------------------------- protection


def _metrics_of(extension: SchemaExtension) -> Metrics | None:
    """The instruments of the app this operation runs in (a schema is built once per process and shared)."""
    app = getattr(getattr(extension.execution_context, "context", None), "app", None)
    return getattr(app, "metrics", None)


class OperationMetrics(SchemaExtension):
    """Counts operations, their seconds and errors, and live subscriptions, on the app's own Metrics."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        self.subscribed = False
        try:
            yield
        finally:
            metrics = _metrics_of(self)
            if metrics is not None:
                if self.subscribed:
                    metrics.subscriptions.dec()
                context = self.execution_context
                kind = _operation_type(context)
                name = metrics.operation_label(context.operation_name)
                metrics.operations.labels(name, kind).inc()
                metrics.operation_seconds.labels(name, kind).observe(time.perf_counter() - started)
                result = getattr(context, "result", None)
                refused = context.pre_execution_errors  # parse or validation errors carry no code of their own
                metrics.count_errors(
                    getattr(result, "errors", None) or refused or [],
                    default="GRAPHQL_VALIDATION_FAILED" if refused else "UNCODED",
                )

    def on_execute(self) -> Iterator[None]:
        if _operation_type(self.execution_context) == "subscription" and not self.subscribed:
            metrics = _metrics_of(self)
            if metrics is not None:
                self.subscribed = True
                metrics.subscriptions.inc()
        yield

    # One subscription event; its errors count too. Strawberry also runs a plain function as a hook
    # (before the event is sent); its signature names only the generator form.
    def on_stream_result(self, result: Any) -> None:  # type: ignore[override]
        metrics = _metrics_of(self)
        if metrics is not None and _operation_type(self.execution_context) == "subscription":
            metrics.count_errors(getattr(result, "errors", None) or [])
