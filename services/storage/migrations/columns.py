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


class TableIndexes:
    """A new table's indexes, declared once for its migration's upgrade (`create`) and downgrade
    (`drop_with_table`): ix_<table>_<column> for each of `columns` (those in `unique` unique), plus the composite
    ones by name. Created in name order, as autogenerate wrote them (SQLite lists indexes in creation order)."""

    def __init__(self, table: str, *columns: str, unique: tuple[str, ...] = (), **composite: list[str]) -> None:
        self.table = table
        self.unique = {f"ix_{table}_{column}" for column in unique}
        self.indexes = sorted([(f"ix_{table}_{column}", [column]) for column in columns] + list(composite.items()))

    def create(self) -> None:
        with op.batch_alter_table(self.table, schema=None) as batch_op:
            for name, indexed in self.indexes:
                batch_op.create_index(name, indexed, unique=name in self.unique)

    def drop_with_table(self) -> None:
        """The indexes, newest first, then the table."""
        with op.batch_alter_table(self.table, schema=None) as batch_op:
            for name, _ in reversed(self.indexes):
                batch_op.drop_index(name)
        op.drop_table(self.table)
