"""Sending queued deliveries: the loop every job worker runs (the local executor's server, each Celery worker).

A worker claims a due delivery with a compare-and-set on its lease (`lease_until` in the past, or unset),
so among any number of workers one sends it at a time; the lease outlasts an attempt's timeout, so it
only lapses when its worker died, and then another worker sends it again with the same delivery id
(at least once; receivers de-duplicate on `webhook-id`). Each send runs in a thread of its own with a
short timeout, bounded by ASSAY_WEBHOOK_CONCURRENCY: a hanging or failing endpoint holds one slot,
never the loop, a job or a request. The URL is vetted again on the connection itself (PinnedBackend).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import ServiceError
from services.pipelines.fetch import pinned_client
from services.pipelines.ssrf import check_scheme, parse_allow_list
from services.storage.tables import Webhook, WebhookDelivery, new_id
from services.webhooks import signing
from services.webhooks.service import DeliveryStatus

logger = logging.getLogger("assay.webhooks")

MAX_BACKOFF_SECONDS = 3600
MAX_ERROR_CHARS = 1000
PRUNE_EVERY_SECONDS = 3600


@dataclass(frozen=True)
class DeliverySettings:
    retry_seconds: float = 86400
    backoff_seconds: float = 5
    timeout_seconds: float = 10
    concurrency: int = 16
    poll_seconds: float = 1
    allowed_hosts: str = ""
    allow_http: bool = False
    ca_file: str = ""
    log_retention_days: float = 30

    @property
    def lease_seconds(self) -> float:
        """Longer than any attempt can take (connect + read, each up to the timeout), so only a dead worker's lapses."""
        return 3 * self.timeout_seconds + 5


def retry_delay(attempts: int, base: float, *, jitter: random.Random | None = None) -> float:
    """Exponential backoff with 'equal jitter': after attempt n, between half and all of base * 2^(n-1),
    capped at an hour, so receivers that failed together are not retried together."""
    ceiling: float = min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return ceiling / 2 + (jitter or random).uniform(0, ceiling / 2)


@dataclass
class Outcome:
    code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


