"""Monitoring types: a served model's windows (counts, predictions, drift of the served inputs against its
training data), its monitor (the alerting threshold) and the alerts raised."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.checks import DriftMethod  # one GraphQL enum for the services' DriftMethod
from schema.common import payload, to_global_id
from schema.conversion import fields_of
from schema.models import Model
from services import drift
from services.monitoring.service import MonitorReport, WindowReport
from services.storage.tables import ModelAlert as AlertRow
from services.storage.tables import ModelMonitor as MonitorRow


@strawberry.type(description="One column's drift between the training data and what was served")
class FeatureDrift:
    column: str
    method: DriftMethod
    statistic: float | None = strawberry.field(description="None when either side had no values")
    p_value: float | None = strawberry.field(description="For KS and CHI_SQUARE")
    threshold: float
    drifted: bool
    reference_count: int = strawberry.field(description="Training values compared (a uniform sample)")
    current_count: int = strawberry.field(description="Served values compared (the window's sample)")

    @classmethod
    def from_test(cls, test: drift.DriftTest) -> FeatureDrift:
        return cls(**fields_of(cls, test))


@strawberry.type
class PredictionCount:
    label: str
    count: int


@strawberry.type
class PredictionQuantile:
    quantile: float
    value: float


@strawberry.type(description="An alert: a closed window whose drift share reached the monitor's threshold")
class ModelAlert:
    id: strawberry.ID
    window_start: datetime
    window_end: datetime
    drift_share: float
    drift_share_threshold: float
    drifted_features: list[str]
    created_at: datetime

    @classmethod
    def from_row(cls, row: AlertRow) -> ModelAlert:
        return cls(
            **fields_of(cls, row, id=to_global_id("ModelAlert", row.id), drifted_features=list(row.drifted_features))
        )


@strawberry.type(description="What a model served in one time window")
class MonitorWindow:
    start: datetime
    end: datetime
    request_count: int = strawberry.field(description="predict calls and predictDataset jobs, exact")
    row_count: int = strawberry.field(description="Rows predicted, exact")
    sampled_rows: int = strawberry.field(
        description="Rows in the window's uniform sample, which the drift tests and the quantiles use"
    )
    prediction_counts: list[PredictionCount] | None = strawberry.field(
        description="Classification: rows per predicted class, exact"
    )
    prediction_quantiles: list[PredictionQuantile] | None = strawberry.field(
        description="Regression: quantiles of the predicted values, from the sample"
    )
    features: list[FeatureDrift]
    drift_share: float | None = strawberry.field(
        description="Share of the tested features that drifted; null when nothing could be tested"
    )
    alert: ModelAlert | None = strawberry.field(description="The alert this window raised, if any")

    @classmethod
    def from_report(cls, report: WindowReport) -> MonitorWindow:
        counts = (
            [PredictionCount(label=k, count=v) for k, v in sorted(report.prediction_counts.items())]
            if report.prediction_counts is not None
            else None
        )
        quantiles = (
            [PredictionQuantile(quantile=q, value=v) for q, v in report.prediction_quantiles]
            if report.prediction_quantiles is not None
            else None
        )
        return cls(
            **fields_of(
                cls,
                report,
                prediction_counts=counts,
                prediction_quantiles=quantiles,
                features=[FeatureDrift.from_test(t) for t in report.features],
                alert=ModelAlert.from_row(report.alert) if report.alert is not None else None,
            )
        )


@strawberry.type(description="A model's alerting rule")
class MonitorSettings:
    drift_share_threshold: float | None = strawberry.field(
        description="A closed window whose drift share reaches this raises an alert; null: no alerts"
    )
    method: DriftMethod | None = strawberry.field(description="Null: chosen per column (as Evidently does)")
    threshold: float | None = strawberry.field(description="The method's threshold; null: its default")

    @classmethod
    def from_row(cls, row: MonitorRow) -> MonitorSettings:
        return cls(**fields_of(cls, row))


@strawberry.type(description="What a served model saw, window by window, newest first")
class ModelMonitor:
    model: Model = strawberry.field(description="The model version recorded against ('name@alias' resolved)")
    window_minutes: float
    settings: MonitorSettings | None = strawberry.field(description="Null until setModelMonitor")
    windows: list[MonitorWindow] = strawberry.field(description="Windows with traffic only, newest first")
    alerts: list[ModelAlert] = strawberry.field(description="Alerts of the answered period, newest first")

    @classmethod
    def from_report(cls, report: MonitorReport) -> ModelMonitor:
        return cls(
            model=Model.from_row(report.model),
            window_minutes=report.window_minutes,
            settings=MonitorSettings.from_row(report.monitor) if report.monitor is not None else None,
            windows=[MonitorWindow.from_report(w) for w in report.windows],
            alerts=[ModelAlert.from_row(a) for a in report.alerts],
        )


@strawberry.input
class SetModelMonitorInput:
    model_id: strawberry.ID = strawberry.field(description="A model id, 'name@alias' or 'name/version'")
    drift_share_threshold: float | None = strawberry.field(
        default=None, description="Above 0, at most 1; null: record and report, never alert"
    )
    method: DriftMethod | None = strawberry.field(default=None, description="Null: chosen per column")
    threshold: float | None = strawberry.field(default=None, description="The method's threshold (needs `method`)")


@payload
class SetModelMonitorPayload:
    model: Model | None = None
    settings: MonitorSettings | None = None
