"""Account operations."""
from __future__ import annotations

import strawberry

from resolvers import users as user_resolvers
from resolvers.permissions import IsAuthenticated
from services.auth import TokenPair
from services.errors import ServiceError

from schema.common import user_error
from schema.users import AuthPayload, LoginInput, RefreshTokenInput, RegisterInput, User


def _auth_payload(tokens: TokenPair) -> AuthPayload:
    return AuthPayload(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                       user=User.from_row(tokens.user))


@strawberry.type
class UsersQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The caller")
    def me(self, info: strawberry.Info) -> User | None:
        return User.from_row(info.context.user)


@strawberry.type
class UsersMutation:
    @strawberry.mutation(description="Create an account and log in (when registration is open)")
    async def register(self, info: strawberry.Info, input: RegisterInput) -> AuthPayload:
        try:
            return _auth_payload(await user_resolvers.register(info.context, email=input.email, password=input.password))
        except ServiceError as exc:
            return AuthPayload(errors=[user_error(exc)])

    @strawberry.mutation
    async def login(self, info: strawberry.Info, input: LoginInput) -> AuthPayload:
        try:
            return _auth_payload(await user_resolvers.login(info.context, email=input.email, password=input.password))
        except ServiceError as exc:
            return AuthPayload(errors=[user_error(exc)])

    @strawberry.mutation(description="Swap a refresh token for a new pair; each refresh token works once")
    async def refresh_token(self, info: strawberry.Info, input: RefreshTokenInput) -> AuthPayload:
        try:
            return _auth_payload(await user_resolvers.refresh(info.context, refresh_token=input.refresh_token))
        except ServiceError as exc:
            return AuthPayload(errors=[user_error(exc)])
