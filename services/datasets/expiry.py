"""Temporary datasets: when one a user marked temporary expires. The MAINTENANCE job deletes it past that moment."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.errors import invalid
from services.storage.tables import utcnow

MAX_DAYS = 3650


def expiry(
    *, temporary: bool, expires_at: datetime | None, default_hours: float, now: datetime | None = None
) -> datetime | None:
    """`expires_at` when given (it must be in the future), else now + `default_hours` when `temporary`, else never."""
    now = now or utcnow()
    if expires_at is None:
        return now + timedelta(hours=default_hours) if temporary else None
    if expires_at.tzinfo is None:
        raise invalid("`expiresAt` needs a time zone (e.g. 2030-01-01T00:00:00Z)", ["expiresAt"])
    if expires_at <= now:
        raise invalid("`expiresAt` must be in the future", ["expiresAt"])
    if expires_at > now + timedelta(days=MAX_DAYS):
        raise invalid(f"`expiresAt` may be at most {MAX_DAYS} days ahead", ["expiresAt"])
    return expires_at
