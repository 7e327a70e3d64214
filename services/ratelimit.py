"""Sliding-window counters for login failures and request rates: in this process by default, in
Redis when replicas must share them (ASSAY_REDIS_URL), so N replicas add up to one limit."""
from __future__ import annotations

import time
import uuid
from collections import defaultdict, deque
from typing import Any, Protocol


class RateLimiter(Protocol):
    async def is_exceeded(self, key: str) -> bool: ...

    async def hit(self, key: str) -> bool:
        """Record one hit; True when this hit is over the limit."""

    async def reset(self, key: str) -> None: ...


class SlidingWindowLimiter:
    """At most `limit` hits per key within `window` seconds, in this process."""

    def __init__(self, *, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._hits.pop(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if hits:
            self._hits[key] = hits
        return hits

    async def is_exceeded(self, key: str) -> bool:
        return len(self._prune(key, time.monotonic())) >= self.limit

    async def hit(self, key: str) -> bool:
        now = time.monotonic()
        hits = self._prune(key, now)
        if len(hits) >= self.limit:
            return True
        hits.append(now)
        self._hits[key] = hits
        return False

    async def reset(self, key: str) -> None:
        self._hits.pop(key, None)


# One round trip, atomic: drop hits older than the window, refuse at the limit, else record this one.
_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[2] * 1000))
return 0
"""


class RedisSlidingWindowLimiter:
    """The same window in a Redis sorted set per key, shared by every replica."""

    def __init__(self, client: Any, *, name: str, limit: int, window: float) -> None:
        self.client = client
        self.name = name
        self.limit = limit
        self.window = window
        self._hit = client.register_script(_HIT)

    def _key(self, key: str) -> str:
        return f"assay:limit:{self.name}:{key}"

    async def is_exceeded(self, key: str) -> bool:
        redis_key = self._key(key)
        await self.client.zremrangebyscore(redis_key, "-inf", time.time() - self.window)
        return int(await self.client.zcard(redis_key)) >= self.limit

    async def hit(self, key: str) -> bool:
        return bool(await self._hit(keys=[self._key(key)],
                                    args=[time.time(), self.window, self.limit, uuid.uuid4().hex]))

    async def reset(self, key: str) -> None:
        await self.client.delete(self._key(key))
