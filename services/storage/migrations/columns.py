"""What the migrations' new tables share: the columns every stored record starts with, its owner, its indexes.

Autogenerate spelled these out again in every `op.create_table`; named once here, a migration shows only what
is new in its tables. They emit the same DDL as the spelled-out calls, in the same order (SQLite keeps the
CREATE TABLE text as written): `alembic upgrade head` dumps the same schema on SQLite and PostgreSQL with them.
Migrations that exist must never change what they create, so these never change either: a new shape is a new
function."""

from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


def record_columns() -> list[sa.Column[Any]]:
    """id, created_at, updated_at: services.storage.tables.TimestampedBase, in its column order."""
    return [
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    ]


def owned_record_columns() -> list[sa.Column[Any]]:
    """The base record, then the user it belongs to (see owner_key)."""
    return [*record_columns(), sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False)]


def owner_key() -> sa.ForeignKeyConstraint:
    """A user's rows go with the user."""
    return sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE")


def _indexes(table: str, columns: tuple[str, ...], composite: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """ix_<table>_<column> for each column plus the composite ones by name, in name order (autogenerate's)."""
    return sorted([(f"ix_{table}_{column}", [column]) for column in columns] + list(composite.items()))


def create_indexes(table: str, *columns: str, unique: tuple[str, ...] = (), **composite: list[str]) -> None:
    """Index `table` on each of `columns` (those in `unique` unique) and on each named composite column list."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, indexed in _indexes(table, columns, composite):
            batch_op.create_index(name, indexed, unique=indexed[0] in unique and len(indexed) == 1)


def drop_table(table: str, *columns: str, **composite: list[str]) -> None:
    """Undo create_table + create_indexes (called with the same arguments): its indexes, newest first, then it."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, _ in reversed(_indexes(table, columns, composite)):
            batch_op.drop_index(name)
    op.drop_table(table)
