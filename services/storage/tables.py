"""SQLModel tables. UUID-hex string keys, timestamps, an owner on every user-owned row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

# Re-exported: every table (and its base's helpers) is imported from here.
from services.storage.monitoring_tables import ModelAlert as ModelAlert
from services.storage.monitoring_tables import ModelMonitor as ModelMonitor
from services.storage.monitoring_tables import MonitorWindow as MonitorWindow
from services.storage.table_base import TimestampedBase as TimestampedBase
from services.storage.table_base import new_id as new_id
from services.storage.table_base import utcnow as utcnow


class User(TimestampedBase, table=True):
    email: str = Field(unique=True, index=True, max_length=320)
    password_hash: str
    role: str = Field(default="MEMBER", max_length=16)
    email_verified_at: datetime | None = None
    last_login_at: datetime | None = None
    disabled_at: datetime | None = None  # set: no login, no refresh, every access token refused at once
    # Access tokens carry the epoch they were issued in; a password change moves it, ending every other session.
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class LoginSession(TimestampedBase, table=True):
    """One login: its refresh tokens share this id as their family; `updated_at` is its last use."""

    __tablename__ = "login_session"
    user_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    revoked_at: datetime | None = None


class LoginEvent(TimestampedBase, table=True):
    """A login attempt, kept for the account's own login history (failed ones too)."""

    __tablename__ = "login_event"
    __table_args__ = (Index("ix_login_event_user_created", "user_id", "created_at"),)
    user_id: str | None = Field(default=None, foreign_key="user.id", ondelete="CASCADE")
    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    success: bool
    reason: str | None = Field(default=None, max_length=64)


class RefreshToken(TimestampedBase, table=True):
    """One issued refresh token; tokens of one login share a family that replay revokes."""

    __tablename__ = "refresh_token"
    user_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    family_id: str = Field(index=True, max_length=32)
    token_hash: str = Field(unique=True, max_length=64)
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class Dataset(TimestampedBase, table=True):
    __table_args__ = (Index("ix_dataset_owner_created", "owner_id", "created_at"),)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=255)
    file_name: str = Field(max_length=255)
    size_bytes: int = 0
    status: str = Field(default="PENDING", max_length=16)
    error: str | None = None
    row_count: int | None = None
    column_count: int | None = None
    columns: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ingest_info: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    csv_options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    parent_id: str | None = Field(default=None, foreign_key="dataset.id", ondelete="SET NULL")
    recipe: Any | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # A temporary dataset: the MAINTENANCE job deletes it (files and rows) once this moment has passed.
    expires_at: datetime | None = Field(default=None, index=True)


class Job(TimestampedBase, table=True):
    __table_args__ = (Index("ix_job_owner_created", "owner_id", "created_at"),)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    status: str = Field(default="QUEUED", max_length=16, index=True)
    stage: str | None = None
    progress: float = 0.0
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    timeline: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    question: str | None = None
    choices: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = None
    attempt: int = 1
    log_seq: int = 0
    version: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    dataset_id: str | None = Field(default=None, foreign_key="dataset.id", index=True, ondelete="SET NULL")
    priority: str = Field(default="NORMAL", max_length=8, sa_column_kwargs={"server_default": "NORMAL"})
    retries: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # transient-failure re-runs made
    attempts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=True))
    telemetry: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class JobLog(SQLModel, table=True):
    __tablename__ = "job_log"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="job.id", index=True, ondelete="CASCADE")
    seq: int
    time: datetime = Field(default_factory=utcnow)
    level: str = Field(default="INFO", max_length=8)
    stage: str | None = None
    message: str


class Profile(TimestampedBase, table=True):
    """The stored profile of one dataset version; its full JSON lives beside the data (profile.json)."""

    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    dataset_id: str = Field(foreign_key="dataset.id", unique=True, ondelete="CASCADE")
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL")
    duration_ms: float = 0.0
    alert_count: int = 0
    plot_count: int = 0


