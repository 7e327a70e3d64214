"""How the service meets people and operators: where it listens, the mail it sends, its logs and metrics."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import SecretStr

from server.setting_groups import SettingsGroup


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
