"""pipeline schedules and run triggers

Create Date: 2026-11-30 04:10:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "7b2e41f0a9c3"
down_revision = "6a1f0c2d9e47"


def upgrade() -> None:
    with op.batch_alter_table("pipeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("schedule_paused", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("next_run_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_pipeline_next_run_at"), ["next_run_at"], unique=False)
    with op.batch_alter_table("pipeline_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="MANUAL")
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_run", schema=None) as batch_op:
        batch_op.drop_column("trigger")
    with op.batch_alter_table("pipeline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_next_run_at"))
        batch_op.drop_column("next_run_at")
        batch_op.drop_column("schedule_paused")
        batch_op.drop_column("schedule_seconds")
