"""Account types and inputs."""
from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from services.storage.tables import User as UserRow

from schema.common import Node, UserError, to_global_id


@strawberry.enum
class Role(Enum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@strawberry.type
class User(Node):
    id: strawberry.ID
    email: str
    role: Role
    created_at: datetime

    @classmethod
    def from_row(cls, row: UserRow) -> "User":
        return cls(id=to_global_id("User", row.id), email=row.email, role=Role(row.role), created_at=row.created_at)


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


@strawberry.type(description="Tokens for a session: send the access token as 'Authorization: Bearer ...'. "
                             "A refresh token works once; replaying it revokes the whole session.")
class AuthPayload:
    access_token: str | None = None
    refresh_token: str | None = None
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
