"""Accounts: register, log in, rotate refresh tokens, and load the caller from a token."""
from __future__ import annotations

from services import auth
from services.auth import TokenPair
from services.errors import ErrorCode, ServiceError
from services.storage.tables import User

from resolvers.context import AppState, Context

_RATE_LIMITED = ServiceError(ErrorCode.RATE_LIMITED, "Too many failed logins; try again later")


def _issue_args(ctx: Context) -> dict:
    settings = ctx.settings
    return {"secret": settings.resolved_secret_key, "access_minutes": settings.access_token_minutes,
            "refresh_days": settings.refresh_token_days}


async def register(ctx: Context, *, email: str, password: str) -> TokenPair:
    if not ctx.settings.open_registration:
        raise ServiceError(ErrorCode.FORBIDDEN, "Registration is closed on this server")
    async with ctx.session() as session:
        user = await auth.create_user(session=session, email=email, password=password)
        return await auth.issue_tokens(session=session, user=user, **_issue_args(ctx))


async def login(ctx: Context, *, email: str, password: str) -> TokenPair:
    """Same answer for an unknown email and a wrong password; failures are rate limited both ways."""
    account_key, address_key = auth.normalize_email(email), ctx.client_address
    by_account, by_address = ctx.app.login_failures_by_account, ctx.app.login_failures_by_address
    if await by_account.is_exceeded(account_key) or await by_address.is_exceeded(address_key):
        raise _RATE_LIMITED
    async with ctx.session() as session:
        user = await auth.authenticate(session=session, email=email, password=password)
        if user is None:
            await by_account.hit(account_key)
            await by_address.hit(address_key)
            raise ServiceError(ErrorCode.UNAUTHENTICATED, "Wrong email or password")
        await by_account.reset(account_key)
        return await auth.issue_tokens(session=session, user=user, **_issue_args(ctx))


async def refresh(ctx: Context, *, refresh_token: str) -> TokenPair:
    async with ctx.session() as session:
        return await auth.rotate_refresh_token(session=session, refresh_token=refresh_token, **_issue_args(ctx))


async def user_from_authorization(app: AppState, authorization: str | None) -> User | None:
    """The user a `Bearer <access token>` value names, or None for anything else."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    user_id = auth.decode_access_token(authorization[7:].strip(), secret=app.settings.resolved_secret_key)
    if user_id is None:
        return None
    async with app.sessions() as session:
        return await session.get(User, user_id)
