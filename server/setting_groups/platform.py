"""What every domain stands on: where the server listens, the database, accounts and mail, what a request may
carry, files and storage, jobs and workers, logs and metrics."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, SecretStr

from server.setting_groups import SettingsGroup

if TYPE_CHECKING:
    from services.storage.objects import StorageConfig

_INGEST_TIMEOUT: dict[str, float] = {"INGEST": 1800}


class ServerSettings(SettingsGroup):
    """Where the server listens, how users and browsers reach it."""

    section: ClassVar[str] = "Server"

    host: str = "127.0.0.1"
    """Where the server listens (`make run`, `python -m server`)."""
    port: int = 8000
    """The port the server listens on."""
    public_url: str = ""
    """How users reach this server, for links in mail; default `http://ASSAY_HOST:ASSAY_PORT`."""
    cors_origins: str = ""
    """Origins (`scheme://host[:port]`, comma-separated) whose pages may call the API from a browser; exact,
    no `*`."""
    # permessage-deflate costs CPU per socket per frame and cannot be shared between subscribers;
    # off by default so one job's log reaches hundreds of watchers quickly. Turn on for slow links.
    ws_compression: bool = False
    """Offer permessage-deflate on WebSockets: CPU per socket per frame, worth it only on slow links."""


class DatabaseSettings(SettingsGroup):
    """The metadata database and its connection pool."""

    section: ClassVar[str] = "Database"

    database_url: str | None = None
    """The metadata database; default SQLite in the data dir (`sqlite+aiosqlite:///$ASSAY_DATA_DIR/assay.db`, WAL
    mode, migrated at start-up). PostgreSQL: `postgresql+asyncpg://...`."""
    db_pool_size: int = 10
    """Connections per process kept open to a server database such as PostgreSQL (SQLite keeps SQLAlchemy's
    defaults)."""
    db_max_overflow: int = 20
    """Connections per process beyond the pool when busy."""
    db_pool_recycle_seconds: float = 3600
    """Pooled connections older than this are replaced."""
    allow_database_reset: bool = False
    """Whether the admin's `resetDatabase` may run (it deletes everything)."""


class AuthSettings(SettingsGroup):
    """Tokens, the configured admin, registration and failed-login limits."""

    section: ClassVar[str] = "Accounts and sign-in"

    secret_key: SecretStr | None = None
    """Signs tokens and download links; default: generated once and kept in the data dir (replicas must share it)."""
    admin_email: str | None = None
    """Create this admin at start-up if absent (with `ASSAY_ADMIN_PASSWORD`)."""
    admin_password: SecretStr | None = None
    """The admin's password, used only when the admin is created."""
    open_registration: bool = True
    """Whether `register` is open to anyone."""
    require_verified_email: bool = False
    """Unverified accounts may sign in and manage their account, but nothing else."""
    access_token_minutes: float = 15
    """Lifetime of access tokens."""
    refresh_token_days: float = 30
    """Lifetime of refresh tokens."""
    download_url_minutes: float = 15
    """Lifetime of signed download links."""
    login_failures_per_account: int = 5
    """Failed logins allowed per account in the window."""
    login_failures_per_address: int = 20
    """Failed logins allowed per client address in the window."""
    login_failure_window_seconds: float = 900
    """The window failed logins are counted in."""
    password_hash_time_cost: int = Field(default=3, ge=1)
    """Argon2id passes per password hash; every sign-in pays it. Stored hashes keep their own cost."""
    password_hash_memory_kib: int = Field(default=65536, ge=32)
    """Argon2id memory per password hash, in KiB (64 MiB, the library's recommendation; at least 32)."""


class MailSettings(SettingsGroup):
    """Verification links. Without a host, `make run` logs the mail instead of sending it."""

    section: ClassVar[str] = "Mail"

    smtp_host: str | None = None
    """Mail server for verification links; without one the mail is logged instead of sent."""
    smtp_port: int = 587
    """The mail server's port."""
    smtp_username: str | None = None
    """Mail server login, if it needs one."""
    smtp_password: SecretStr | None = None
    """Mail server password, if it needs one."""
    smtp_from: str = "assay@localhost"
    """The sender of Assay's mail."""
    smtp_starttls: bool = True
    """Upgrade the mail connection with STARTTLS."""


class RequestSettings(SettingsGroup):
    """What one request may carry and ask for, and how many a user may send."""

    section: ClassVar[str] = "Requests"

    max_query_depth: int = 10
    """Deepest GraphQL selection a document may have."""
    max_aliases: int = 15
    """Most aliases in one document."""
    max_tokens: int = 2000
    """Most tokens in one document."""
    max_request_mb: float = 8
    """Largest JSON body or WebSocket message, checked on the raw bytes before parsing (uploads have
    `ASSAY_MAX_UPLOAD_MB`)."""
    max_json_depth: int = 64
    """Deepest JSON nesting of a request."""
    max_number_length: int = 50
    """Longest JSON number, in characters."""
    max_string_length: int = 100_000
    """Longest string per variable value or string literal, in characters."""
    max_page_size: int = 100
    """Largest `first` of a paginated list."""
    max_preview_rows: int = 1000
    """Largest `rows(limit:)` of a dataset."""
    requests_per_minute: int = 600
    """Requests per user per minute (`RATE_LIMITED`, HTTP 429 beyond)."""


