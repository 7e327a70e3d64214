"""Answers worth keeping: chart points, pages of rows and profile reads, per dataset version.

Redis when ASSAY_REDIS_URL is set (every replica shares the answers), otherwise a bounded in-process TTL cache
(cachetools). Values are stored as JSON either way, so both behave alike (a value that does not survive JSON
is not cached). Keys start with the dataset's id and its owner's id and carry the dataset's version; a caller
reaches the cache only after it has read the dataset as its owner (the loaders are owner-scoped), so one
user's answer is never another's. Deleting a dataset forgets its keys; the version in the key covers any
change that keeps the id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from cachetools import TTLCache

logger = logging.getLogger("assay.cache")

PREFIX = "assay:cache:"


def dataset_key(
    *, owner_id: str, dataset_id: str, version: datetime | str | int, what: str, args: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(dataset id, key): `what` (chart, rows, profile) and its arguments, hashed, under the dataset's version."""
    stamp = version.isoformat() if isinstance(version, datetime) else str(version)
    digest = hashlib.sha256(json.dumps(args or {}, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return dataset_id, f"{PREFIX}{dataset_id}:{owner_id}:{stamp}:{what}:{digest}"


class AnswerCache(Protocol):
    async def get(self, key: str) -> Any | None: ...

    async def put(self, dataset_id: str, key: str, value: Any) -> None: ...

    async def forget_dataset(self, dataset_id: str) -> None: ...


class NoCache:
    """ASSAY_CACHE_TTL_SECONDS=0: every read computes."""

    async def get(self, key: str) -> Any | None:
        return None

    async def put(self, dataset_id: str, key: str, value: Any) -> None:
        return None

    async def forget_dataset(self, dataset_id: str) -> None:
        return None


class MemoryCache:
    """This process's answers: at most `max_entries`, each for `ttl` seconds, least recently used out first."""

    def __init__(self, *, ttl: float, max_entries: int) -> None:
        self._entries: TTLCache[str, str] = TTLCache(maxsize=max_entries, ttl=ttl)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; puts may come from to_thread callers

    async def get(self, key: str) -> Any | None:
        with self._lock:
            text = self._entries.get(key)
        return None if text is None else json.loads(text)

    async def put(self, dataset_id: str, key: str, value: Any) -> None:
        text = _encoded(value)
        if text is not None:
            with self._lock:
                self._entries[key] = text

    async def forget_dataset(self, dataset_id: str) -> None:
        prefix = f"{PREFIX}{dataset_id}:"
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                self._entries.pop(key, None)


class RedisCache:
    """Shared by every replica; each dataset's keys are listed in a set, so deleting it deletes them all."""

    def __init__(self, client: Any, *, ttl: float) -> None:
        self.client = client
        self.ttl = max(1, int(ttl))

    async def get(self, key: str) -> Any | None:
        try:
            text = await self.client.get(key)
        except Exception:  # a cache that is down means computing, never failing the read
            logger.warning("cache read failed; computing the answer", exc_info=True)
            return None
        return None if text is None else json.loads(text)

    async def put(self, dataset_id: str, key: str, value: Any) -> None:
        text = _encoded(value)
        if text is None:
            return
        index = f"{PREFIX}{dataset_id}:keys"
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.set(key, text, ex=self.ttl)
                pipe.sadd(index, key)
                pipe.expire(index, self.ttl)
                await pipe.execute()
        except Exception:
            logger.warning("cache write failed", exc_info=True)

    async def forget_dataset(self, dataset_id: str) -> None:
        index = f"{PREFIX}{dataset_id}:keys"
        keys = await self.client.smembers(index)
        await self.client.delete(index, *keys)


def _encoded(value: Any) -> str | None:
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return None


async def cached(cache: AnswerCache, dataset_and_key: tuple[str, str], compute: Callable[[], Awaitable[Any]]) -> Any:
    """The cached answer, else `compute()`'s, kept for next time. Errors are never cached."""
    dataset_id, key = dataset_and_key
    hit = await cache.get(key)
    if hit is not None:
        return hit
    value = await compute()
    await cache.put(dataset_id, key, value)
    return value


def create_cache(*, redis_client: Any | None, ttl: float, max_entries: int) -> AnswerCache:
    if ttl <= 0:
        return NoCache()
    if redis_client is not None:
        return RedisCache(redis_client, ttl=ttl)
    return MemoryCache(ttl=ttl, max_entries=max_entries)
