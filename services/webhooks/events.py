"""The events a webhook can subscribe to, and the one call every domain makes to announce one.

Domains call `publish` inside the transaction that stores what happened (a drift alert, a failed
validation, a moved alias), so an event is queued exactly when its cause is committed: the
transactional-outbox pattern. Delivery happens later, from workers, never on the request path
(services/webhooks/delivery.py).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.storage.tables import Webhook, WebhookDelivery, new_id


class WebhookEvent(StrEnum):
    JOB_FINISHED = "JOB_FINISHED"
    DRIFT_ALERT = "DRIFT_ALERT"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    PIPELINE_RUN_FINISHED = "PIPELINE_RUN_FINISHED"
    MODEL_ALIAS_MOVED = "MODEL_ALIAS_MOVED"


def api_id(type_name: str, raw_id: str) -> str:
    """The id the API shows for a row (schema.common.to_global_id's encoding; a test pins the two equal), so a
    receiver can look up what an event names."""
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")


def delivery_id() -> str:
    """A Standard Webhooks message id (32 characters, the table's key size): the receiver de-duplicates on it."""
    return f"msg_{new_id()[:28]}"


def _json_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def wants(webhook: Webhook, event: WebhookEvent, data: dict[str, Any]) -> bool:
    """Is `webhook` subscribed to this event (JOB_FINISHED narrowed by its job kinds and statuses)?"""
    if not webhook.enabled or event not in webhook.events:
        return False
    if event == WebhookEvent.JOB_FINISHED:
        if webhook.job_kinds and data.get("kind") not in webhook.job_kinds:
            return False
        if webhook.job_statuses and data.get("status") not in webhook.job_statuses:
            return False
    return True


async def publish(session: AsyncSession, *, user_id: str, event: WebhookEvent, data: dict[str, Any]) -> None:
    """Queue `event` (with its JSON-able `data`) for each of `user_id`'s webhooks subscribed to it, in
    `session`'s transaction: the caller commits (a rollback drops the deliveries with the cause)."""
    webhooks = (await session.exec(select(Webhook).where(Webhook.owner_id == user_id))).all()
    now = datetime.now(UTC)
    for webhook in webhooks:
        if not wants(webhook, event, data):
            continue
        ident = delivery_id()
        body = json.dumps(
            {"id": ident, "type": str(event), "timestamp": now.isoformat(), "data": data},
            default=_json_value,
            separators=(",", ":"),
        )
        session.add(
            WebhookDelivery(
                id=ident, webhook_id=webhook.id, owner_id=user_id, event=str(event), body=body, next_attempt_at=now
            )
        )
