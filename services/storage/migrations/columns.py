"""What the migrations' new tables share: the columns every stored record starts with, its owner, its keys, its
indexes.

Autogenerate spelled these out again in every `op.create_table`; named once here, a migration shows only what
is new in its tables. They emit the same DDL as the spelled-out calls, in the same order (SQLite keeps the
CREATE TABLE text as written): `alembic upgrade head` dumps the same schema on SQLite and PostgreSQL with them.
Migrations that exist must never change what they create, so these never change either: a new shape is a new
function. Migrations import the module (`from services.storage.migrations import columns`) and name its parts as
`columns.owner_key()`, as they name `sa.` and `op.`."""

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


def reference_column(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    """Another row's id (ids are new_id() strings: AutoString without a length, as SQLModel maps the models' foreign
    keys); the constraint on it is given apart, with the table's other constraints."""
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def owned_record_columns() -> list[sa.Column[Any]]:
    """The base record, then the user it belongs to (see owner_key)."""
    return [*record_columns(), reference_column("owner_id")]


def user_record_columns(*, nullable: bool = False) -> list[sa.Column[Any]]:
    """The base record, then the user it is about: a login, a session, a refresh token (see user_key). Not owned
    data: the user never lists or names these rows, they record how the user signed in."""
    return [*record_columns(), reference_column("user_id", nullable=nullable)]


def status_column() -> sa.Column[Any]:
    """Where a job, or what a job makes, is in its life (QUEUED, RUNNING, READY, FAILED ...): 16 characters."""
    return sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False)


def error_column() -> sa.Column[Any]:
    """Why it failed, set only when it did."""
    return sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True)


def owner_key() -> sa.ForeignKeyConstraint:
    """A user's rows go with the user."""
    return sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE")


def user_key() -> sa.ForeignKeyConstraint:
    """A user's logins, sessions and tokens go with the user."""
    return sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE")


def job_key() -> sa.ForeignKeyConstraint:
    """The job that made a record: deleting the job leaves what it made."""
    return sa.ForeignKeyConstraint(["job_id"], ["job.id"], ondelete="SET NULL")


def dataset_key(ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    """The dataset a record is about: by default the record goes with it."""
    return sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete=ondelete)


class NewTable:
    """A table a migration creates, declared once for its upgrade (`create`) and downgrade (`drop`): its name, its
    primary key (`key`), and its indexes: ix_<table>_<column> for each of `columns` (those in `unique` unique),
    plus the composite ones by name. Indexes are created in name order, as autogenerate wrote them (SQLite lists
    indexes in creation order)."""

    def __init__(
        self, table: str, *columns: str, key: str = "id", unique: tuple[str, ...] = (), **composite: list[str]
    ) -> None:
        self.table = table
        self.key = key
        self.unique = {f"ix_{table}_{column}" for column in unique}
        self.indexes = sorted([(f"ix_{table}_{column}", [column]) for column in columns] + list(composite.items()))

    def create(self, *columns_and_constraints: sa.schema.SchemaItem) -> None:
        """The table, keyed by `key` (CREATE TABLE writes the primary key first wherever it is given), then its
        indexes."""
        op.create_table(self.table, *columns_and_constraints, sa.PrimaryKeyConstraint(self.key))
        if self.indexes:
            with op.batch_alter_table(self.table, schema=None) as batch_op:
                for name, indexed in self.indexes:
                    batch_op.create_index(name, indexed, unique=name in self.unique)

    def drop(self) -> None:
        """The indexes, newest first, then the table."""
        if self.indexes:
            with op.batch_alter_table(self.table, schema=None) as batch_op:
                for name, _ in reversed(self.indexes):
                    batch_op.drop_index(name)
        op.drop_table(self.table)


def drop_new_tables(*tables: NewTable) -> None:
    """The downgrade of a migration that created `tables` in this order: the newest first, so that no table is
    dropped while a later one still refers to it."""
    for table in reversed(tables):
        table.drop()
