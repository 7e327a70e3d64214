"""The pure rules under retries and priorities: which failures are transient, the backoff schedule, and the
order in which waiting jobs get a free slot."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis.exceptions
import sqlalchemy.exc

from services.errors import ErrorCode, ServiceError, invalid
from services.jobs.priority import Priority, PrioritySlots, celery_priority, parse
from services.jobs.retry import TransientError, backoff_seconds, is_transient


def raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as cause:
            raise outer from cause
    except Exception as chained:  # noqa: BLE001 - returns whichever was raised
        return chained


@pytest.mark.parametrize(
    "exc",
    [
        TransientError("the source timed out"),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
        redis.exceptions.ConnectionError("Connection reset by peer"),
        httpx.ReadTimeout("timed out"),
        ConnectionResetError(104, "reset"),
        TimeoutError("timed out"),
        raised_from(RuntimeError("could not write the batch"), httpx.ConnectError("refused")),
    ],
)
def test_lost_connections_and_timeouts_are_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("could not convert string to float: 'abc'"),
        invalid("`bins` must be between 1 and 100"),
        raised_from(ServiceError(ErrorCode.INVALID_INPUT, "the server answered HTTP 404"), httpx.ReadTimeout("t")),
        KeyError("price"),
    ],
)
def test_everything_else_fails_at_once(exc):
    assert not is_transient(exc)


def test_backoff_doubles_up_to_the_cap_with_a_little_jitter():
    waits = [backoff_seconds(n, base=2, cap=60) for n in range(1, 8)]
    for n, wait in enumerate(waits, start=1):
        exact = min(2 * 2 ** (n - 1), 60)
        assert exact <= wait <= exact + 0.2


def test_priorities_parse_and_map_to_redis_steps_high_first():
    assert parse(None) is Priority.NORMAL and parse("high") is Priority.HIGH and parse(0) is Priority.LOW
    assert celery_priority("HIGH") < celery_priority("NORMAL") < celery_priority("LOW")  # Redis serves 0 first


def test_a_freed_slot_goes_to_the_highest_priority_then_the_earliest():
    async def story() -> list[str]:
        slots, order = PrioritySlots(1), []
        release = asyncio.Event()

        async def job(name: str, priority: Priority) -> None:
            async with slots.slot(priority):
                order.append(name)
                if name == "busy":
                    await release.wait()

        busy = asyncio.create_task(job("busy", Priority.LOW))
        await asyncio.sleep(0)
        waiting = [
            asyncio.create_task(job(n, p))
            for n, p in (
                ("low1", Priority.LOW),
                ("normal", Priority.NORMAL),
                ("low2", Priority.LOW),
                ("high", Priority.HIGH),
            )
        ]
        await asyncio.sleep(0.01)
        assert slots.waiting_by_priority() == {0: 2, 1: 1, 2: 1}
        cancelled = asyncio.create_task(job("never", Priority.HIGH))
        await asyncio.sleep(0.01)
        cancelled.cancel()  # a waiter that gives up leaves no hole
        release.set()
        await asyncio.gather(busy, *waiting)
        return order

    assert asyncio.run(story()) == ["busy", "high", "normal", "low1", "low2"]
