"""Webhook types: a user's endpoints, the events they subscribe to, and each one's delivery log."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from schema.common import Connection, ServiceErrors, listed, payload, to_global_id
from schema.conversion import fields_of, node_fields
from schema.jobs import JobKind, JobStatus
from services.storage.tables import Webhook as WebhookRow
from services.storage.tables import WebhookDelivery as DeliveryRow
from services.webhooks import events, service

# The services' own enum: an event a domain publishes is one the schema declares.
WebhookEvent = events.WebhookEvent  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(
    WebhookEvent,
    name="WebhookEvent",
    description=(
        "What a webhook can be told about: JOB_FINISHED (any job ending; narrow it with jobKinds and jobStatuses), "
        "DRIFT_ALERT, VALIDATION_FAILED, PIPELINE_RUN_FINISHED, MODEL_ALIAS_MOVED. Payloads: docs/webhooks.md"
    ),
)


@strawberry.enum(description="Where a delivery stands")
class WebhookDeliveryStatus(Enum):
    PENDING = service.DeliveryStatus.PENDING
    DELIVERED = service.DeliveryStatus.DELIVERED
    FAILED = service.DeliveryStatus.FAILED


@strawberry.type(description="One event sent (or being sent) to one webhook; its attempts share one delivery id")
class WebhookDelivery:
    id: strawberry.ID
    delivery_id: str = strawberry.field(
        description="The `webhook-id` header: the same on every attempt, so a receiver can drop repeats"
    )
    event: WebhookEvent
    status: WebhookDeliveryStatus
    attempts: int = strawberry.field(description="Attempts started so far")
    response_code: int | None = strawberry.field(description="The HTTP status of the last answer (null: none came)")
    last_error: str | None = strawberry.field(description="Why the last attempt failed")
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next (null once settled)")
    delivered_at: datetime | None
    created_at: datetime = strawberry.field(description="When the event happened")
    body: str = strawberry.field(description="The JSON body every attempt sends")

    @classmethod
    def from_row(cls, row: DeliveryRow) -> WebhookDelivery:
        pending = row.status == service.DeliveryStatus.PENDING
        return cls(
            **fields_of(
                cls,
                row,
                id=to_global_id("WebhookDelivery", row.id),
                delivery_id=row.id,
                next_attempt_at=row.next_attempt_at if pending else None,
            )
        )


WebhookDeliveryConnection = Connection[WebhookDelivery]


@strawberry.type(
    description="An HTTPS endpoint told about the events it subscribes to, with signed JSON "
    "(Standard Webhooks headers; docs/webhooks.md)"
)
class Webhook:
    id: strawberry.ID
    url: str
    events: list[WebhookEvent]
    job_kinds: list[JobKind] = strawberry.field(description="JOB_FINISHED only for these kinds (empty: all)")
    job_statuses: list[JobStatus] = strawberry.field(description="JOB_FINISHED only for these endings (empty: all)")
    enabled: bool = strawberry.field(description="A disabled webhook queues nothing")
    description: str
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[WebhookRow]

    @classmethod
    def from_row(cls, row: WebhookRow) -> Webhook:
        return cls(**node_fields(cls, row))

    @strawberry.field(
        description="Its delivery log, newest first; `status` and `event` narrow it", extensions=[ServiceErrors()]
    )
    async def deliveries(
        self,
        info: strawberry.Info,
        first: int | None = 20,
        after: str | None = None,
        status: WebhookDeliveryStatus | None = None,
        event: WebhookEvent | None = None,
    ) -> WebhookDeliveryConnection:
        page = await listed(
            info,
            service.list_deliveries,
            first,
            after,
            webhook=self.row,
            status=status.value if status else None,
            event=event.value if event else None,
        )
        return WebhookDeliveryConnection.from_page(page, WebhookDelivery.from_row)


WebhookConnection = Connection[Webhook]


@strawberry.input
class CreateWebhookInput:
    url: str = strawberry.field(description="https:// (public addresses only, unless the operator allows a host)")
    events: list[WebhookEvent]
    secret: str | None = strawberry.field(
        default=None,
        description=(
            "Signs deliveries: 'whsec_' + base64 of 24-64 random bytes. Leave it out to have one made "
            "(shown once, in this payload)"
        ),
    )
    job_kinds: list[JobKind] | None = strawberry.field(default=None, description="Narrow JOB_FINISHED to these kinds")
    job_statuses: list[JobStatus] | None = strawberry.field(
        default=None, description="Narrow JOB_FINISHED to these endings (SUCCEEDED, FAILED, CANCELLED)"
    )
    description: str | None = None


@strawberry.input
class UpdateWebhookInput:
    id: strawberry.ID
    url: str | None = None
    events: list[WebhookEvent] | None = None
    job_kinds: list[JobKind] | None = None
    job_statuses: list[JobStatus] | None = None
    enabled: bool | None = None
    description: str | None = None
    rotate_secret: bool | None = strawberry.field(
        default=False, description="Make a new secret (shown once, in this payload); the old one stops at once"
    )


@strawberry.input
class DeleteWebhookInput:
    id: strawberry.ID


@payload
class WebhookPayload:
    webhook: Webhook | None = None
    secret: str | None = strawberry.field(
        default=None,
        description=(
            "The signing secret, only when just made (createWebhook without a secret, or rotateSecret): keep it now, "
            "it is never shown again"
        ),
    )
