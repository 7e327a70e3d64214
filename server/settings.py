"""One Settings object, read once from ASSAY_* environment variables."""
from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(ValueError):
    """Settings that cannot work together; the entry points print it and exit."""


class Settings(BaseSettings):
    # A `.env` in the working directory is read too (the seed's `cp .env.example .env`); the environment wins.
    model_config = SettingsConfigDict(env_prefix="ASSAY_", extra="ignore", env_file=".env", env_file_encoding="utf-8")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./data")
    database_url: str | None = None
    # Pool of a server (client) database such as PostgreSQL; SQLite keeps SQLAlchemy's file-database defaults.
    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_pool_recycle_seconds: float = 3600
    allow_database_reset: bool = False  # resetDatabase deletes everything: refused unless this is true
    secret_key: str | None = None
    admin_email: str | None = None
    admin_password: str | None = None
    open_registration: bool = True
    # Unverified accounts may sign in and manage their account, but nothing else, when this is true.
    require_verified_email: bool = False
    # Mail (verification links). Without a host, `make run` logs the mail instead of sending it.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "assay@localhost"
    smtp_starttls: bool = True
    public_url: str = ""  # how users reach this server, for links in mail; default http://ASSAY_HOST:ASSAY_PORT
    max_upload_mb: float = 51200   # 50 GB: ingest streams any size; a file the free disk cannot hold is refused
    max_concurrent_jobs: int = 2
    # The memory one job process may use: bodies stream batches, spill to scratch_dir, or sample (saying so).
    job_memory_mb: int = 2048
    redis_url: str | None = None   # event bus, Celery broker, shared limits and cancel requests (scaled out)
    executor: Literal["local", "celery"] = "local"
    worker_queues: str = ""        # `python -m server.worker`: comma-separated queues; empty = all
    worker_concurrency: int = 2    # jobs one worker runs at once, each in its own process
    worker_name: str = ""          # defaults to assay@<host>:<pid>

    access_token_minutes: float = 15
    refresh_token_days: float = 30
    download_url_minutes: float = 15
    max_query_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    # What one request may carry, checked on the raw bytes before parsing (server/request_limits.py)
    max_request_mb: float = 8            # JSON bodies and WebSocket messages; uploads have max_upload_mb
    max_json_depth: int = 64
    max_number_length: int = 50          # characters of one JSON number
    max_string_length: int = 100_000     # characters of one string in variables or the document
    max_page_size: int = 100
    max_preview_rows: int = 1000
    sql_max_rows: int = 10_000          # rows one `query(sql)` may return
    sql_timeout_seconds: float = 10     # a `query(sql)` running longer is interrupted
    sql_memory_mb: int = 512            # DuckDB's budget for one `query(sql)` (it spills beyond)
    max_decompressed_mb: float = 204800  # what a gzip or Parquet upload may inflate to (a zip-bomb guard; 4x the upload cap)
    max_sheet_rows: int = 1_048_576  # a workbook sheet with more rows is refused (Excel's limit); Parquet has none
    upload_stall_seconds: float = 60  # an upload ingested while arriving that stops growing this long fails its job
    import_ca_file: str = ""  # extra CA certificates importDataset trusts (a private CA; tests' own)
    login_failures_per_account: int = 5
    login_failures_per_address: int = 20
    login_failure_window_seconds: float = 900
    requests_per_minute: int = 600
    job_heartbeat_seconds: float = 2
    job_max_attempts: int = 2
    job_cancel_grace_seconds: float = 2
    job_resend_queued_seconds: float = 600  # Celery: a job QUEUED this long is sent again (a lost message); 0: never
    max_job_result_mb: float = 64   # a job result larger than this is refused with the limit named
    max_log_line_chars: int = 16384  # longer log lines are cut, saying so
    job_timeout_seconds: dict[str, float] = Field(default_factory=lambda: {"INGEST": 1800})
    job_default_timeout_seconds: float = 3600
    needs_input_timeout_seconds: float = 86400  # a job waiting for an answer longer than this is cancelled
    analysis_stage_timeout_seconds: float = 600
    analysis_model_budget_seconds: float = 30
    report_primary: str = "#1f4e79"
    report_accent: str = "#e07b39"
    report_background: str = "#ffffff"
    report_text: str = "#1a1a1a"
    report_font_family: str = "Helvetica, Arial, sans-serif"
    allowed_source_hosts: str = ""  # comma-separated hosts or CIDRs pipelines may reach besides public addresses
    import_dirs: str = ""  # comma-separated server directories whose CSV files administrators may use as pipeline sources
    max_source_mb: float = 100      # largest HTTP response a pipeline source may read
    max_source_records: int = 1_000_000
    min_schedule_seconds: int = 60       # the shortest interval a pipeline schedule may have
    scheduler_tick_seconds: float = 15   # how often due scheduled pipelines are looked for
    # Clean-up of expired tokens, orphan files and old job logs: once per cluster per interval (0: never).
    maintenance_interval_seconds: float = 3600
    log_retention_days: int = 30         # logs of jobs that finished longer ago are deleted by the clean-up
    # permessage-deflate costs CPU per socket per frame and cannot be shared between subscribers;
    # off by default so one job's log reaches hundreds of watchers quickly. Turn on for slow links.
    ws_compression: bool = False
    # Origins (scheme://host[:port], comma-separated) whose pages may call the API from a browser; exact, no '*'.
    cors_origins: str = ""
    # Observability (docs/observability.md): who may read /metrics, the worker's metrics listener, log lines
    metrics_allow: str = "127.0.0.1/32,::1/128"  # comma-separated networks that may read /metrics without a token
    metrics_token: str | None = None  # `Authorization: Bearer <token>` reads /metrics from anywhere
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9108  # `python -m server.worker` serves /metrics here; 0 turns it off
    log_format: Literal["text", "json"] = "text"
    # compareDatasets: the most rows per side a drift test reads (a seeded sample beyond; statistics stay exact)
    comparison_sample_rows: int = Field(default=100_000, ge=1000)
    # Webhooks (docs/webhooks.md): delivered by the job workers; URLs follow ASSAY_ALLOWED_SOURCE_HOSTS like pipelines
    webhook_retry_seconds: float = 86400  # a delivery not accepted within this long after its event is given up
    webhook_backoff_seconds: float = 5    # the first retry's delay; each next one doubles (with jitter), up to an hour
    webhook_timeout_seconds: float = 10   # one attempt's limit; a hanging endpoint holds one sending slot this long
    webhook_concurrency: int = 16         # deliveries one worker sends at once
    webhook_poll_seconds: float = 1       # how often a worker looks for due deliveries
    webhook_allow_http: bool = False      # plain http:// endpoints (https only unless this is true)
    webhook_ca_file: str = ""             # extra CA certificates webhook deliveries trust (a private CA; tests' own)
    webhook_max_per_user: int = 25
    # Job retries (docs/jobs.md): the wait before the first re-run of a transiently failed job, doubling up to the max
    job_retry_backoff_seconds: float = 2
    job_retry_backoff_max_seconds: float = 60
    # Level of the server's, local job workers' and Celery workers' logs (DEBUG, INFO, WARNING, ERROR)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Chart, rows and profile answers cached per dataset version (docs/cache.md): Redis when configured, else in-process
    cache_ttl_seconds: float = 3600      # 0 turns the cache off
    cache_max_entries: int = 512         # in-process cache only: the least recently used answer goes first
    temporary_dataset_hours: float = 24  # a dataset uploaded or imported with `temporary: true` expires this long after
    # Analyses (docs/analysis.md): each stage group's time limit, enforced while it runs (unset: the
    # ASSAY_ANALYSIS_STAGE_TIMEOUT_SECONDS above), and the seed's knobs, which analyzeDataset's `options` override.
    analysis_eda_timeout_seconds: float | None = None
    analysis_model_timeout_seconds: float | None = None
    analysis_report_timeout_seconds: float | None = None
    analysis_cv_folds: int = 5
    analysis_early_stop_sample: int = 20_000   # candidates are compared on at most this many rows, then the winner fitted
    analysis_hgb_min_rows: int = 0             # gradient boosting is a candidate only from this many training rows
    analysis_allowed_exts: str = ""            # comma-separated extensions an analysis accepts (csv,parquet); empty: all
    analysis_large_file_mb: float = 1024       # above this stored size the analysis fits its model on a sample
    analysis_safe_auto_actions: bool = False   # the default of analyzeDataset's safeAutoActions
    # The report theme's other tokens (ASSAY_REPORT_PRIMARY... above) and a default logo (http(s); empty: none)
    report_surface: str = "#f6f8fa"
    report_muted: str = "#6a737d"
    report_ok: str = "#2e7d32"
    report_warn: str = "#b26a00"
    report_error: str = "#c62828"
    report_logo_url: str = ""
    # Object storage (docs/object-storage.md): s3://bucket/prefix with the standard AWS_* variables; unset keeps
    # every file in the data dir. With it, the data dir of each replica and worker is a scratch cache only.
    storage_url: str | None = None
    storage_downloads: Literal["presigned", "proxy"] = "presigned"  # redirect to the store, or stream through
    storage_abandoned_upload_hours: float = 24  # the maintenance sweep aborts older incomplete multipart uploads
    storage_part_mb: int = 16  # files above it are uploaded in parts of this size (S3's least: 5)
    import_s3_buckets: str = ""  # importDataset's s3:// sources: these buckets only (comma-separated); empty = any
    # Monitoring of served models (docs/monitoring.md): what predict and predictDataset record, per model and window.
    monitoring: Literal["on", "off"] = "on"
    monitor_window_minutes: float = 60      # length of one window; windows start on multiples of it (UTC epoch)
    monitor_reservoir_rows: int = 500       # rows sampled per window and writer (a uniform bottom-k sample)
    monitor_retention_days: float = 30      # older windows and their alerts are deleted
    monitor_flush_seconds: float = 2        # how often a replica writes its recorded windows and judges closed ones
    monitor_reference_rows: int = 5000      # training rows sampled as the drift reference

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
            raise ConfigurationError("ASSAY_EXECUTOR=celery needs ASSAY_REDIS_URL (the Celery broker and event bus), "
                                     "e.g. ASSAY_REDIS_URL=redis://127.0.0.1:6379/0")
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

    @property
    def report_theme(self) -> dict[str, str]:
        """The ASSAY_REPORT_* defaults, by theme field."""
        return {"primary": self.report_primary, "accent": self.report_accent, "background": self.report_background,
                "text": self.report_text, "font_family": self.report_font_family, "surface": self.report_surface,
                "muted": self.report_muted, "ok": self.report_ok, "warn": self.report_warn, "error": self.report_error,
                **({"logo_url": self.report_logo_url} if self.report_logo_url else {})}

    @property
    def analysis_defaults(self) -> dict:
        """The ASSAY_ANALYSIS_* knobs, by analysis option (services/analysis/options.py)."""
        return {"cv_folds": self.analysis_cv_folds, "early_stop_sample": self.analysis_early_stop_sample,
                "hgb_min_rows": self.analysis_hgb_min_rows, "allowed_exts": self.analysis_allowed_exts,
                "large_file_mb": self.analysis_large_file_mb, "safe_auto_actions": self.analysis_safe_auto_actions}

    @property
    def analysis_stage_limits(self) -> dict[str, float]:
        """Seconds per stage group; each unset one is ASSAY_ANALYSIS_STAGE_TIMEOUT_SECONDS."""
        default = self.analysis_stage_timeout_seconds
        given = {"eda": self.analysis_eda_timeout_seconds, "model": self.analysis_model_timeout_seconds,
                 "report": self.analysis_report_timeout_seconds}
        return {group: default if seconds is None else seconds for group, seconds in given.items()}

    @cached_property
    def resolved_data_dir(self) -> Path:
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.resolved_data_dir / 'assay.db'}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """Use the configured key, else one generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
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

    @cached_property
    def scratch_dir(self) -> Path:
        """Per-job spill space lives inside the data dir, so it shares its disk and its clean-up."""
        return self.resolved_data_dir / "scratch"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def storage(self):
        """How job processes reach the object store (services.storage.objects.StorageConfig), or None."""
        from services.storage.objects import StorageConfig, aws_environment
        return StorageConfig(self.storage_url, str(self.resolved_data_dir), aws_environment(), self.storage_part_mb,
                             self.storage_abandoned_upload_hours) if self.storage_url else None

    def timeout_for(self, kind: str) -> float:
        return self.job_timeout_seconds.get(kind, self.job_default_timeout_seconds)
