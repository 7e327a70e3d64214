"""Event bus carrying job events to subscribers; in-memory here, Redis pub/sub when scaled out."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Iterator, Protocol


class EventBus(Protocol):
    def publish(self, channel: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str) -> Any:
        """A context manager yielding an asyncio.Queue of events published on `channel`; None ends it."""

    def close(self) -> None: ...


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


class InMemoryEventBus:
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue]] = defaultdict(set)

    def publish(self, channel: str, event: dict[str, Any]) -> None:
        for queue in tuple(self._queues.get(channel, ())):
            queue.put_nowait(event)

    @contextmanager
    def subscribe(self, channel: str) -> Iterator[asyncio.Queue]:
        queue: asyncio.Queue = asyncio.Queue()
        self._queues[channel].add(queue)
        try:
            yield queue
        finally:
            self._queues[channel].discard(queue)
            if not self._queues[channel]:
                del self._queues[channel]

    def close(self) -> None:
        """End every subscription: each queue gets a None, which subscribers treat as the end."""
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(None)

    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self._queues.values())
