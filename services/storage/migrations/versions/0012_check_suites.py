"""check suites: saved data checks drafted from a profile, and the validations that ran them

Plain new tables, nothing converted: downgrade drops them (and the validation history with them).

Revision ID: 48d832d3abf8
Revises: 4b7f2d9c1e60
Create Date: 2026-12-05 20:30:15
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "48d832d3abf8"
down_revision = "4b7f2d9c1e60"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_suite",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("dataset_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("check_suite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_check_suite_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_suite_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index("ix_check_suite_owner_created", ["owner_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_check_suite_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "validation",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
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
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["suite_id"], ["check_suite.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("validation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_validation_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_validation_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index("ix_validation_owner_created", ["owner_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_validation_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_validation_suite_id"), ["suite_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("validation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_validation_suite_id"))
        batch_op.drop_index(batch_op.f("ix_validation_owner_id"))
        batch_op.drop_index("ix_validation_owner_created")
        batch_op.drop_index(batch_op.f("ix_validation_dataset_id"))
        batch_op.drop_index(batch_op.f("ix_validation_created_at"))

    op.drop_table("validation")
    with op.batch_alter_table("check_suite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_suite_owner_id"))
        batch_op.drop_index("ix_check_suite_owner_created")
        batch_op.drop_index(batch_op.f("ix_check_suite_dataset_id"))
        batch_op.drop_index(batch_op.f("ix_check_suite_created_at"))

    op.drop_table("check_suite")
