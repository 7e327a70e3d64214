"""registry: registered models, their numbered versions, aliases, and the history of both

Plain new tables, nothing converted: downgrade drops them (and with them the registry's history).

Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from services.storage.migrations.columns import NewTable, owned_record_columns, owner_key, record_columns

revision = "9e1a3c5b7d20"
down_revision = "6d8e035bb675"

REGISTERED_MODEL = NewTable("registered_model", "created_at", "owner_id")
REGISTRY_EVENT = NewTable(
    "registry_event",
    "created_at",
    "owner_id",
    "registered_model_id",
    ix_registry_event_alias_time=["registered_model_id", "alias", "created_at"],
)
MODEL_VERSION = NewTable("model_version", "created_at", "model_id", "owner_id", "registered_model_id")
MODEL_ALIAS = NewTable("model_alias", "created_at", "model_version_id", "registered_model_id")


def upgrade() -> None:
    REGISTERED_MODEL.create(
        *owned_record_columns(),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        owner_key(),
        sa.UniqueConstraint("owner_id", "name"),
    )

    REGISTRY_EVENT.create(
        *record_columns(),
        sa.Column("registered_model_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("actor_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("alias", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], ondelete="SET NULL"),
        owner_key(),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
    )

    MODEL_VERSION.create(
        *record_columns(),
        sa.Column("registered_model_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("allow_signature_change", sa.Boolean(), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], ondelete="CASCADE"),
        owner_key(),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("registered_model_id", "version"),
    )

    MODEL_ALIAS.create(
        *record_columns(),
        sa.Column("registered_model_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("alias", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("model_version_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
        ),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("registered_model_id", "alias"),
    )


def downgrade() -> None:
    MODEL_ALIAS.drop()
    MODEL_VERSION.drop()
    REGISTRY_EVENT.drop()
    REGISTERED_MODEL.drop()
