"""What replicas and workers share through Redis besides events: cancel requests and live workers."""

from __future__ import annotations

import json
import time
from typing import Any

CANCEL_TTL_SECONDS = 24 * 3600


class RedisCancelRequests:
    """A cancel request outlives a missed bus message: the worker polls it at each heartbeat."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def request(self, job_id: str, reason: str) -> None:
        await self.client.set(f"assay:cancel:{job_id}", reason, ex=CANCEL_TTL_SECONDS)

    async def pending(self, job_ids: list[str]) -> dict[str, str]:
        if not job_ids:
            return {}
        values = await self.client.mget([f"assay:cancel:{job_id}" for job_id in job_ids])
        return {job_id: value.decode() for job_id, value in zip(job_ids, values, strict=True) if value is not None}


class RedisWorkerRecords:
    """Each worker writes its record at every heartbeat, with a TTL: the live ones are those still there."""

    def __init__(self, client: Any, *, ttl_seconds: float) -> None:
        self.client = client
        self.ttl_ms = max(1000, int(ttl_seconds * 1000))

    async def write(self, name: str, *, queues: list[str], concurrency: int, running: list[str]) -> None:
        record = {
            "name": name,
            "queues": queues,
            "concurrency": concurrency,
            "running": running,
            "seen_at": time.time(),
        }
        await self.client.set(f"assay:worker:{name}", json.dumps(record), px=self.ttl_ms)

    async def remove(self, name: str) -> None:
        await self.client.delete(f"assay:worker:{name}")

    async def live(self) -> list[dict[str, Any]]:
        keys = [key async for key in self.client.scan_iter(match="assay:worker:*", count=100)]
        values = await self.client.mget(keys) if keys else []
        return sorted((json.loads(v) for v in values if v is not None), key=lambda r: r["name"])
