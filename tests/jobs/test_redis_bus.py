"""The Redis event bus and the shared limits, against a real redis-server; and the subscription seam over it."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.testclient import TestClient

from devtools.redis_local import LocalRedis
from server.app import create_app
from services.jobs.redis_bus import RedisEventBus
from services.ratelimit import RedisSlidingWindowLimiter
from tests.support.graphql import register, upload, wait_for_job
from tests.support.settings import make_settings


@pytest.fixture(scope="module")
def redis_url():
    with LocalRedis() as server:
        yield server.url


def test_messages_cross_processes_in_order_as_json_and_close_ends_subscriptions(redis_url):
    async def scenario() -> None:
        publisher, relay = RedisEventBus(redis_url), RedisEventBus(redis_url)
        await publisher.start()
        await relay.start()
        try:
            with (
                relay.subscribe("job:1") as first,
                relay.subscribe("job:1") as second,
                relay.subscribe("job:2") as other,
            ):
                for index in range(200):
                    publisher.publish("job:1", {"seq": index, "text": "é" * (index % 3)})
                publisher.publish("job:nobody", {"seq": -1})
                await publisher.flush()
                got = [await asyncio.wait_for(first.get(), 10) for _ in range(200)]
                assert [d.message["seq"] for d in got] == list(range(200))
                assert json.dumps(got[5].message) == json.dumps({"seq": 5, "text": "éé"})
                mirrored = [await asyncio.wait_for(second.get(), 10) for _ in range(200)]
                assert [d.message for d in mirrored] == [d.message for d in got]
                assert mirrored[0] is got[0]  # one delivery per message, shared by the local subscribers
                assert other.empty()
                relay.close()
                assert await asyncio.wait_for(first.get(), 5) is None  # the replica is shutting down
        finally:
            await publisher.aclose()
            await relay.aclose()

    asyncio.run(scenario())


def test_redis_limits_are_shared_between_limiters_like_replicas(redis_url):
    async def scenario() -> None:
        import redis.asyncio as redis

        one, two = redis.from_url(redis_url), redis.from_url(redis_url)
        a = RedisSlidingWindowLimiter(one, name="t", limit=3, window=60)
        b = RedisSlidingWindowLimiter(two, name="t", limit=3, window=60)
        assert [await a.hit("k"), await b.hit("k"), await a.hit("k")] == [False, False, False]
        assert await b.is_exceeded("k") and await b.hit("k")
        await a.reset("k")
        assert not await b.is_exceeded("k")
        await one.aclose()
        await two.aclose()

    asyncio.run(scenario())


def test_job_events_over_the_redis_bus_keep_the_seam(tmp_path, redis_url):
    """Backlog from the database, then live events from Redis: every line once, in order, to the end."""
    settings = make_settings(tmp_path, redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        rows = b"a,b\n" + b"".join(b"%d,x%d\n" % (i, i) for i in range(2000))
        job_id = upload(client, token, rows)["data"]["uploadDataset"]["job"]["id"]
        query = (
            "subscription($id: ID!, $after: Int!) { jobEvents(jobId: $id, after: $after) { kind log { seq } "
            "job { status } } }"
        )
        seqs, statuses = [], []
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
            socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
            assert socket.receive_json()["type"] == "connection_ack"
            socket.send_json(
                {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"id": job_id, "after": 1}}}
            )
            while (message := socket.receive_json())["type"] != "complete":
                event = message["payload"]["data"]["jobEvents"]
                if event["log"]:
                    seqs.append(event["log"]["seq"])
                statuses.append(event["job"]["status"])
        assert seqs == list(range(2, len(seqs) + 2)) and statuses[-1] == "SUCCEEDED"
        assert wait_for_job(client, token, job_id)["status"] == "SUCCEEDED"


def test_the_celery_executor_without_redis_is_refused_at_start_up(tmp_path):
    from server.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="ASSAY_EXECUTOR=celery needs ASSAY_REDIS_URL"):
        create_app(make_settings(tmp_path, executor="celery"))
