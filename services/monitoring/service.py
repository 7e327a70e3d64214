"""Monitors of served models: set one, read a model's windows (counts, predictions, drift), judge closed
windows against a monitor's threshold (raising one alert per window), and expire old windows.

When a window is judged: a replica's background task (services.monitoring.loop), every flush, judges
each window that ended at least `settle_seconds` ago (every replica has written its last flush of it by
then) and that its monitor has not judged yet. The monitor's `evaluated_through` moves forward by
compare-and-set in the transaction that stores the alert, so of several replicas judging the same
window exactly one stores and publishes; the alert's unique (monitor, window) key backs that up.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.drift import DriftMethod, DriftTest, drift_share, valid_threshold
from services.errors import conflict, invalid
from services.modeling import ModelStatus
from services.modeling.service import require_model
from services.monitoring.reference import feature_drift, reference_sample
from services.monitoring.sample import OUTPUT, merge, window_length, window_start
from services.registry.names import ModelReference
from services.storage.tables import Model, ModelAlert, ModelMonitor, MonitorWindow, utcnow
from services.webhooks.events import WebhookEvent, publish

DEFAULT_WINDOWS = 24  # answered when `since` is not given
MAX_WINDOWS = 168  # at most this many windows per answer (a week of hours), the newest
MAX_ALERTS = 100  # alerts listed per answer, the newest
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class MonitorConfig:
    data_dir: Path
    window_minutes: float
    reservoir_rows: int
    reference_rows: int
    retention_days: float
    flush_seconds: float

    def job_params(self) -> dict[str, Any]:
        """What a PREDICT job needs to record its rows (services.monitoring.jobs)."""
        return {"window_minutes": self.window_minutes, "reservoir_rows": self.reservoir_rows}

    @property
    def settle_seconds(self) -> float:
        """How long after a window ends every replica has surely flushed it (two flushes and a second)."""
        return 2 * self.flush_seconds + 1


@dataclass
class WindowReport:
    start: datetime
    end: datetime
    request_count: int
    row_count: int
    sampled_rows: int
    prediction_counts: dict[str, int] | None  # classification: exact counts per class
    prediction_quantiles: list[tuple[float, float]] | None  # regression: from the sample
    features: list[DriftTest]
    drift_share: float | None  # None: nothing served in the window could be tested
    alert: ModelAlert | None = None


@dataclass
class MonitorReport:
    model: Model
    monitor: ModelMonitor | None
    window_minutes: float
    windows: list[WindowReport] = field(default_factory=list)
    alerts: list[ModelAlert] = field(default_factory=list)


async def set_monitor(
    session: AsyncSession,
    *,
    owner_id: str,
    model_id: str | None,
    reference: ModelReference | None,
    drift_share_threshold: float | None,
    method: DriftMethod | None,
    threshold: float | None,
    config: MonitorConfig,
) -> ModelMonitor:
    """Create or replace the model's monitor. Windows that ended before now are never judged by it."""
    if drift_share_threshold is not None and not (
        math.isfinite(drift_share_threshold) and 0 < drift_share_threshold <= 1
    ):
        raise invalid("`driftShareThreshold` is a share of features: above 0, at most 1", ["driftShareThreshold"])
    if threshold is not None and method is None:
        raise invalid("A `threshold` needs the `method` it is for", ["threshold"])
    if threshold is not None and method is not None and not valid_threshold(method, threshold):
        raise invalid(f"{threshold} is not a threshold {method} can use", ["threshold"])
    model = await require_model(session, owner_id=owner_id, model_id=model_id, reference=reference)
    if model.status != ModelStatus.READY:
        raise invalid(f"The model is {model.status}: only a READY model serves predictions", ["modelId"])
    monitor = (await session.exec(select(ModelMonitor).where(ModelMonitor.model_id == model.id))).first()
    if monitor is None:
        monitor = ModelMonitor(owner_id=owner_id, model_id=model.id)
    judged_until = window_start(utcnow(), config.window_minutes) - window_length(config.window_minutes)
    if monitor.evaluated_through is None or monitor.evaluated_through < judged_until:
        monitor.evaluated_through = judged_until
    monitor.drift_share_threshold = drift_share_threshold
    monitor.method = method.value if method is not None else None
    monitor.threshold = threshold
    monitor.updated_at = utcnow()
    session.add(monitor)
    try:
        await session.commit()
    except IntegrityError:  # two first settings at once (one monitor per model): the other one won
        await session.rollback()
        raise conflict("The monitor was set by another request at the same moment; try again", ["modelId"]) from None
    await session.refresh(monitor)
    return monitor


