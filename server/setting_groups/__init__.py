"""Setting groups besides the platform's (those are in server/settings.py, with `Settings`, which inherits them
all): `service` holds how the service meets people and operators, `domains` each data domain's own knobs. Here
too is their common base: the ASSAY_ prefix, the `.env` file, and docstrings as descriptions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsGroup(BaseSettings):
    # A `.env` in the working directory is read too (the seed's `cp .env.example .env`); the environment wins.
    model_config = SettingsConfigDict(
        env_prefix="ASSAY_", extra="ignore", env_file=".env", env_file_encoding="utf-8", use_attribute_docstrings=True
    )  # docstrings -> docs/configuration.md
    section: ClassVar[str]
    """The group's heading in docs/configuration.md and .env.example."""

    def prefixed(self, prefix: str, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The settings `<prefix><name>`, by `name` (default: every one with the prefix). A service's own options
        are named like its settings without the group's prefix (ASSAY_MONITOR_WINDOW_MINUTES is MonitorConfig's
        window_minutes), so one loop hands them over and a new setting is not forgotten on the way."""
        if names is None:
            names = [field.removeprefix(prefix) for field in type(self).model_fields if field.startswith(prefix)]
        return {name: getattr(self, prefix + name) for name in names}
