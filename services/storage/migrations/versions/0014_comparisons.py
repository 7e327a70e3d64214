"""comparisons: two dataset versions compared by a COMPARE job (services.comparison)

A plain new table: downgrade drops it (its reports and overlays under comparisons/ become orphans).

Create Date: 2026-12-05 20:45:00
"""

import sqlalchemy as sa
from alembic import op

from services.storage.migrations import columns

revision = "af8eff764dd0"
down_revision = "c3a428782634"

# Its indexes were written out below in an order of their own, which SQLite keeps: not columns.NewTable's.
COMPARISON = columns.NewTable("comparison")


def upgrade() -> None:
    COMPARISON.create(
        *columns.owned_record_columns(),
        columns.reference_column("reference_id"),
        columns.reference_column("current_id"),
        columns.reference_column("job_id", nullable=True),
        sa.Column("drift_share", sa.Float(), nullable=False),
        sa.Column("dataset_drift", sa.Boolean(), nullable=False),
        sa.Column("drifted_count", sa.Integer(), nullable=False),
        sa.Column("tested_count", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["current_id"], ["dataset.id"], ondelete="CASCADE"),
        columns.job_key(),
        columns.owner_key(),
        sa.ForeignKeyConstraint(["reference_id"], ["dataset.id"], ondelete="CASCADE"),
    )
    with op.batch_alter_table("comparison", schema=None) as batch_op:
        batch_op.create_index("ix_comparison_owner_created", ["owner_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_comparison_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_comparison_current_id"), ["current_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_comparison_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_comparison_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_comparison_reference_id"), ["reference_id"], unique=False)


def downgrade() -> None:
    COMPARISON.drop()
