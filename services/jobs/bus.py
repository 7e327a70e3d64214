"""Event bus carrying messages (plain JSON-able dicts) to subscribers: in-memory in one process,
Redis pub/sub between replicas and workers (services/jobs/redis_bus.py)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(eq=False)
class Delivery:
    """One published message, handed as one object to every local subscriber of a channel.

    Subscribers derive what they send from it (decoded rows, a batched form) through `derived`, so
    work done for one socket is reused by the others instead of repeated per subscriber.
    """

    message: dict[str, Any]
    _derived: dict[str, Any] = field(default_factory=dict)

    def derived(self, name: str, build: Callable[[dict[str, Any]], Any]) -> Any:
        if name not in self._derived:
            self._derived[name] = build(self.message)
        return self._derived[name]


class EventBus(Protocol):
    def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Send `message` (JSON-able), after everything published before it, to every subscriber of `channel`."""

    def subscribe(self, channel: str) -> Any:
        """A context manager yielding an asyncio.Queue of Deliveries published on `channel`; None ends it."""

    def close(self) -> None:
        """End every local subscription (each queue gets None)."""


class ServerBus(EventBus, Protocol):
    """The bus a server process holds (in memory, or Redis-fed): an EventBus it starts and closes with itself."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def subscriber_count(self) -> int:
        """Open subscriptions in this process: a shutdown waits for them to hear the end."""
        ...


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


CONTROL_CHANNEL = "control"  # cancel requests from replicas to whichever worker runs the job


class LocalFanOut:
    """Subscriber queues per channel in this process; both buses deliver through it."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[Delivery | None]]] = defaultdict(set)

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._queues

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        queues = self._queues.get(channel)
        if not queues:
            return
        delivery = Delivery(message)
        for queue in tuple(queues):
            queue.put_nowait(delivery)

    @contextmanager
    def subscribe(self, channel: str) -> Iterator[asyncio.Queue[Delivery | None]]:
        queue: asyncio.Queue[Delivery | None] = asyncio.Queue()
        self._queues[channel].add(queue)
        try:
            yield queue
        finally:
            self._queues[channel].discard(queue)
            if not self._queues[channel]:
                del self._queues[channel]

    def close(self) -> None:
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(None)

    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self._queues.values())

    def subscribers_of(self, channel: str) -> int:
        """Subscribers of one channel in this process."""
        return len(self._queues.get(channel, ()))


class InMemoryEventBus(LocalFanOut):
    """The embedded default: publisher and subscribers share a process, so messages are handed over as they are."""

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.deliver(channel, message)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
