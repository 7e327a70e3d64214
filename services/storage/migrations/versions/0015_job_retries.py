"""job retries, priorities and telemetry; temporary datasets

New nullable or defaulted columns only: existing jobs read as NORMAL priority with no retries, and
existing datasets never expire. Downgrade drops them.

Create Date: 2026-12-05 20:45:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "c42d40939862"
down_revision = "af8eff764dd0"


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sqlmodel.sql.sqltypes.AutoString(length=8), server_default="NORMAL", nullable=False)
        )
        batch_op.add_column(sa.Column("retries", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("attempts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("telemetry", sa.JSON(), nullable=True))
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_dataset_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_expires_at"))
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_column("telemetry")
        batch_op.drop_column("attempts")
        batch_op.drop_column("retries")
        batch_op.drop_column("priority")
