"""maintenance: the row replicas compare-and-set to start one clean-up per period

A plain new table: downgrade drops it (the next tick after an upgrade recreates its row).

Create Date: 2026-12-05 18:30:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from services.storage.migrations import columns

revision = "4b7f2d9c1e60"
down_revision = "9e1a3c5b7d20"

MAINTENANCE_SCHEDULE = columns.NewTable("maintenance_schedule", key="name")


def upgrade() -> None:
    MAINTENANCE_SCHEDULE.create(
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("next_run_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    MAINTENANCE_SCHEDULE.drop()
