"""One Settings object, read once from ASSAY_* environment variables.

The settings come in groups, one class each (mail, storage, jobs, ...; server/setting_groups/), so a reader finds
what belongs together and docs/configuration.md has one section per group. `Settings` inherits every group, so
each variable keeps its flat name (`ASSAY_SMTP_HOST`, `settings.smtp_host`): deployments and call sites stay as
they were, and a group can still be read alone (`MailSettings()`). Secrets are `SecretStr`: they print as
`**********` in logs, reprs and errors, and code asks for them with `.get_secret_value()`."""

from __future__ import annotations

import os
import re
import secrets
from functools import cached_property
from typing import Any, ClassVar

from server.setting_groups import SettingsGroup
from server.setting_groups.domains import (
    AnalysisSettings,
    MonitoringSettings,
    PipelineSettings,
    QuerySettings,
    ReportSettings,
    WebhookSettings,
)
from server.setting_groups.platform import (
    AuthSettings,
    DatabaseSettings,
    JobSettings,
    MailSettings,
    ObservabilitySettings,
    RequestSettings,
    ServerSettings,
    StorageSettings,
)


class ConfigurationError(ValueError):
    """Settings that cannot work together; the entry points print it and exit."""


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
