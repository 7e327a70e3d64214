"""Job priorities: what a caller asks for, how the local executor's slots honour it, and Celery's number for it.

A job-starting operation sets the priority for the request (`requested`), so every domain's enqueue
picks it up without each service growing a parameter; an explicit `priority=` to enqueue wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from enum import IntEnum


class Priority(IntEnum):
    """Higher runs sooner when jobs wait for a slot; jobs already running are never pre-empted."""

    LOW = 0
    NORMAL = 1
    HIGH = 2


# The priority asked for by the operation being served (set by the API layer around a mutation).
requested: ContextVar[Priority] = ContextVar("assay_job_priority", default=Priority.NORMAL)


@contextlib.contextmanager
def requesting(priority: Priority | str | None) -> Iterator[None]:
    """Jobs enqueued inside this block get `priority` (NORMAL when None)."""
    token = requested.set(parse(priority))
    try:
        yield
    finally:
        requested.reset(token)


def parse(value: Priority | str | int | None) -> Priority:
    if value is None:
        return Priority.NORMAL
    if isinstance(value, str) and not value.isdigit():
        return Priority[value.upper()]
    return Priority(int(value))


# Redis (kombu) orders by priority steps where 0 is served first; Celery workers consume the lowest step first.
CELERY_STEPS = [0, 3, 6, 9]
_CELERY_PRIORITY = {Priority.HIGH: 0, Priority.NORMAL: 3, Priority.LOW: 6}


def celery_priority(priority: Priority | str | int | None) -> int:
    return _CELERY_PRIORITY[parse(priority)]


def broker_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps one queue's messages in: the queue's name for step 0, then one per step."""
    return [queue if step == 0 else f"{queue}\x06\x16{step}" for step in CELERY_STEPS]


class PrioritySlots:
    """`max_workers` slots; a freed slot goes to the highest-priority waiter, first come first served within
    one priority. (asyncio.Semaphore wakes waiters strictly in arrival order.)"""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-int(priority), next(self._order), waiter))
        try:
            await waiter  # the releaser handed its slot over: `free` was not incremented for us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot while being cancelled: pass it on
            else:
                self._waiters = [w for w in self._waiters if w[2] is not waiter]
                heapq.heapify(self._waiters)
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1

    def waiting_by_priority(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for priority, _, waiter in self._waiters:
            if not waiter.done():
                counts[-priority] = counts.get(-priority, 0) + 1
        return counts