class StorageSettings(SettingsGroup):
    """The data dir, object storage (docs/object-storage.md), and what an upload or import may be."""

    section: ClassVar[str] = "Files and storage"

    data_dir: Path = Path("./data")
    """Uploaded files, Parquet copies, profiles and plots, models, reports, telemetry; shared by every replica and
    worker."""
    storage_url: str | None = None
    """s3://bucket/prefix with the standard AWS_* variables (docs/object-storage.md); unset keeps every file in
    the data dir. With it, each replica's and worker's data dir is a scratch cache only."""
    storage_downloads: Literal["presigned", "proxy"] = "presigned"
    """Redirect to the store, or stream through."""
    storage_abandoned_upload_hours: float = 24
    """The maintenance sweep aborts older incomplete multipart uploads."""
    storage_part_mb: int = 16
    """Files above it are uploaded in parts of this size (S3's least: 5)."""
    max_upload_mb: float = 51200
    """Larger uploads (and URL imports) are refused before they are stored; never more than the free disk holds
    either."""
    max_decompressed_mb: float = 204800
    """What a gzip or Parquet upload may inflate to (a zip-bomb guard)."""
    max_sheet_rows: int = 1_048_576
    """A workbook sheet with more rows is refused (Excel's own limit)."""
    upload_stall_seconds: float = 60
    """An upload ingested while arriving (or a URL import) that stops growing this long fails its job."""
    import_ca_file: str = ""
    """Extra CA certificates `importDataset` trusts (a private CA)."""
    import_s3_buckets: str = ""
    """importDataset's s3:// sources: these buckets only (comma-separated); empty = any."""
    temporary_dataset_hours: float = 24
    """A dataset uploaded or imported with `temporary: true` expires this long after."""

    @cached_property
    def resolved_data_dir(self) -> Path:
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def scratch_dir(self) -> Path:
        """Per-job spill space lives inside the data dir, so it shares its disk and its clean-up."""
        return self.resolved_data_dir / "scratch"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def storage(self) -> StorageConfig | None:
        """How job processes reach the object store (services.storage.objects.StorageConfig), or None."""
        from services.storage.objects import StorageConfig, aws_environment

        return (
            StorageConfig(
                self.storage_url,
                str(self.resolved_data_dir),
                aws_environment(),
                self.storage_part_mb,
                self.storage_abandoned_upload_hours,
            )
            if self.storage_url
            else None
        )


class JobSettings(SettingsGroup):
    """Where jobs run, what one may use, and how failures, retries and clean-up are handled (docs/jobs.md)."""

    section: ClassVar[str] = "Jobs and workers"

    redis_url: str | None = None
    """Redis of a scaled-out deployment: event bus, Celery broker, shared limits and cancel requests (`health` pings
    it)."""
    executor: Literal["local", "celery"] = "local"
    """`local` runs jobs in this machine's worker processes; `celery` sends them to workers (needs
    `ASSAY_REDIS_URL`)."""
    max_concurrent_jobs: int = 2
    """Job worker processes on this machine (local executor); the rest wait in order."""
    job_memory_mb: int = 2048
    """The memory one job process may use: bodies stream batches, spill to the scratch dir, or sample, saying so."""
    worker_queues: str = ""
    """`python -m server.worker`: comma-separated queues to take jobs from; empty: all."""
    worker_concurrency: int = 2
    """Jobs one Celery worker runs at once, each in its own process."""
    worker_name: str = ""
    """The worker's name; default `assay@<host>:<pid>`."""
    job_heartbeat_seconds: float = 2
    """How often a running job proves it is alive; a job silent for several beats is recovered."""
    job_max_attempts: int = 2
    """Runs of a job whose worker died before it is marked FAILED."""
    job_cancel_grace_seconds: float = 2
    """How long a cancelled job has to reach a checkpoint before its process is terminated."""
    job_resend_queued_seconds: float = 600
    """With Celery, a job QUEUED this long is sent to its queue again (a lost message); 0: never."""
    max_job_result_mb: float = 64
    """A job result larger than this is refused, with the limit named."""
    max_log_line_chars: int = 16384
    """Longer job log lines are cut, saying so."""
    job_timeout_seconds: dict[str, float] = Field(default_factory=lambda: _INGEST_TIMEOUT.copy())
    """Time limits per job kind, as JSON (`{"INGEST": 600}`); other kinds use `ASSAY_JOB_DEFAULT_TIMEOUT_SECONDS`."""
    job_default_timeout_seconds: float = 3600
    """Time limit of job kinds not in `ASSAY_JOB_TIMEOUT_SECONDS`."""
    needs_input_timeout_seconds: float = 86400
    """A job waiting for an answer longer than this ends CANCELLED."""
    job_retry_backoff_seconds: float = 2
    """The wait before the first re-run of a transiently failed job (docs/jobs.md); each next one doubles."""
    job_retry_backoff_max_seconds: float = 60
    """The longest wait between re-runs of a transiently failed job."""
    maintenance_interval_seconds: float = 3600
    """How often the cluster cleans up expired tokens, orphan files and old job logs (once per cluster); 0: never."""
    log_retention_days: int = 30
    """Logs of jobs that finished longer ago are deleted by the clean-up."""

    def timeout_for(self, kind: str) -> float:
        return self.job_timeout_seconds.get(kind, self.job_default_timeout_seconds)


class ObservabilitySettings(SettingsGroup):
    """Logs, and who may read `/metrics` (docs/observability.md)."""

    section: ClassVar[str] = "Observability"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """Level of the server's, local job workers' and Celery workers' logs (DEBUG, INFO, WARNING, ERROR)."""
    log_format: Literal["text", "json"] = "text"
    """`text` for people, `json` (one object per line) for log collectors."""
    metrics_allow: str = "127.0.0.1/32,::1/128"
    """Comma-separated networks that may read `/metrics` without a token."""
    metrics_token: SecretStr | None = None
    """`Authorization: Bearer <token>` reads `/metrics` from anywhere."""
    worker_metrics_host: str = "127.0.0.1"
    """Where `python -m server.worker` serves its `/metrics`."""
    worker_metrics_port: int = 9108
    """The worker's metrics port; 0 turns it off."""
