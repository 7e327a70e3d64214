"""accounts: email verification, login tracking, sessions, disabling

New on `user`: email_verified_at, last_login_at, disabled_at, and session_epoch (in every access token;
moving it ends every other session at once). New tables: login_session (one per login; refresh tokens
share its id as their family) and login_event (the login history). Accounts made before this revision
are unverified (NULL), which only matters where ASSAY_REQUIRE_VERIFIED_EMAIL is set.

Create Date: 2026-12-05 18:00:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from services.storage.migrations import columns

revision = "6d8e035bb675"
down_revision = "8d4c2a7e1f35"

LOGIN_EVENT = columns.NewTable("login_event", "created_at", ix_login_event_user_created=["user_id", "created_at"])
LOGIN_SESSION = columns.NewTable("login_session", "created_at", "user_id")


def upgrade() -> None:
    LOGIN_EVENT.create(
        *columns.user_record_columns(nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        columns.user_key(),
    )

    LOGIN_SESSION.create(
        *columns.user_record_columns(),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        columns.user_key(),
    )

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_login_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a batch copy of `user`: with foreign keys on,
    # dropping the old table in a copy-and-rename would cascade to every row that belongs to a user.
    for column in ("session_epoch", "disabled_at", "last_login_at", "email_verified_at"):
        op.drop_column("user", column)

    columns.drop_new_tables(LOGIN_EVENT, LOGIN_SESSION)
