"""Accounts: register, log in, rotate refresh tokens, and load the caller from a token."""
from __future__ import annotations

import strawberry

from services import auth
from services.auth import TokenPair
from services.errors import ErrorCode, ServiceError
from services.storage.tables import User as UserRow

from resolvers.context import AppState, Context
from resolvers.fields import mutation, query
from schema.users import AuthPayload, LoginInput, RefreshTokenInput, RegisterInput, User

_RATE_LIMITED = ServiceError(ErrorCode.RATE_LIMITED, "Too many failed logins; try again later")


def _issue_args(ctx: Context) -> dict:
    settings = ctx.settings
    return {"secret": settings.resolved_secret_key, "access_minutes": settings.access_token_minutes,
            "refresh_days": settings.refresh_token_days}


def _auth_payload(tokens: TokenPair) -> AuthPayload:
    return AuthPayload(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                       user=User.from_row(tokens.user))


@strawberry.type
class UsersQuery:
    @query(description="The caller")
    def me(self, info: strawberry.Info) -> User | None:
        return User.from_row(info.context.user)


@strawberry.type
class UsersMutation:
    @mutation(public=True, description="Create an account and log in (when registration is open)")
    async def register(self, info: strawberry.Info, input: RegisterInput) -> AuthPayload:
        ctx: Context = info.context
        if not ctx.settings.open_registration:
            raise ServiceError(ErrorCode.FORBIDDEN, "Registration is closed on this server")
        async with ctx.session() as session:
            user = await auth.create_user(session=session, email=input.email, password=input.password)
            return _auth_payload(await auth.issue_tokens(session=session, user=user, **_issue_args(ctx)))

    @mutation(public=True)
    async def login(self, info: strawberry.Info, input: LoginInput) -> AuthPayload:
        # Same answer for an unknown email and a wrong password; failures are rate limited both ways.
        ctx: Context = info.context
        account_key, address_key = auth.normalize_email(input.email), ctx.client_address
        by_account, by_address = ctx.app.login_failures_by_account, ctx.app.login_failures_by_address
        if await by_account.is_exceeded(account_key) or await by_address.is_exceeded(address_key):
            raise _RATE_LIMITED
        async with ctx.session() as session:
            user = await auth.authenticate(session=session, email=input.email, password=input.password)
            if user is None:
                await by_account.hit(account_key)
                await by_address.hit(address_key)
                raise ServiceError(ErrorCode.UNAUTHENTICATED, "Wrong email or password")
            await by_account.reset(account_key)
            return _auth_payload(await auth.issue_tokens(session=session, user=user, **_issue_args(ctx)))

    @mutation(public=True, description="Swap a refresh token for a new pair; each refresh token works once")
    async def refresh_token(self, info: strawberry.Info, input: RefreshTokenInput) -> AuthPayload:
        async with info.context.session() as session:
            return _auth_payload(await auth.rotate_refresh_token(session=session, refresh_token=input.refresh_token,
                                                                 **_issue_args(info.context)))


async def user_from_authorization(app: AppState, authorization: str | None) -> UserRow | None:
    """The user a `Bearer <access token>` value names, or None for anything else."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    user_id = auth.decode_access_token(authorization[7:].strip(), secret=app.settings.resolved_secret_key)
    if user_id is None:
        return None
    async with app.sessions() as session:
        return await session.get(UserRow, user_id)
