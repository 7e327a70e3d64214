"""Sliding-window counters for login failures and request rates: in this process by default, in
Redis when replicas must share them (ASSAY_REDIS_URL), so N replicas add up to one limit.

The counting is the `limits` library's moving window (the same strategy as slowapi and
Flask-Limiter): a maintained, tested implementation of the window and its atomic Redis script,
instead of our own copy. These classes only keep Assay's small interface over it."""

from __future__ import annotations

import math
from typing import Any, Protocol

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter as SharedMovingWindow
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimiter(Protocol):
    async def is_exceeded(self, key: str) -> bool: ...

    async def hit(self, key: str) -> bool:
        """Record one hit; True when this hit is over the limit (a refused hit is not counted)."""
        ...

    async def reset(self, key: str) -> None: ...


def _window(name: str, limit: int, window: float) -> RateLimitItemPerSecond:
    # `limits` counts whole seconds; a fractional window rounds up, so a limit is never looser than configured.
    return RateLimitItemPerSecond(limit, max(1, math.ceil(window)), namespace=f"assay-{name}")


class SlidingWindowLimiter:
    """At most `limit` hits per key within `window` seconds, in this process."""

    def __init__(self, *, limit: int, window: float, name: str = "local") -> None:
        self.limit = limit
        self.window = window
        self._item = _window(name, limit, window)
        # The synchronous in-memory storage: each call is a dict update under a thread lock, never a wait,
        # and unlike the asyncio one it is not tied to the event loop it was first used on.
        self._strategy = MovingWindowRateLimiter(MemoryStorage())

    async def is_exceeded(self, key: str) -> bool:
        return not self._strategy.test(self._item, key)

    async def hit(self, key: str) -> bool:
        return not self._strategy.hit(self._item, key)

    async def reset(self, key: str) -> None:
        self._strategy.clear(self._item, key)


class RedisSlidingWindowLimiter:
    """The same window in Redis, shared by every replica; `client` is a redis.asyncio client whose
    connection pool the limiter borrows."""

    def __init__(self, client: Any, *, name: str, limit: int, window: float) -> None:
        self.name = name
        self.limit = limit
        self.window = window
        self._item = _window(name, limit, window)
        storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix="assay:limit", connection_pool=client.connection_pool
        )
        self._strategy = SharedMovingWindow(storage)

    async def is_exceeded(self, key: str) -> bool:
        return not await self._strategy.test(self._item, key)

    async def hit(self, key: str) -> bool:
        return not await self._strategy.hit(self._item, key)

    async def reset(self, key: str) -> None:
        await self._strategy.clear(self._item, key)
