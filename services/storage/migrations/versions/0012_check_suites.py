"""check suites: saved data checks drafted from a profile, and the validations that ran them

Plain new tables, nothing converted: downgrade drops them (and the validation history with them).

Create Date: 2026-12-05 20:30:15
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from services.storage.migrations import columns

revision = "48d832d3abf8"
down_revision = "4b7f2d9c1e60"

CHECK_SUITE = columns.NewTable(
    "check_suite", "created_at", "dataset_id", "owner_id", ix_check_suite_owner_created=["owner_id", "created_at"]
)
VALIDATION = columns.NewTable(
    "validation",
    "created_at",
    "dataset_id",
    "owner_id",
    "suite_id",
    ix_validation_owner_created=["owner_id", "created_at"],
)


def upgrade() -> None:
    CHECK_SUITE.create(
        *columns.owned_record_columns(),
        columns.reference_column("dataset_id", nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        columns.dataset_key(ondelete="SET NULL"),
        columns.owner_key(),
    )

    VALIDATION.create(
        *columns.owned_record_columns(),
        columns.reference_column("dataset_id"),
        columns.reference_column("suite_id", nullable=True),
        columns.reference_column("job_id", nullable=True),
        columns.status_column(),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        columns.error_column(),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        columns.dataset_key(),
        columns.job_key(),
        columns.owner_key(),
        sa.ForeignKeyConstraint(["suite_id"], ["check_suite.id"], ondelete="SET NULL"),
    )


def downgrade() -> None:
    columns.drop_new_tables(CHECK_SUITE, VALIDATION)
