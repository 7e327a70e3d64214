"""webhooks: users' endpoints and the outbox of their deliveries

Plain new tables: downgrade drops them (with any deliveries still queued).

Create Date: 2026-12-05 20:30:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from services.storage.migrations import columns

revision = "c3a428782634"
down_revision = "48d832d3abf8"

WEBHOOK = columns.NewTable("webhook", "created_at", "owner_id")
WEBHOOK_DELIVERY = columns.NewTable(
    "webhook_delivery",
    "created_at",
    "owner_id",
    ix_webhook_delivery_due=["status", "next_attempt_at"],
    ix_webhook_delivery_webhook_created=["webhook_id", "created_at"],
)


def upgrade() -> None:
    WEBHOOK.create(
        *columns.owned_record_columns(),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("job_kinds", sa.JSON(), nullable=False),
        sa.Column("job_statuses", sa.JSON(), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        columns.owner_key(),
    )

    WEBHOOK_DELIVERY.create(
        *columns.record_columns(),
        columns.reference_column("webhook_id"),
        columns.reference_column("owner_id"),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        columns.status_column(),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lease_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("leased_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("delivered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        columns.owner_key(),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook.id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    columns.drop_new_tables(WEBHOOK, WEBHOOK_DELIVERY)