class Deliverer:
    """Claims and sends due deliveries until cancelled; `name` says who holds a lease (logs, tests)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: DeliverySettings, *, name: str) -> None:
        self.sessions = sessions
        self.settings = settings
        self.name = name
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._clients: dict[str, httpx.Client] = {}
        self._clients_lock = threading.Lock()
        # Its own threads: sends waiting on slow endpoints never take the default pool other work runs in.
        self._threads = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="assay-webhook")

    async def run(self) -> None:
        pruned_at = float("-inf")
        try:
            while True:
                try:
                    if time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                        pruned_at = time.monotonic()
                        await self.prune()
                    claimed = await self.tick()
                except Exception:  # a transient database error must not end deliveries
                    logger.exception("webhook delivery tick failed")
                    claimed = 0
                if not claimed:
                    await asyncio.sleep(self.settings.poll_seconds)
                else:
                    await asyncio.sleep(0)
        finally:
            for task in list(self._in_flight):
                task.cancel()
            self._threads.shutdown(wait=False, cancel_futures=True)
            for client in self._clients.values():
                client.close()

    async def prune(self) -> int:
        """Delete settled deliveries older than the log retention, so the outbox does not grow for ever (idempotent:
        every worker may do it)."""
        cutoff = datetime.now(UTC) - timedelta(days=self.settings.log_retention_days)
        async with self.sessions() as session:
            result = await session.exec(
                delete(WebhookDelivery).where(
                    col(WebhookDelivery.created_at) < cutoff, col(WebhookDelivery.status) != DeliveryStatus.PENDING
                )
            )
            await session.commit()
        return result.rowcount or 0

    async def tick(self) -> int:
        """Claim what is due, as far as free sending slots allow, and start sending it; how many were claimed."""
        free = self.settings.concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        claimed = await self.claim(free)
        for delivery, webhook in claimed:
            task = asyncio.create_task(self._send(delivery, webhook), name=f"assay-webhook-{delivery.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claimed)

    async def claim(self, most: int) -> list[tuple[WebhookDelivery, Webhook]]:
        now = datetime.now(UTC)
        due = [
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
            col(WebhookDelivery.next_attempt_at) <= now,
            or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now),
        ]
        won: list[tuple[WebhookDelivery, Webhook]] = []
        async with self.sessions() as session:
            candidates = (
                await session.exec(
                    select(WebhookDelivery.id).where(*due).order_by(col(WebhookDelivery.next_attempt_at)).limit(most)
                )
            ).all()
            for delivery_id in candidates:
                token = new_id()
                result = await session.exec(
                    update(WebhookDelivery)
                    .where(col(WebhookDelivery.id) == delivery_id, *due)
                    .values(
                        lease_until=now + timedelta(seconds=self.settings.lease_seconds),
                        lease_token=token,
                        leased_by=self.name[:128],
                        attempts=WebhookDelivery.attempts + 1,
                        updated_at=now,
                    )
                )
                await session.commit()
                if result.rowcount != 1:  # another worker won it
                    continue
                delivery = await session.get(WebhookDelivery, delivery_id, populate_existing=True)
                webhook = await session.get(Webhook, delivery.webhook_id) if delivery else None
                if delivery is not None and webhook is not None:
                    won.append((delivery, webhook))
        return won

    async def _send(self, delivery: WebhookDelivery, webhook: Webhook) -> None:
        async with self._slots:
            try:
                # httpx's timeout is per read: an endpoint dripping bytes could outlast the lease, so the attempt
                # also has a whole deadline (within the lease); past it, it is recorded as failed and retried.
                outcome = await asyncio.wait_for(
                    asyncio.get_running_loop().run_in_executor(
                        self._threads, self.post, webhook.url, webhook.secret, delivery.id, delivery.body.encode()
                    ),
                    timeout=2 * self.settings.timeout_seconds + 1,
                )
            except TimeoutError:
                outcome = Outcome(error=f"No answer within {2 * self.settings.timeout_seconds + 1:g} s")
            except Exception as exc:  # recorded on the delivery, retried
                logger.exception("webhook delivery %s failed unexpectedly", delivery.id)
                outcome = Outcome(error=f"Internal error: {type(exc).__name__}")
            try:
                await self.record(delivery, outcome)
            except Exception:  # the lease lapses and it is sent again
                logger.exception("recording webhook delivery %s failed", delivery.id)

    def _client(self, scheme: str) -> httpx.Client:
        with self._clients_lock:  # sending threads ask at once
            return self._client_for(scheme)

    def _client_for(self, scheme: str) -> httpx.Client:
        if scheme not in self._clients:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if scheme == "https":
                context = httpx.create_ssl_context()
                if self.settings.ca_file:
                    context.load_verify_locations(cafile=self.settings.ca_file)
            self._clients[scheme] = pinned_client(parse_allow_list(self.settings.allowed_hosts), context)
        return self._clients[scheme]

    def post(self, url: str, secret: str, message_id: str, body: bytes) -> Outcome:
        """One attempt, in a thread: vetted again as the connection opens; redirects are not followed."""
        try:
            parts = check_scheme(url, ["url"])
            if parts.scheme != "https" and not self.settings.allow_http:
                return Outcome(error="Refused: the URL is not https:// (ASSAY_WEBHOOK_ALLOW_HTTP is off)")
            headers = signing.headers(secret, message_id=message_id, timestamp=int(time.time()), body=body)
            # Streamed and closed unread: only the status matters, and an endpoint's huge answer is never loaded.
            with self._client(parts.scheme).stream(
                "POST", url, content=body, headers=headers, timeout=self.settings.timeout_seconds
            ) as response:
                status = response.status_code
        except ServiceError as exc:  # the SSRF check refused the address (DNS may have changed since)
            return Outcome(error=f"Refused: {exc.message}")
        except httpx.TimeoutException:
            return Outcome(error=f"No answer within {self.settings.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
        return Outcome(code=status, error=None if 200 <= status < 300 else f"HTTP {status}")

    async def record(self, delivery: WebhookDelivery, outcome: Outcome) -> None:
        """Write the attempt's result, only while this claim's lease is still ours."""
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "response_code": outcome.code,
            "last_error": outcome.error,
            "lease_until": None,
            "lease_token": None,
            "updated_at": now,
        }
        if outcome.delivered:
            values.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
        else:
            retry_at = now + timedelta(seconds=retry_delay(delivery.attempts, self.settings.backoff_seconds))
            created = delivery.created_at if delivery.created_at.tzinfo else delivery.created_at.replace(tzinfo=UTC)
            if retry_at > created + timedelta(seconds=self.settings.retry_seconds):
                values.update(status=DeliveryStatus.FAILED)
                values["last_error"] = f"{outcome.error}; given up after {delivery.attempts} attempt(s)"[
                    :MAX_ERROR_CHARS
                ]
            else:
                values.update(next_attempt_at=retry_at)
        async with self.sessions() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == delivery.id, col(WebhookDelivery.lease_token) == delivery.lease_token)
                .values(**values)
            )
            await session.commit()
        logger.info(
            "webhook delivery %s (%s, attempt %d): %s",
            delivery.id,
            delivery.event,
            delivery.attempts,
            "delivered" if outcome.delivered else outcome.error,
        )
