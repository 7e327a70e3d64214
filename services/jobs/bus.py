"""Event bus carrying job events to subscribers; in-memory here, Redis pub/sub when scaled out."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, Sequence


@dataclass(eq=False)
class Delivery:
    """Events published together, handed as one object to every subscriber of a channel.

    Subscribers derive what they send from it (e.g. a batched form) through `derived`, so work
    done for one socket is reused by the others instead of repeated per subscriber.
    """

    events: tuple[dict[str, Any], ...]
    _derived: dict[str, Any] = field(default_factory=dict)

    def derived(self, name: str, build: Callable[[tuple[dict[str, Any], ...]], Any]) -> Any:
        if name not in self._derived:
            self._derived[name] = build(self.events)
        return self._derived[name]


class EventBus(Protocol):
    def publish(self, channel: str, events: Sequence[dict[str, Any]]) -> None:
        """Send `events`, in order, to every subscriber of `channel` as one Delivery."""

    def subscribe(self, channel: str) -> Any:
        """A context manager yielding an asyncio.Queue of Deliveries published on `channel`; None ends it."""

    def close(self) -> None: ...


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


class InMemoryEventBus:
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue]] = defaultdict(set)

    def publish(self, channel: str, events: Sequence[dict[str, Any]]) -> None:
        queues = self._queues.get(channel)
        if not queues or not events:
            return
        delivery = Delivery(tuple(events))
        for queue in tuple(queues):
            queue.put_nowait(delivery)

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
