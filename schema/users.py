"""Account types and inputs."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from schema.common import Connection, Node, payload, to_global_id
from schema.conversion import fields_of
from services.storage.tables import LoginEvent as LoginEventRow
from services.storage.tables import LoginSession as LoginSessionRow
from services.storage.tables import User as UserRow


@strawberry.enum
class Role(Enum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@strawberry.type
class User(Node):
    email: str
    role: Role
    created_at: datetime
    email_verified: bool = strawberry.field(description="Whether the account confirmed its current email address")
    last_login_at: datetime | None = strawberry.field(description="The last successful login")
    disabled: bool = strawberry.field(description="A disabled account cannot log in; its tokens stop working")

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(
            **fields_of(
                cls,
                row,
                id=to_global_id("User", row.id),
                email_verified=row.email_verified_at is not None,
                disabled=row.disabled_at is not None,
            )
        )


UserConnection = Connection[User]


@strawberry.type(description="One login of the account: its refresh tokens, until revoked or expired")
class LoginSession:
    id: strawberry.ID
    created_at: datetime
    last_used_at: datetime = strawberry.field(description="When its tokens were last refreshed")
    address: str | None
    user_agent: str | None
    current: bool = strawberry.field(description="The session of the token this request carried")

    @classmethod
    def from_row(cls, row: LoginSessionRow, current_id: str | None) -> LoginSession:
        return cls(
            **fields_of(cls, row, id=strawberry.ID(row.id), last_used_at=row.updated_at, current=row.id == current_id)
        )


@strawberry.type(description="A login attempt on the account")
class LoginEvent(Node):
    at: datetime
    address: str | None
    user_agent: str | None
    success: bool
    reason: str | None = strawberry.field(description="Why a failed attempt failed, e.g. WRONG_PASSWORD, DISABLED")

    @classmethod
    def from_row(cls, row: LoginEventRow) -> LoginEvent:
        return cls(**fields_of(cls, row, id=to_global_id("LoginEvent", row.id), at=row.created_at))


LoginEventConnection = Connection[LoginEvent]


@strawberry.input
class RegisterInput:
    email: str
    password: str = strawberry.field(description="At least 8 characters")


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input
class RefreshTokenInput:
    refresh_token: str


@payload(
    description="Tokens for a session: send the access token as 'Authorization: Bearer ...'. "
    "A refresh token works once; replaying it revokes the whole session."
)
class AuthPayload:
    access_token: str | None = None
    refresh_token: str | None = None
    user: User | None = None


@strawberry.input
class VerifyEmailInput:
    token: str = strawberry.field(description="The token from the verification mail")


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str = strawberry.field(description="At least 8 characters")


@strawberry.input
class ChangeEmailInput:
    password: str
    new_email: str


@strawberry.input
class LogoutInput:
    refresh_token: str | None = strawberry.field(
        default=None,
        description="Ends this token's session; without it, the session of the access token this request carries",
    )


@strawberry.input
class RevokeSessionInput:
    id: strawberry.ID


@strawberry.input
class SetUserRoleInput:
    user_id: strawberry.ID
    role: Role


@strawberry.input
class SetUserDisabledInput:
    user_id: strawberry.ID
    disabled: bool = True


@payload
class UserPayload:
    user: User | None = None


@payload
class RevokeSessionsPayload:
    revoked: int = 0
