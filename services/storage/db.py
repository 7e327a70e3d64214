"""Engine, sessions and migrations. SQLite runs in WAL mode with a busy timeout and foreign keys on;
PostgreSQL gets a sized connection pool, and replicas starting together migrate once under an advisory lock."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_lock key that serialises migrations across replicas (any constant bigint; this is "assay" in ASCII)
MIGRATION_LOCK_KEY = 0x6173736179


@dataclass(frozen=True)
class PoolSettings:
    size: int = 10
    max_overflow: int = 20
    recycle_seconds: float = 3600


def _set_sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def create_engine(database_url: str, pool: PoolSettings | None = None) -> AsyncEngine:
    if is_sqlite(database_url):
        engine = create_async_engine(database_url, pool_pre_ping=True)
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    pool = pool or PoolSettings()
    return create_async_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_recycle=pool.recycle_seconds,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def migration_url(database_url: str) -> str:
    """SQLite migrates through the sync driver (today's speed); PostgreSQL through asyncpg, the only driver we ship."""
    url = make_url(database_url)
    if url.drivername == "sqlite+aiosqlite":
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=False)


def migrate(database_url: str) -> None:
    """Bring the database to the newest revision (idempotent; run it off the event loop)."""
    command.upgrade(_alembic_config(database_url), "head")


def downgrade(database_url: str, revision: str) -> None:
    """Step the schema back (tests of `initializeDatabase`, and operators undoing a release)."""
    command.downgrade(_alembic_config(database_url), revision)


def _alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.set_main_option("sqlalchemy.url", migration_url(database_url).replace("%", "%%"))
    return config


@cache
def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