async def read_monitor(
    session: AsyncSession,
    *,
    owner_id: str,
    model_id: str | None,
    reference: ModelReference | None,
    window: float | None,
    since: datetime | None,
    config: MonitorConfig,
) -> MonitorReport:
    """The model's windows from `since` (newest first), each `window` minutes long (a multiple of the recorded
    window length), with counts, predictions and drift against the training data, and its alerts."""
    minutes = config.window_minutes if window is None else window
    ratio = minutes / config.window_minutes
    if not math.isfinite(ratio) or ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
        raise invalid(f"`window` is in minutes, a whole multiple of the recorded {config.window_minutes:g}", ["window"])
    model = await require_model(session, owner_id=owner_id, model_id=model_id, reference=reference)
    monitor = (await session.exec(select(ModelMonitor).where(ModelMonitor.model_id == model.id))).first()
    now = utcnow()
    length = window_length(minutes)
    earliest = window_start(now, minutes) - (MAX_WINDOWS - 1) * length
    first = (
        window_start(_aware(since), minutes)
        if since is not None
        else window_start(now, minutes) - (DEFAULT_WINDOWS - 1) * length
    )
    first = max(first, earliest)
    rows = (
        await session.exec(
            select(MonitorWindow).where(MonitorWindow.model_id == model.id, col(MonitorWindow.window_start) >= first)
        )
    ).all()
    alerts = (
        list(
            (
                await session.exec(
                    select(ModelAlert)
                    .where(ModelAlert.model_id == model.id, col(ModelAlert.window_start) >= first)
                    .order_by(col(ModelAlert.window_start).desc())
                    .limit(MAX_ALERTS)
                )
            ).all()
        )
        if monitor
        else []
    )
    groups: dict[datetime, list[MonitorWindow]] = defaultdict(list)
    for row in rows:
        groups[window_start(_aware(row.window_start), minutes)].append(row)
    reports = await asyncio.to_thread(_reports, model, monitor, groups, length, config)
    for report in reports:
        report.alert = next((a for a in alerts if report.start <= _aware(a.window_start) < report.end), None)
    return MonitorReport(model=model, monitor=monitor, window_minutes=minutes, windows=reports, alerts=alerts)


def _reports(
    model: Model,
    monitor: ModelMonitor | None,
    groups: dict[datetime, list[MonitorWindow]],
    length: timedelta,
    config: MonitorConfig,
) -> list[WindowReport]:
    """Heavy (the training sample, the tests): run in a thread."""
    return [
        window_report(model, monitor, start, length, rows, config)
        for start, rows in sorted(groups.items(), key=lambda item: item[0], reverse=True)
    ]


def window_report(
    model: Model,
    monitor: ModelMonitor | None,
    start: datetime,
    length: timedelta,
    rows: list[MonitorWindow],
    config: MonitorConfig,
) -> WindowReport:
    sample = merge((json.loads(row.sample) for row in rows), config.reservoir_rows)
    counts: dict[str, int] | None = None
    quantiles = None
    if model.task == "CLASSIFICATION":
        counts = defaultdict(int)
        for row in rows:
            for label, count in row.prediction_counts.items():
                counts[label] += count
        counts = dict(counts)
    else:
        values = np.array([item[OUTPUT] for item in sample if item[OUTPUT] is not None], dtype=float)
        quantiles = [(q, float(np.quantile(values, q))) for q in QUANTILES] if len(values) else []
    features = model.details.get("features", [])
    reference = reference_sample(
        config.data_dir, model.dataset_id, [f["name"] for f in features], config.reference_rows
    )
    method = DriftMethod(monitor.method) if monitor is not None and monitor.method else None
    tests = (
        feature_drift(
            reference, sample, features, method=method, threshold=monitor.threshold if monitor is not None else None
        )
        if sample
        else []
    )
    tested = [test for test in tests if test.statistic is not None]
    return WindowReport(
        start=start,
        end=start + length,
        request_count=sum(r.request_count for r in rows),
        row_count=sum(r.row_count for r in rows),
        sampled_rows=len(sample),
        prediction_counts=counts,
        prediction_quantiles=quantiles,
        features=tests,
        drift_share=drift_share(tests) if tested else None,
    )


