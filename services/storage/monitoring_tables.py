"""The tables of model monitoring (services.monitoring): what each writer saw of a model per time window, the
users' alerting rules and the alerts they raised. Imported through services.storage.tables like every table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.storage.table_base import TimestampedBase, new_id, utcnow


class MonitorWindow(SQLModel, table=True):
    """What one writer (a replica's prediction recorder, or one predictDataset job) saw of a model in one
    time window: exact counts and a bottom-k sample. Writers never share a row, so none waits on another;
    services.monitoring merges a window's rows when it is read (smallest sampling keys win)."""

    __tablename__ = "monitor_window"
    __table_args__ = (
        UniqueConstraint("model_id", "window_start", "writer"),
        Index("ix_monitor_window_model_start", "model_id", "window_start"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    model_id: str = Field(foreign_key="model.id", ondelete="CASCADE")
    window_start: datetime = Field(index=True)  # also what retention deletes by
    writer: str = Field(max_length=64)
    request_count: int = 0
    row_count: int = 0
    prediction_counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # JSON text serialized by the writer in slices between awaits: a 500-row sample is ~10 ms of json.dumps,
    # which SQLAlchemy would run in one go on the event loop for a JSON column (services.monitoring.recorder)
    sample: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class ModelMonitor(TimestampedBase, table=True):
    """A user's alerting rule on one model: the drift share at which a closed window raises an alert.
    `evaluated_through` is the last window judged, moved by compare-and-set so one replica judges each."""

    __tablename__ = "model_monitor"
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    model_id: str = Field(foreign_key="model.id", unique=True, ondelete="CASCADE")
    drift_share_threshold: float | None = None
    method: str | None = Field(default=None, max_length=16)  # services.drift.DriftMethod; None: per column
    threshold: float | None = None  # the per-column test's; None: the method's default
    evaluated_through: datetime | None = None


class ModelAlert(TimestampedBase, table=True):
    """A closed window whose drift share reached its monitor's threshold; one per monitor and window."""

    __tablename__ = "model_alert"
    __table_args__ = (UniqueConstraint("monitor_id", "window_start"),)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    monitor_id: str = Field(foreign_key="model_monitor.id", index=True, ondelete="CASCADE")
    model_id: str = Field(foreign_key="model.id", ondelete="CASCADE")
    window_start: datetime = Field(index=True)
    window_end: datetime
    drift_share: float
    drift_share_threshold: float
    drifted_features: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