class Model(TimestampedBase, table=True):
    """A trained pipeline: the exact dataset version it learned from, its signature, scores and artifact."""

    __table_args__ = (Index("ix_model_owner_created", "owner_id", "created_at"),)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    dataset_id: str = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=255)
    version: int = 1
    target: str
    task: str = Field(max_length=16)
    algorithm: str = Field(default="AUTO", max_length=32)
    status: str = Field(default="TRAINING", max_length=16)
    error: str | None = None
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL")
    training_seconds: float | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Pipeline(TimestampedBase, table=True):
    """A saved source -> steps -> sink configuration: `config` is the typed config's JSON dump
    (services.pipelines.config) without header values; those are `secrets`, by source kind and header
    name, kept apart so that masking them is the view's business."""

    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=255)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    secrets: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    schedule_seconds: int | None = None  # run every this many seconds; None: only when asked
    schedule_paused: bool = False
    next_run_at: datetime | None = Field(default=None, index=True)  # the scheduler's claim marker too


class PipelineRun(TimestampedBase, table=True):
    __tablename__ = "pipeline_run"
    pipeline_id: str = Field(foreign_key="pipeline.id", index=True, ondelete="CASCADE")
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    status: str = Field(default="QUEUED", max_length=16)
    # what it ran with: the typed config's dump, header values masked (services.pipelines.config.run_snapshot)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    version: int | None = None
    columns: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    output: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dataset_id: str | None = Field(default=None, foreign_key="dataset.id", ondelete="SET NULL")
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL")
    error: str | None = None
    checks: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    trigger: str = Field(default="MANUAL", max_length=16, sa_column_kwargs={"server_default": "MANUAL"})


class Report(TimestampedBase, table=True):
    """A self-contained HTML report of a dataset (and a model), written by a REPORT or ANALYZE job."""

    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    dataset_id: str = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    model_id: str | None = Field(default=None, foreign_key="model.id", ondelete="SET NULL")
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL")


class RegisteredModel(TimestampedBase, table=True):
    """A name a user serves models under (services.registry); its versions are numbered from `latest_version`,
    a counter bumped in one UPDATE, so concurrent registrations get 1 and 2, never the same number."""

    __tablename__ = "registered_model"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=2000)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    latest_version: int = 0


class ModelVersion(TimestampedBase, table=True):
    """Version n of a registered model: one trained model, its input signature as registered."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("registered_model_id", "version"),)
    registered_model_id: str = Field(foreign_key="registered_model.id", index=True, ondelete="CASCADE")
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    version: int
    model_id: str = Field(foreign_key="model.id", index=True, ondelete="CASCADE")
    signature: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by_id: str | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    allow_signature_change: bool = False
    comment: str | None = Field(default=None, max_length=2000)


class ModelAlias(TimestampedBase, table=True):
    """`alias` of a registered model points at one version; the foreign key (no action) keeps a pointed-at
    version from being deleted even if a delete races the service's own check."""

    __tablename__ = "model_alias"
    __table_args__ = (UniqueConstraint("registered_model_id", "alias"),)
    registered_model_id: str = Field(foreign_key="registered_model.id", index=True, ondelete="CASCADE")
    alias: str = Field(max_length=64)
    model_version_id: str = Field(foreign_key="model_version.id", index=True)
    version: int


class RegistryEvent(TimestampedBase, table=True):
    """One registration or alias move, kept for good: who, when (created_at), from which version to which."""

    __tablename__ = "registry_event"
    __table_args__ = (Index("ix_registry_event_alias_time", "registered_model_id", "alias", "created_at"),)
    registered_model_id: str = Field(foreign_key="registered_model.id", index=True, ondelete="CASCADE")
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    actor_id: str | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    actor_email: str | None = Field(default=None, max_length=320)  # as it was then: an audit line outlives renames
    kind: str = Field(max_length=16)
    alias: str | None = Field(default=None, max_length=64)
    from_version: int | None = None
    to_version: int | None = None
    comment: str | None = Field(default=None, max_length=2000)


