"""One Settings object, read once from ASSAY_* environment variables.

The settings come in groups, one class each (mail, storage, jobs, ...), so a reader finds what belongs
together and docs/configuration.md has one section per group. Here are the groups of what every domain stands
on: the database, accounts, requests, files, jobs, and what job workers fetch and send (pipeline sources,
webhook deliveries); server/setting_groups/ holds the service's own (listening, mail, logs) and each data
domain's. `Settings` inherits every group, so each variable keeps its flat name (`ASSAY_SMTP_HOST`,
`settings.smtp_host`): deployments and call sites stay as they were, and a group can still be read alone
(`MailSettings()`). Secrets are `SecretStr`: they print as `**********` in logs, reprs and errors, and code asks
for them with `.get_secret_value()`."""

from __future__ import annotations

import os
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr

from server.setting_groups import SettingsGroup
from server.setting_groups.domains import AnalysisSettings, MonitoringSettings, QuerySettings, ReportSettings
from server.setting_groups.service import MailSettings, ObservabilitySettings, ServerSettings

if TYPE_CHECKING:
    from services.storage.objects import StorageConfig


class ConfigurationError(ValueError):
    """Settings that cannot work together; the entry points print it and exit."""


_INGEST_TIMEOUT: dict[str, float] = {"INGEST": 1800}


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


class PipelineSettings(SettingsGroup):
    """What pipeline sources may reach and read, and how schedules run."""

    section: ClassVar[str] = "Pipelines"

    allowed_source_hosts: str = ""
    """Comma-separated hosts or CIDRs pipelines may reach besides public addresses."""
    import_dirs: str = ""
    """Comma-separated server directories whose CSV files administrators may use as pipeline sources
    (docs/pipeline-files.md)."""
    max_source_mb: float = 100
    """Largest HTTP response a pipeline source may read."""
    max_source_records: int = 1_000_000
    """Most records a pipeline source may return."""
    min_schedule_seconds: int = 60
    """The shortest interval a pipeline schedule may have."""
    scheduler_tick_seconds: float = 15
    """How often due scheduled pipelines are looked for."""


class WebhookSettings(SettingsGroup):
    """Deliveries (docs/webhooks.md), sent by the job workers; URLs follow ASSAY_ALLOWED_SOURCE_HOSTS like pipelines."""

    section: ClassVar[str] = "Webhooks"

    webhook_retry_seconds: float = 86400
    """A delivery not accepted within this long after its event is given up."""
    webhook_backoff_seconds: float = 5
    """The first retry's delay; each next one doubles (with jitter), up to an hour."""
    webhook_timeout_seconds: float = 10
    """One attempt's limit; a hanging endpoint holds one sending slot this long."""
    webhook_concurrency: int = 16
    """Deliveries one worker sends at once."""
    webhook_poll_seconds: float = 1
    """How often a worker looks for due deliveries."""
    webhook_allow_http: bool = False
    """Plain http:// endpoints (https only unless this is true)."""
    webhook_ca_file: str = ""
    """Extra CA certificates webhook deliveries trust (a private CA; tests' own)."""
    webhook_max_per_user: int = 25
    """The most webhooks one user may register."""


# user:password@ in a database or Redis URL
_URL_PASSWORD = re.compile(r"(://[^/:@]*:)[^/@]*@")


class Settings(
    ServerSettings,
    DatabaseSettings,
    AuthSettings,
    MailSettings,
    RequestSettings,
    StorageSettings,
    JobSettings,
    QuerySettings,
    PipelineSettings,
    AnalysisSettings,
    ReportSettings,
    WebhookSettings,
    MonitoringSettings,
    ObservabilitySettings,
):
    """Every group; what the server, the workers and the CLI entry points read."""

    section: ClassVar[str] = "All settings"

    def __repr_args__(self) -> Any:
        # SecretStr already hides itself; a password inside a database or Redis URL is hidden here.
        for name, value in super().__repr_args__():
            hidden = isinstance(value, str) and name is not None and name.endswith("_url")
            yield name, _URL_PASSWORD.sub(r"\1***@", value) if hidden else value

    def check_deployment(self) -> None:
        """Refuse at start-up what cannot work, with a message that says what to set."""
        from server.cors import invalid_origin, parse_origins

        for origin in parse_origins(self.cors_origins):
            if (problem := invalid_origin(origin)) is not None:
                raise ConfigurationError(problem)
        if self.storage_url:
            from services.storage.objects import parse_url

            try:
                parse_url(self.storage_url)
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from exc
        if self.executor == "celery" and not self.redis_url:
            raise ConfigurationError(
                "ASSAY_EXECUTOR=celery needs ASSAY_REDIS_URL (the Celery broker and event bus), "
                "e.g. ASSAY_REDIS_URL=redis://127.0.0.1:6379/0"
            )
        from services.reports.theme import check_theme_settings

        try:  # a bad default colour would otherwise fail every report job, long after start-up
            check_theme_settings(self.report_theme)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        from services.analysis.options import check_option_settings

        try:  # a bad knob would otherwise fail every analyzeDataset call
            check_option_settings(self.analysis_defaults, self.analysis_stage_limits)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.resolved_data_dir / 'assay.db'}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """Use the configured key, else one generated once and kept in the data dir."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        key_file = self.resolved_data_dir / "secret.key"
        if not key_file.exists():
            # Replicas and workers starting together on one data dir must agree on one key: each writes a
            # whole candidate and links it into place; os.link fails for all but the first, who all read that one.
            candidate = key_file.with_name(f".secret.key.{os.getpid()}.{secrets.token_hex(4)}")
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            try:
                os.link(candidate, key_file)
            except FileExistsError:
                pass
            finally:
                candidate.unlink()
        return key_file.read_text().strip()


GROUPS: tuple[type[SettingsGroup], ...] = tuple(base for base in Settings.__bases__ if issubclass(base, SettingsGroup))
"""Settings' groups, in the order it lists them: the order of docs/configuration.md."""
