"""The events a webhook can subscribe to, and the one call every domain makes to announce one.

Domains call `publish` inside the transaction that stores what happened (a drift alert, a failed
validation, a moved alias), so an event is queued exactly when its cause is committed: the
transactional-outbox pattern. Delivery happens later, from workers, never on the request path.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession


class WebhookEvent(StrEnum):
    JOB_FINISHED = "JOB_FINISHED"
    DRIFT_ALERT = "DRIFT_ALERT"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    PIPELINE_RUN_FINISHED = "PIPELINE_RUN_FINISHED"
    MODEL_ALIAS_MOVED = "MODEL_ALIAS_MOVED"


async def publish(session: AsyncSession, *, user_id: str, event: WebhookEvent, data: dict[str, Any]) -> None:
    """Queue `event` (with its JSON-able `data`) for each of `user_id`'s webhooks subscribed to it, in
    `session`'s transaction: the caller commits. Does nothing until the webhooks branch lands."""
    return None
