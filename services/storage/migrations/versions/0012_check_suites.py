"""check suites: saved data checks drafted from a profile, and the validations that ran them

Plain new tables, nothing converted: downgrade drops them (and the validation history with them).

Create Date: 2026-12-05 20:30:15
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from services.storage.migrations.columns import NewTable, dataset_key, job_key, owned_record_columns, owner_key

revision = "48d832d3abf8"
down_revision = "4b7f2d9c1e60"

CHECK_SUITE = NewTable(
    "check_suite", "created_at", "dataset_id", "owner_id", ix_check_suite_owner_created=["owner_id", "created_at"]
)
VALIDATION = NewTable(
    "validation",
    "created_at",
    "dataset_id",
    "owner_id",
    "suite_id",
    ix_validation_owner_created=["owner_id", "created_at"],
)


def upgrade() -> None:
    CHECK_SUITE.create(
        *owned_record_columns(),
        sa.Column("dataset_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        dataset_key(ondelete="SET NULL"),
        owner_key(),
    )

    VALIDATION.create(
        *owned_record_columns(),
        sa.Column("dataset_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("suite_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        dataset_key(),
        job_key(),
        owner_key(),
        sa.ForeignKeyConstraint(["suite_id"], ["check_suite.id"], ondelete="SET NULL"),
    )


def downgrade() -> None:
    VALIDATION.drop()
    CHECK_SUITE.drop()