async def judge_closed_windows(
    sessions: Callable[[], AsyncSession], *, config: MonitorConfig, now: datetime | None = None, limit: int = 20
) -> int:
    """Judge up to `limit` settled, unjudged windows of monitors with a threshold; returns alerts raised."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=config.settle_seconds) - window_length(config.window_minutes)
    async with sessions() as session:
        due = (
            await session.exec(
                select(ModelMonitor.id, MonitorWindow.window_start)
                .join(MonitorWindow, col(MonitorWindow.model_id) == col(ModelMonitor.model_id))
                .where(
                    col(ModelMonitor.drift_share_threshold).is_not(None),
                    col(MonitorWindow.window_start) <= cutoff,
                    or_(
                        col(ModelMonitor.evaluated_through).is_(None),
                        col(MonitorWindow.window_start) > col(ModelMonitor.evaluated_through),
                    ),
                )
                .distinct()
                .order_by(col(MonitorWindow.window_start))
                .limit(limit)
            )
        ).all()
    raised = 0
    for monitor_id, start in due:
        raised += await _judge(sessions, monitor_id=monitor_id, start=_aware(start), config=config)
    return raised


async def _judge(
    sessions: Callable[[], AsyncSession], *, monitor_id: str, start: datetime, config: MonitorConfig
) -> int:
    length = window_length(config.window_minutes)
    async with sessions() as session:
        monitor = await session.get(ModelMonitor, monitor_id)
        model = await session.get(Model, monitor.model_id) if monitor is not None else None
        if monitor is None or model is None or monitor.drift_share_threshold is None:
            return 0
        if monitor.evaluated_through is not None and _aware(monitor.evaluated_through) >= start:
            return 0  # another replica judged it meanwhile: skip the work
        rows = (
            await session.exec(
                select(MonitorWindow).where(MonitorWindow.model_id == model.id, MonitorWindow.window_start == start)
            )
        ).all()
        report = await asyncio.to_thread(window_report, model, monitor, start, length, list(rows), config)
        claimed = await session.exec(
            update(ModelMonitor)
            .where(
                col(ModelMonitor.id) == monitor.id,
                or_(col(ModelMonitor.evaluated_through).is_(None), col(ModelMonitor.evaluated_through) < start),
            )
            .values(evaluated_through=start)
        )
        if claimed.rowcount != 1:
            await session.rollback()
            return 0
        threshold = monitor.drift_share_threshold
        if report.drift_share is None or report.drift_share < threshold:
            await session.commit()
            return 0
        alert = ModelAlert(
            owner_id=monitor.owner_id,
            monitor_id=monitor.id,
            model_id=model.id,
            window_start=start,
            window_end=start + length,
            drift_share=report.drift_share,
            drift_share_threshold=threshold,
            drifted_features=[t.column for t in report.features if t.drifted],
        )
        session.add(alert)
        await session.flush()
        await publish(session, user_id=monitor.owner_id, event=WebhookEvent.DRIFT_ALERT, data=alert_event(alert, model))
        try:
            await session.commit()
        except IntegrityError:  # the unique (monitor, window): judged elsewhere after all
            await session.rollback()
            return 0
        return 1


def alert_event(alert: ModelAlert, model: Model) -> dict[str, Any]:
    """The DRIFT_ALERT payload a webhook receives (raw ids, ISO times)."""
    return {
        "alert_id": alert.id,
        "monitor_id": alert.monitor_id,
        "model_id": model.id,
        "model_name": model.name,
        "model_version": model.version,
        "window_start": _aware(alert.window_start).isoformat(),
        "window_end": _aware(alert.window_end).isoformat(),
        "drift_share": alert.drift_share,
        "drift_share_threshold": alert.drift_share_threshold,
        "drifted_features": alert.drifted_features,
    }


async def expire_windows(
    sessions: Callable[[], AsyncSession], *, retention_days: float, now: datetime | None = None
) -> int:
    """Delete windows (and their alerts) that started more than `retention_days` ago."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    async with sessions() as session:
        removed = (await session.exec(delete(MonitorWindow).where(col(MonitorWindow.window_start) < cutoff))).rowcount
        await session.execute(delete(ModelAlert).where(col(ModelAlert.window_start) < cutoff))
        await session.commit()
    return removed or 0


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored one is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
