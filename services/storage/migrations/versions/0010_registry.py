"""registry: registered models, their numbered versions, aliases, and the history of both

Plain new tables, nothing converted: downgrade drops them (and with them the registry's history).

Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from services.storage.migrations import columns

revision = "9e1a3c5b7d20"
down_revision = "6d8e035bb675"

REGISTERED_MODEL = columns.NewTable("registered_model", "created_at", "owner_id")
REGISTRY_EVENT = columns.NewTable(
    "registry_event",
    "created_at",
    "owner_id",
    "registered_model_id",
    ix_registry_event_alias_time=["registered_model_id", "alias", "created_at"],
)
MODEL_VERSION = columns.NewTable("model_version", "created_at", "model_id", "owner_id", "registered_model_id")
MODEL_ALIAS = columns.NewTable("model_alias", "created_at", "model_version_id", "registered_model_id")


def upgrade() -> None:
    REGISTERED_MODEL.create(
        *columns.owned_record_columns(),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        columns.owner_key(),
        sa.UniqueConstraint("owner_id", "name"),
    )

    REGISTRY_EVENT.create(
        *columns.record_columns(),
        columns.reference_column("registered_model_id"),
        columns.reference_column("owner_id"),
        columns.reference_column("actor_id", nullable=True),
        sa.Column("actor_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("alias", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], ondelete="SET NULL"),
        columns.owner_key(),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
    )

    MODEL_VERSION.create(
        *columns.record_columns(),
        columns.reference_column("registered_model_id"),
        columns.reference_column("owner_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        columns.reference_column("model_id"),
        sa.Column("signature", sa.JSON(), nullable=False),
        columns.reference_column("created_by_id", nullable=True),
        sa.Column("allow_signature_change", sa.Boolean(), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], ondelete="CASCADE"),
        columns.owner_key(),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("registered_model_id", "version"),
    )

    MODEL_ALIAS.create(
        *columns.record_columns(),
        columns.reference_column("registered_model_id"),
        sa.Column("alias", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        columns.reference_column("model_version_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
        ),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("registered_model_id", "alias"),
    )


def downgrade() -> None:
    columns.drop_new_tables(REGISTERED_MODEL, REGISTRY_EVENT, MODEL_VERSION, MODEL_ALIAS)
