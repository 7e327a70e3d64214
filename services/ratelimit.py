"""In-process sliding-window counters for login failures and request rates."""
from __future__ import annotations

import time
from collections import defaultdict, deque


class SlidingWindowLimiter:
    """At most `limit` hits per key within `window` seconds."""

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

    def is_exceeded(self, key: str) -> bool:
        return len(self._prune(key, time.monotonic())) >= self.limit

    def hit(self, key: str) -> bool:
        """Record one hit; True when this hit is over the limit."""
        now = time.monotonic()
        hits = self._prune(key, now)
        if len(hits) >= self.limit:
            return True
        hits.append(now)
        self._hits[key] = hits
        return False

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)
