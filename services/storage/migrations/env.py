"""Alembic environment: runs against the URL the caller put in the config.

On PostgreSQL the whole upgrade holds a transaction-scoped advisory lock, so replicas that start together
against an empty database migrate once: the first one migrates, the others wait, then find it at head."""

import asyncio
import importlib
import logging.config

from alembic import context
from sqlalchemy import engine_from_config, event, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config
from sqlmodel import SQLModel

from services.storage import tables  # noqa: F401 - registers the tables on the metadata
from services.storage.db import MIGRATION_LOCK_KEY, _set_sqlite_pragmas, migration_url

config = context.config
target_metadata = SQLModel.metadata


def configure_from_settings() -> None:
    """The `alembic` command from the repository root: no URL given, so take the one Assay itself would use."""
    if config.get_main_option("sqlalchemy.url"):
        return
    if config.config_file_name:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    module_name, _, class_name = (config.get_main_option("assay_settings") or "").partition(":")
    if not class_name:
        raise RuntimeError("No database URL: pass one, or name the settings class as assay_settings in alembic.ini")
    settings = getattr(importlib.import_module(module_name), class_name)()
    config.set_main_option("sqlalchemy.url", migration_url(settings.resolved_database_url).replace("%", "%%"))


configure_from_settings()


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=connection.dialect.name == "sqlite"
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    section = config.get_section(config.config_ini_section, {})
    if "+asyncpg" in section.get("sqlalchemy.url", ""):
        asyncio.run(run_async_migrations())
        return
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    with engine.connect() as connection:
        run_migrations(connection)


run_migrations_online()
