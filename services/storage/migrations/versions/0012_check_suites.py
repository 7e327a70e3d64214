"""check suites: saved data checks drafted from a profile, and the validations that ran them

Plain new tables, nothing converted: downgrade drops them (and the validation history with them).

Create Date: 2026-12-05 20:30:15
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from services.storage.migrations.columns import TableIndexes, owned_record_columns, owner_key

revision = "48d832d3abf8"
down_revision = "4b7f2d9c1e60"

CHECK_SUITE_INDEXES = TableIndexes(
    "check_suite", "created_at", "dataset_id", "owner_id", ix_check_suite_owner_created=["owner_id", "created_at"]
)
VALIDATION_INDEXES = TableIndexes(
    "validation",
    "created_at",
    "dataset_id",
    "owner_id",
    "suite_id",
    ix_validation_owner_created=["owner_id", "created_at"],
)


def upgrade() -> None:
    op.create_table(
        "check_suite",
        *owned_record_columns(),
        sa.Column("dataset_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="SET NULL"),
        owner_key(),
        sa.PrimaryKeyConstraint("id"),
    )
    CHECK_SUITE_INDEXES.create()

    op.create_table(
        "validation",
        *owned_record_columns(),
        sa.Column("dataset_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("suite_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], ondelete="SET NULL"),
        owner_key(),
        sa.ForeignKeyConstraint(["suite_id"], ["check_suite.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    VALIDATION_INDEXES.create()


def downgrade() -> None:
    VALIDATION_INDEXES.drop_with_table()
    CHECK_SUITE_INDEXES.drop_with_table()
