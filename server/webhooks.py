"""The webhook delivery loop of a process that runs jobs: the local-executor server, or each Celery worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from server.settings import Settings
from services.webhooks.delivery import Deliverer, DeliverySettings


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        retry_seconds=settings.webhook_retry_seconds,
        backoff_seconds=settings.webhook_backoff_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        concurrency=settings.webhook_concurrency,
        poll_seconds=settings.webhook_poll_seconds,
        allowed_hosts=settings.allowed_source_hosts,
        allow_http=settings.webhook_allow_http,
        ca_file=settings.webhook_ca_file,
        log_retention_days=settings.log_retention_days,
    )


def deliverer(settings: Settings, sessions: async_sessionmaker[AsyncSession], name: str | None = None) -> Deliverer:
    return Deliverer(sessions, delivery_settings(settings), name=name or f"{socket.gethostname()}:{os.getpid()}")


async def stop_delivering(task: asyncio.Task | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
