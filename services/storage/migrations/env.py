"""Alembic environment: runs against the URL the caller put in the config."""
from alembic import context
from sqlalchemy import engine_from_config, event, pool
from sqlmodel import SQLModel

from services.storage import tables  # noqa: F401  (registers the tables on the metadata)
from services.storage.db import _set_sqlite_pragmas

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