class MaintenanceSchedule(SQLModel, table=True):
    """When the cluster's next clean-up is due. Replicas claim a run by moving `next_run_at` with a
    compare-and-set (as pipeline schedules do), so one run starts per period however many tick."""

    __tablename__ = "maintenance_schedule"
    name: str = Field(primary_key=True, max_length=32)
    next_run_at: datetime


class CheckSuite(TimestampedBase, table=True):
    """Saved data checks (services.pipelines.config.checks.PipelineCheck, stored by their Python names), drafted from
    the profile of `dataset_id`: the reference its drift checks compare against (null once deleted)."""

    __tablename__ = "check_suite"
    __table_args__ = (Index("ix_check_suite_owner_created", "owner_id", "created_at"),)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    dataset_id: str | None = Field(default=None, foreign_key="dataset.id", index=True, ondelete="SET NULL")
    name: str = Field(max_length=255)
    checks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Validation(TimestampedBase, table=True):
    """One run of a suite on a dataset (a VALIDATE job): a result per check rule and the verdict. The suite's
    checks are copied in, so a result still reads right after the suite is edited or deleted."""

    __table_args__ = (Index("ix_validation_owner_created", "owner_id", "created_at"),)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    dataset_id: str = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    suite_id: str | None = Field(default=None, foreign_key="check_suite.id", index=True, ondelete="SET NULL")
    job_id: str | None = Field(default=None, foreign_key="job.id", ondelete="SET NULL")
    status: str = Field(default="QUEUED", max_length=16)  # QUEUED, RUNNING, PASSED, FAILED, ERROR
    checks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    results: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    finished_at: datetime | None = None


class Comparison(TimestampedBase, table=True):
    """Two dataset versions compared by a COMPARE job: the verdict in columns, the rest (schema differences, per
    column statistics and drift tests, sampling) as services.comparison.models.ComparisonResult."""

    __table_args__ = (Index("ix_comparison_owner_created", "owner_id", "created_at"),)
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    reference_id: str = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    current_id: str = Field(foreign_key="dataset.id", index=True, ondelete="CASCADE")
    job_id: str | None = Field(default=None, foreign_key="job.id", index=True, ondelete="SET NULL")
    drift_share: float = 0.0
    dataset_drift: bool = False
    drifted_count: int = 0
    tested_count: int = 0
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Webhook(TimestampedBase, table=True):
    """A user's HTTPS endpoint and the events it is told about (services.webhooks). The secret signs every
    delivery, so it is kept as given (it must be read back to sign); the API shows it once, when made."""

    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    url: str = Field(max_length=2048)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # JOB_FINISHED narrowed to these job kinds / final statuses; empty means all
    job_kinds: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    job_statuses: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=128)
    enabled: bool = True
    description: str = Field(default="", max_length=500)


class WebhookDelivery(TimestampedBase, table=True):
    """One event for one webhook: the transactional outbox row, queued in the transaction of its cause.

    `id` is the delivery id a receiver de-duplicates on (the webhook-id header), the same on every attempt.
    Workers claim a due row by a compare-and-set on `lease_until` (a fresh `lease_token` per claim), so one
    worker sends it at a time; a worker that dies mid-send lets the lease expire and another sends it again."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_webhook_created", "webhook_id", "created_at"),
    )
    webhook_id: str = Field(foreign_key="webhook.id", ondelete="CASCADE")
    owner_id: str = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    event: str = Field(max_length=32)
    body: str  # the exact JSON sent, so every attempt signs and sends the same bytes
    status: str = Field(default="PENDING", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    lease_token: str | None = Field(default=None, max_length=32)
    leased_by: str | None = Field(default=None, max_length=128)  # the worker that sent (or is sending) it last
    response_code: int | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: datetime | None = None
