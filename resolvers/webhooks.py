"""Webhook operations: register, change and remove endpoints; list them with their delivery logs."""

from __future__ import annotations

from resolvers.context import Context
from resolvers.fields import mutation, owned_connection, owned_node
from schema.common import raw_id
from schema.domain import GraphQLDomain
from schema.webhooks import (
    CreateWebhookInput,
    DeleteWebhookInput,
    UpdateWebhookInput,
    Webhook,
    WebhookConnection,
    WebhookPayload,
)
from services.webhooks import service
from services.webhooks.service import UrlRules


def url_rules(ctx: Context) -> UrlRules:
    return UrlRules(allowed_hosts=ctx.settings.allowed_source_hosts, allow_http=ctx.settings.webhook_allow_http)


def _values(items: list | None) -> list[str] | None:
    return None if items is None else [item.value for item in items]


class WebhooksQuery:
    webhooks = owned_connection(
        service.list_webhooks, WebhookConnection, Webhook.from_row, description="The caller's webhooks, newest first"
    )
    webhook = owned_node(
        service.get_webhook, Webhook, "webhook_id", description="One of the caller's webhooks (null for anyone else's)"
    )


class WebhooksMutation:
    @mutation(
        description="Register an endpoint for events; deliveries are signed JSON (docs/webhooks.md). Without a "
        "`secret` one is made and returned once"
    )
    async def create_webhook(self, ctx: Context, input: CreateWebhookInput) -> WebhookPayload:
        row = await ctx.owned(
            service.create_webhook,
            url=input.url,
            events=_values(input.events) or [],
            job_kinds=_values(input.job_kinds) or [],
            job_statuses=_values(input.job_statuses) or [],
            secret=input.secret,
            description=input.description,
            rules=url_rules(ctx),
            known_kinds=ctx.app.jobs.kinds,
            max_per_user=ctx.settings.webhook_max_per_user,
        )
        return WebhookPayload(webhook=Webhook.from_row(row), secret=None if input.secret else row.secret)

    @mutation(description="Change a webhook's URL, events or filters, pause it (enabled: false) or rotate its secret")
    async def update_webhook(self, ctx: Context, input: UpdateWebhookInput) -> WebhookPayload:
        row = await ctx.owned(
            service.update_webhook,
            webhook_id=raw_id(input.id, "Webhook"),
            url=input.url,
            events=_values(input.events),
            job_kinds=_values(input.job_kinds),
            job_statuses=_values(input.job_statuses),
            enabled=input.enabled,
            description=input.description,
            rotate_secret=bool(input.rotate_secret),
            rules=url_rules(ctx),
            known_kinds=ctx.app.jobs.kinds,
        )
        return WebhookPayload(webhook=Webhook.from_row(row), secret=row.secret if input.rotate_secret else None)

    @mutation(description="Remove a webhook and its delivery log; queued deliveries are not sent")
    async def delete_webhook(self, ctx: Context, input: DeleteWebhookInput) -> WebhookPayload:
        row = await ctx.owned(service.delete_webhook, webhook_id=raw_id(input.id, "Webhook"))
        return WebhookPayload(webhook=Webhook.from_row(row))


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="webhooks", query=WebhooksQuery, mutation=WebhooksMutation)
