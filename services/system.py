"""Health and operator facts: is the database (and Redis) there, how big is everything, how busy are the workers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import func, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.files import directory_size

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")


async def database_reachable(session: AsyncSession) -> bool:
    try:
        await session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable" to a load balancer
        return False


def redacted_url(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def database_file_size(database_url: str) -> int | None:
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return None
    paths = [Path(url.database + suffix) for suffix in ("", "-wal", "-shm")]
    return sum(p.stat().st_size for p in paths if p.exists())


async def row_counts(session: AsyncSession) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, table in SQLModel.metadata.tables.items():
        counts[name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
    return counts


def data_dir_size(data_dir: Path) -> int:
    return directory_size(data_dir)


@dataclass
class PoolState:
    """SQLAlchemy's queue pool as it stands: `size` kept open, `checked_out` in use, `overflow` beyond size."""

    size: int
    checked_in: int
    checked_out: int
    overflow: int
    max_overflow: int


@dataclass
class DatabaseFacts:
    engine: str
    server_version: str
    size_bytes: int | None
    pool: PoolState | None


def pool_state(engine: AsyncEngine) -> PoolState | None:
    pool = engine.pool
    if not isinstance(pool, QueuePool):  # NullPool/StaticPool keep nothing worth reporting
        return None
    return PoolState(
        size=pool.size(),
        checked_in=pool.checkedin(),
        checked_out=pool.checkedout(),
        overflow=max(pool.overflow(), 0),
        max_overflow=getattr(pool, "_max_overflow", 0),
    )


async def database_facts(session: AsyncSession, database_url: str) -> DatabaseFacts:
    bind = session.bind
    assert bind is not None, "the app's sessions are always bound to its engine"
    engine = bind if isinstance(bind, AsyncEngine) else bind.engine
    if engine.dialect.name == "postgresql":
        version = await session.scalar(text("SHOW server_version"))
        size = await session.scalar(text("SELECT pg_database_size(current_database())"))
    else:
        version = await session.scalar(text("SELECT sqlite_version()"))
        size = database_file_size(database_url)
    return DatabaseFacts(
        engine=engine.dialect.name,
        server_version=str(version),
        pool=pool_state(engine),
        size_bytes=None if size is None else int(size),
    )


@dataclass
class RedisFacts:
    reachable: bool
    version: str | None = None
    used_memory_bytes: int | None = None
    connected_clients: int | None = None


async def _redis_call(redis_url: str, call: Callable[[Redis], Awaitable[T]]) -> T:
    from redis import asyncio as redis_asyncio  # only deployments with ASSAY_REDIS_URL pay for the import

    client = redis_asyncio.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return await call(client)
    finally:
        await client.aclose()


async def redis_reachable(redis_url: str) -> bool:
    try:
        return bool(await _redis_call(redis_url, lambda client: client.ping()))
    except Exception:  # noqa: BLE001 - any failure means "not reachable" to a load balancer
        return False


async def redis_facts(redis_url: str) -> RedisFacts:
    try:
        info = await _redis_call(redis_url, lambda client: client.info())
    except Exception:  # noqa: BLE001 - an admin sees "unreachable", not a failed query
        return RedisFacts(reachable=False)
    return RedisFacts(
        reachable=True,
        version=str(info.get("redis_version", "")),
        used_memory_bytes=int(info.get("used_memory", 0)),
        connected_clients=int(info.get("connected_clients", 0)),
    )
