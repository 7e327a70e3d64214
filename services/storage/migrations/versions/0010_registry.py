"""registry: registered models, their numbered versions, aliases, and the history of both

Plain new tables, nothing converted: downgrade drops them (and with them the registry's history).

Revision ID: 9e1a3c5b7d20
Revises: 6d8e035bb675
Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "9e1a3c5b7d20"
down_revision = "6d8e035bb675"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_model",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "name"),
    )
    with op.batch_alter_table("registered_model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registered_model_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_registered_model_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "registry_event",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
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
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("registry_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registry_event_alias_time", ["registered_model_id", "alias", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registry_event_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_registry_event_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_registry_event_registered_model_id"), ["registered_model_id"], unique=False
        )

    op.create_table(
        "model_version",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
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
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("registered_model_id", "version"),
    )
    with op.batch_alter_table("model_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_version_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_version_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_version_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_version_registered_model_id"), ["registered_model_id"], unique=False)

    op.create_table(
        "model_alias",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("registered_model_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("alias", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("model_version_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
        ),
        sa.ForeignKeyConstraint(["registered_model_id"], ["registered_model.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("registered_model_id", "alias"),
    )
    with op.batch_alter_table("model_alias", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_alias_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_alias_model_version_id"), ["model_version_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_alias_registered_model_id"), ["registered_model_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_alias", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_alias_registered_model_id"))
        batch_op.drop_index(batch_op.f("ix_model_alias_model_version_id"))
        batch_op.drop_index(batch_op.f("ix_model_alias_created_at"))

    op.drop_table("model_alias")
    with op.batch_alter_table("model_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_version_registered_model_id"))
        batch_op.drop_index(batch_op.f("ix_model_version_owner_id"))
        batch_op.drop_index(batch_op.f("ix_model_version_model_id"))
        batch_op.drop_index(batch_op.f("ix_model_version_created_at"))

    op.drop_table("model_version")
    with op.batch_alter_table("registry_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_event_registered_model_id"))
        batch_op.drop_index(batch_op.f("ix_registry_event_owner_id"))
        batch_op.drop_index(batch_op.f("ix_registry_event_created_at"))
        batch_op.drop_index("ix_registry_event_alias_time")

    op.drop_table("registry_event")
    with op.batch_alter_table("registered_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registered_model_owner_id"))
        batch_op.drop_index(batch_op.f("ix_registered_model_created_at"))

    op.drop_table("registered_model")
