"""model monitoring: served rows per model and time window, monitors and their alerts

Plain new tables: downgrade drops them (recorded windows and alerts go with them).

Create Date: 2026-12-05 20:30:29.288320
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from services.storage.migrations import columns

revision = "3a2100ae4b11"
down_revision = "c42d40939862"

MODEL_MONITOR = columns.NewTable("model_monitor", "created_at", "owner_id")
MONITOR_WINDOW = columns.NewTable(
    "monitor_window", "owner_id", "window_start", ix_monitor_window_model_start=["model_id", "window_start"]
)
MODEL_ALERT = columns.NewTable("model_alert", "created_at", "monitor_id", "owner_id", "window_start")


def upgrade() -> None:
    MODEL_MONITOR.create(
        *columns.owned_record_columns(),
        columns.reference_column("model_id"),
        sa.Column("drift_share_threshold", sa.Float(), nullable=True),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("evaluated_through", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], ondelete="CASCADE"),
        columns.owner_key(),
        sa.UniqueConstraint("model_id"),
    )

    MONITOR_WINDOW.create(
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        columns.reference_column("owner_id"),
        columns.reference_column("model_id"),
        sa.Column("window_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("writer", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("request_count", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("prediction_counts", sa.JSON(), nullable=False),
        sa.Column("sample", sa.Text(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], ondelete="CASCADE"),
        columns.owner_key(),
        sa.UniqueConstraint("model_id", "window_start", "writer"),
    )

    MODEL_ALERT.create(
        *columns.owned_record_columns(),
        columns.reference_column("monitor_id"),
        columns.reference_column("model_id"),
        sa.Column("window_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("window_end", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("drift_share", sa.Float(), nullable=False),
        sa.Column("drift_share_threshold", sa.Float(), nullable=False),
        sa.Column("drifted_features", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["monitor_id"], ["model_monitor.id"], ondelete="CASCADE"),
        columns.owner_key(),
        sa.UniqueConstraint("monitor_id", "window_start"),
    )


def downgrade() -> None:
    columns.drop_new_tables(MODEL_MONITOR, MONITOR_WINDOW, MODEL_ALERT)
