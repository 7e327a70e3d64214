"""The event bus between processes: Redis pub/sub of JSON messages.

Each process holds one pattern subscription (`assay:*`) and fans messages out to its local
subscribers, so subscribing is local and immediate: nothing published after `subscribe` returns
can be missed, which is what lets a subscriber read its backlog from the database afterwards and
let `seq` decide the seam. Publishing is queued and sent in order by one task over one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as redis

from services.jobs.bus import LocalFanOut

logger = logging.getLogger("assay.jobs")


class RedisEventBus(LocalFanOut):
    def __init__(self, url: str, *, prefix: str = "assay:bus:") -> None:
        super().__init__()
        self.url = url
        self.prefix = prefix
        self._client: redis.Redis | None = None
        self._outbox: asyncio.Queue[tuple[str, str]] | None = None  # (channel, JSON message)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._client = redis.from_url(self.url)
        self._outbox = asyncio.Queue()
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe(f"{self.prefix}*")
        self._tasks = [
            asyncio.create_task(self._listen(pubsub), name="assay-bus-listen"),
            asyncio.create_task(self._send(), name="assay-bus-send"),
        ]

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        assert self._outbox is not None, "RedisEventBus.start() first"
        self._outbox.put_nowait((self.prefix + channel, json.dumps(message, separators=(",", ":"))))

    async def _send(self) -> None:
        assert self._client is not None and self._outbox is not None
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except Exception:  # subscribers catch up from the database on reconnect
                logger.exception("publishing %d bus messages to Redis failed", len(batch))
            finally:
                for _ in batch:
                    self._outbox.task_done()

    async def _listen(self, pubsub: Any) -> None:
        skip = len(self.prefix)
        while True:
            try:
                async for item in pubsub.listen():
                    if item.get("type") != "pmessage":
                        continue
                    channel = item["channel"].decode()[skip:]
                    if self.has_subscribers(channel):
                        self.deliver(channel, json.loads(item["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarted: resubscribe and carry on
                logger.exception("the Redis bus connection failed; resubscribing")
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    await pubsub.psubscribe(f"{self.prefix}*")

    async def flush(self) -> None:
        """Wait until everything published so far has been handed to Redis."""
        if self._outbox is not None:
            await self._outbox.join()

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
