"""A user's webhooks: register, change, remove, list, and read each one's delivery log.

A URL is checked as pipeline sources are (services/pipelines/ssrf.py): https (plain http only where the
operator allows it), a host that resolves, and only to public addresses or ASSAY_ALLOWED_SOURCE_HOSTS.
It is checked again at every delivery, on the connection itself (services/webhooks/delivery.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import ServiceError, invalid
from services.jobs.status import TERMINAL
from services.pagination import Listing, Page, paginate
from services.pipelines.ssrf import check_scheme, parse_allow_list, vetted_addresses
from services.storage.lookup import owned, require_owned
from services.storage.tables import Webhook, WebhookDelivery, utcnow
from services.webhooks.events import WebhookEvent
from services.webhooks.signing import check_secret, new_secret

MAX_DESCRIPTION = 500


class DeliveryStatus:
    PENDING = "PENDING"  # waiting for its (next) attempt
    DELIVERED = "DELIVERED"  # the endpoint answered 2xx
    FAILED = "FAILED"  # given up: not accepted within ASSAY_WEBHOOK_RETRY_SECONDS


@dataclass(frozen=True)
class UrlRules:
    """What a webhook URL may be: the operator's allow list, and whether plain http is allowed."""

    allowed_hosts: str = ""
    allow_http: bool = False


@dataclass(frozen=True)
class Subscription:
    events: list[str]
    job_kinds: list[str]
    job_statuses: list[str]

    def apply_to(self, webhook: Webhook) -> None:
        """What the webhook is told about from now on (a new one, or an update's whole checked subscription)."""
        webhook.events, webhook.job_kinds, webhook.job_statuses = self.events, self.job_kinds, self.job_statuses


async def check_url(url: str, rules: UrlRules, field: list[str]) -> str:
    """INVALID_INPUT on `field` unless `url` is https (or allowed http) and resolves to addresses webhooks may reach."""
    parts = check_scheme(url, field)
    if parts.scheme != "https" and not rules.allow_http:
        raise invalid("Webhook URLs must be https:// (an operator can allow http with ASSAY_WEBHOOK_ALLOW_HTTP)", field)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:  # DNS blocks: off the event loop
        await asyncio.to_thread(
            vetted_addresses, parts.hostname or "", port, parse_allow_list(rules.allowed_hosts), field
        )
    except ServiceError as exc:
        raise invalid(exc.message.replace("pipelines may not reach it", "webhooks may not reach it"), field) from None
    return url


def check_subscription(
    events: Iterable[str], job_kinds: Iterable[str], job_statuses: Iterable[str], known_kinds: Iterable[str]
) -> Subscription:
    events, job_kinds, job_statuses = (
        list(dict.fromkeys(events)),
        list(dict.fromkeys(job_kinds)),
        list(dict.fromkeys(job_statuses)),
    )
    if not events:
        raise invalid("Choose at least one event", ["events"])
    unknown = [e for e in events if e not in WebhookEvent.__members__]
    if unknown:
        raise invalid(f"Unknown event(s) {', '.join(unknown)}; the events are {', '.join(WebhookEvent)}", ["events"])
    if (job_kinds or job_statuses) and WebhookEvent.JOB_FINISHED not in events:
        raise invalid(
            "jobKinds and jobStatuses narrow JOB_FINISHED, which this webhook does not subscribe to",
            ["jobKinds" if job_kinds else "jobStatuses"],
        )
    known = set(known_kinds)
    if unknown_kinds := [k for k in job_kinds if k not in known]:
        raise invalid(f"Unknown job kind(s) {', '.join(unknown_kinds)}", ["jobKinds"])
    if not_final := [s for s in job_statuses if s not in TERMINAL]:
        raise invalid(f"{', '.join(not_final)}: a job finishes SUCCEEDED, FAILED or CANCELLED", ["jobStatuses"])
    return Subscription(events, job_kinds, job_statuses)


