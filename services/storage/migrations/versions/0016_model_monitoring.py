"""model monitoring: served rows per model and time window, monitors and their alerts

Plain new tables: downgrade drops them (recorded windows and alerts go with them).

Revision ID: 3a2100ae4b11
Revises: c42d40939862
Create Date: 2026-12-05 20:30:29.288320
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "3a2100ae4b11"
down_revision = "c42d40939862"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_monitor",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("drift_share_threshold", sa.Float(), nullable=True),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("evaluated_through", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_id"),
    )
    with op.batch_alter_table("model_monitor", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_monitor_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_monitor_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "monitor_window",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("window_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("writer", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("request_count", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("prediction_counts", sa.JSON(), nullable=False),
        sa.Column("sample", sa.Text(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_id", "window_start", "writer"),
    )
    with op.batch_alter_table("monitor_window", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_window_model_start", ["model_id", "window_start"], unique=False)
        batch_op.create_index(batch_op.f("ix_monitor_window_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_monitor_window_window_start"), ["window_start"], unique=False)

    op.create_table(
        "model_alert",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("monitor_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("window_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("window_end", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("drift_share", sa.Float(), nullable=False),
        sa.Column("drift_share_threshold", sa.Float(), nullable=False),
        sa.Column("drifted_features", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["monitor_id"], ["model_monitor.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("monitor_id", "window_start"),
    )
    with op.batch_alter_table("model_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_alert_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_alert_monitor_id"), ["monitor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_alert_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_alert_window_start"), ["window_start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_alert_window_start"))
        batch_op.drop_index(batch_op.f("ix_model_alert_owner_id"))
        batch_op.drop_index(batch_op.f("ix_model_alert_monitor_id"))
        batch_op.drop_index(batch_op.f("ix_model_alert_created_at"))

    op.drop_table("model_alert")
    with op.batch_alter_table("monitor_window", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_window_window_start"))
        batch_op.drop_index(batch_op.f("ix_monitor_window_owner_id"))
        batch_op.drop_index("ix_monitor_window_model_start")

    op.drop_table("monitor_window")
    with op.batch_alter_table("model_monitor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_monitor_owner_id"))
        batch_op.drop_index(batch_op.f("ix_model_monitor_created_at"))

    op.drop_table("model_monitor")