def check_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise invalid(f"At most {MAX_DESCRIPTION} characters", ["description"])
    return description


async def create_webhook(
    session: AsyncSession,
    *,
    owner_id: str,
    url: str,
    events: list[str],
    job_kinds: list[str],
    job_statuses: list[str],
    secret: str | None,
    description: str | None,
    rules: UrlRules,
    known_kinds: Iterable[str],
    max_per_user: int,
) -> Webhook:
    """The new webhook (its secret as given, else a new one: the caller shows it once). Nothing is stored on error."""
    subscription = check_subscription(events, job_kinds, job_statuses, known_kinds)
    description = check_description(description)
    secret = check_secret(secret, ["secret"]) if secret else new_secret()
    await check_url(url, rules, ["url"])
    count = await session.scalar(select(func.count()).select_from(Webhook).where(Webhook.owner_id == owner_id)) or 0
    if count >= max_per_user:
        raise invalid(f"You have {count} webhooks, the most one user may have; delete one first", ["url"])
    webhook = Webhook(owner_id=owner_id, url=url, secret=secret, description=description)
    subscription.apply_to(webhook)
    session.add(webhook)
    await session.commit()
    return webhook


async def get_webhook(session: AsyncSession, *, owner_id: str, webhook_id: str | None) -> Webhook | None:
    return await owned(session, Webhook, owner_id=owner_id, row_id=webhook_id)


async def _owned(session: AsyncSession, owner_id: str, webhook_id: str | None) -> Webhook:
    # another user's id reads as absent: nothing reveals it exists
    return await require_owned(session, Webhook, owner_id=owner_id, row_id=webhook_id, what="Webhook", field=["id"])


async def update_webhook(
    session: AsyncSession,
    *,
    owner_id: str,
    webhook_id: str | None,
    url: str | None = None,
    events: list[str] | None = None,
    job_kinds: list[str] | None = None,
    job_statuses: list[str] | None = None,
    enabled: bool | None = None,
    description: str | None = None,
    rotate_secret: bool = False,
    rules: UrlRules,
    known_kinds: Iterable[str],
) -> Webhook:
    """Change what is given; every check passes before anything is written. `rotate_secret` makes a new secret."""
    webhook = await _owned(session, owner_id, webhook_id)
    subscription = check_subscription(
        webhook.events if events is None else events,
        webhook.job_kinds if job_kinds is None else job_kinds,
        webhook.job_statuses if job_statuses is None else job_statuses,
        known_kinds,
    )
    new_description = webhook.description if description is None else check_description(description)
    if url is not None:
        await check_url(url, rules, ["url"])
        webhook.url = url
    subscription.apply_to(webhook)
    webhook.description = new_description
    if enabled is not None:
        webhook.enabled = enabled
    if rotate_secret:
        webhook.secret = new_secret()
    webhook.updated_at = utcnow()
    session.add(webhook)
    await session.commit()
    return webhook


async def delete_webhook(session: AsyncSession, *, owner_id: str, webhook_id: str | None) -> Webhook:
    """Removes the webhook and its delivery log; deliveries still queued are never sent."""
    webhook = await _owned(session, owner_id, webhook_id)
    await session.delete(webhook)
    await session.commit()
    return webhook


list_webhooks = Listing(Webhook, "owner_id")


async def list_deliveries(
    session: AsyncSession,
    *,
    webhook: Webhook,
    first: int,
    after: str | None,
    max_first: int,
    status: str | None = None,
    event: str | None = None,
) -> Page[WebhookDelivery]:
    """Newest first; `status` and `event` narrow the log."""
    filters = [col(WebhookDelivery.webhook_id) == webhook.id]
    if status is not None:
        filters.append(col(WebhookDelivery.status) == status)
    if event is not None:
        filters.append(col(WebhookDelivery.event) == event)
    return await paginate(session, WebhookDelivery, filters=filters, first=first, after=after, max_first=max_first)
