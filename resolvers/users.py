"""Accounts: register, log in, rotate refresh tokens, verify email, manage sessions and the profile; admins
manage accounts. And: load the caller from a token."""

from __future__ import annotations

import asyncio
import logging

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from resolvers.context import AppState, Context
from resolvers.fields import mutation, query
from schema.common import raw_id
from schema.domain import GraphQLDomain
from schema.users import (
    AuthPayload,
    ChangeEmailInput,
    ChangePasswordInput,
    LoginEvent,
    LoginEventConnection,
    LoginInput,
    LoginSession,
    LogoutInput,
    RefreshTokenInput,
    RegisterInput,
    RevokeSessionInput,
    RevokeSessionsPayload,
    SetUserDisabledInput,
    SetUserRoleInput,
    User,
    UserConnection,
    UserPayload,
    VerifyEmailInput,
)
from services import accounts, auth
from services.auth import TokenPair
from services.errors import ErrorCode, ServiceError
from services.storage.tables import User as UserRow

logger = logging.getLogger("assay.accounts")
_background: set[asyncio.Task] = set()  # mail being sent: held so it is not collected mid-send

_RATE_LIMITED = ServiceError(ErrorCode.RATE_LIMITED, "Too many failed logins; try again later")


def _issue_args(ctx: Context) -> dict:
    settings = ctx.settings
    return {
        "policy": auth.TokenPolicy(
            secret=settings.resolved_secret_key,
            access_minutes=settings.access_token_minutes,
            refresh_days=settings.refresh_token_days,
        )
    }


def _auth_payload(tokens: TokenPair) -> AuthPayload:
    return AuthPayload(
        access_token=tokens.access_token, refresh_token=tokens.refresh_token, user=User.from_row(tokens.user)
    )


def _client(ctx: Context) -> dict:
    """Where a login comes from, for its session and the login history."""
    agent = (
        ctx.request.headers.get("user-agent") if ctx.request is not None and hasattr(ctx.request, "headers") else None
    )
    return {"address": ctx.client_address, "user_agent": agent}


def _current_session_id(ctx: Context) -> str | None:
    headers = getattr(ctx.request, "headers", None)
    value = headers.get("authorization", "") if headers is not None else ""
    claims = (
        auth.decode_access_token(value[7:].strip(), secret=ctx.settings.resolved_secret_key)
        if value.lower().startswith("bearer ")
        else None
    )
    return claims.session_id if claims else None


def _mailer(ctx: Context) -> accounts.Mailer:
    s = ctx.settings
    password = s.smtp_password.get_secret_value() if s.smtp_password else None
    return accounts.Mailer(
        host=s.smtp_host,
        port=s.smtp_port,
        username=s.smtp_username,
        password=password,
        sender=s.smtp_from,
        starttls=s.smtp_starttls,
    )


def _send_verification(ctx: Context, user: UserRow) -> None:
    """Off the request path: a slow or down mail server never delays or fails the mutation."""
    settings = ctx.settings
    subject, body = accounts.verification_mail(
        user=user,
        secret=settings.resolved_secret_key,
        public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
    )
    to, mailer = user.email, _mailer(ctx)

    def send() -> None:
        try:
            mailer.send(to=to, subject=subject, body=body)
        except OSError:
            logger.exception("The verification mail to %s could not be sent", to)

    task = asyncio.get_running_loop().create_task(asyncio.to_thread(send))
    _background.add(task)
    task.add_done_callback(_background.discard)


class UsersQuery:
    @query(description="The caller", unverified_ok=True)
    def me(self, info: strawberry.Info) -> User | None:
        return User.from_row(info.context.user)

    @query(
        description="The caller's live sessions (logins whose refresh tokens still work), newest use first",
        unverified_ok=True,
    )
    async def my_sessions(self, ctx: Context) -> list[LoginSession]:
        async with ctx.session() as session:
            rows = await accounts.list_sessions(session=session, user_id=ctx.user_id)
        current = _current_session_id(ctx)
        return [LoginSession.from_row(row, current) for row in rows]

    @query(
        description="The caller's login attempts, newest first: time, address, user agent, success", unverified_ok=True
    )
    async def login_history(
        self, ctx: Context, first: int | None = 20, after: str | None = None
    ) -> LoginEventConnection:
        async with ctx.session() as session:
            page = await accounts.login_history(session=session, user_id=ctx.user_id, **ctx.page(first, after))
        return LoginEventConnection.from_page(page, LoginEvent.from_row)

    @query(admin=True, description="ADMIN only. Every account, newest first; `search` matches the email")
    async def users(
        self, ctx: Context, first: int | None = 20, after: str | None = None, search: str | None = None
    ) -> UserConnection:
        async with ctx.session() as session:
            page = await accounts.list_users(session=session, search=search, **ctx.page(first, after))
        return UserConnection.from_page(page, User.from_row)


class UsersMutation:
    @mutation(public=True, description="Create an account and log in (when registration is open)")
    async def register(self, ctx: Context, input: RegisterInput) -> AuthPayload:
        if not ctx.settings.open_registration:
            raise ServiceError(ErrorCode.FORBIDDEN, "Registration is closed on this server")
        async with ctx.session() as session:
            user = await auth.create_user(session=session, email=input.email, password=input.password)
            tokens = await auth.issue_tokens(session=session, user=user, **_issue_args(ctx), **_client(ctx))
        _send_verification(ctx, user)
        return _auth_payload(tokens)

    @mutation(public=True)
    async def login(self, ctx: Context, input: LoginInput) -> AuthPayload:
        # Same answer for an unknown email and a wrong password; failures are rate limited both ways.
        account_key, address_key = auth.normalize_email(input.email), ctx.client_address
        by_account, by_address = ctx.app.login_failures_by_account, ctx.app.login_failures_by_address
        if await by_account.is_exceeded(account_key) or await by_address.is_exceeded(address_key):
            raise _RATE_LIMITED
        async with ctx.session() as session:
            user = await auth.authenticate(session=session, email=input.email, password=input.password)
            if user is None:
                await by_account.hit(account_key)
                await by_address.hit(address_key)
                known = await auth.find_user(session=session, email=input.email)
                await accounts.record_login(
                    session=session, user=known, success=False, reason="WRONG_PASSWORD", **_client(ctx)
                )
                raise ServiceError(ErrorCode.UNAUTHENTICATED, "Wrong email or password")
            if user.disabled_at is not None:
                await accounts.record_login(
                    session=session, user=user, success=False, reason="DISABLED", **_client(ctx)
                )
                raise ServiceError(ErrorCode.FORBIDDEN, "This account is disabled")
            await by_account.reset(account_key)
            await accounts.record_login(session=session, user=user, success=True, **_client(ctx))
            return _auth_payload(
                await auth.issue_tokens(session=session, user=user, **_issue_args(ctx), **_client(ctx))
            )

    @mutation(public=True, description="Swap a refresh token for a new pair; each refresh token works once")
    async def refresh_token(self, info: strawberry.Info, input: RefreshTokenInput) -> AuthPayload:
        async with info.context.session() as session:
            return _auth_payload(
                await auth.rotate_refresh_token(
                    session=session, refresh_token=input.refresh_token, **_issue_args(info.context)
                )
            )

    @mutation(public=True, description="Confirm an email address with the token its verification mail carried")
    async def verify_email(self, ctx: Context, input: VerifyEmailInput) -> UserPayload:
        async with ctx.session() as session:
            user = await accounts.verify_email(
                session=session, token=input.token, secret=ctx.settings.resolved_secret_key
            )
        return UserPayload(user=User.from_row(user))

    @mutation(description="Send the verification mail again (to the account's current address)", unverified_ok=True)
    async def resend_verification_email(self, ctx: Context) -> UserPayload:
        if ctx.signed_in.email_verified_at is None:
            _send_verification(ctx, ctx.signed_in)
        return UserPayload(user=User.from_row(ctx.signed_in))

    @mutation(
        description="Change the password: every other session ends at once; the answer carries new tokens for this one",
        unverified_ok=True,
    )
    async def change_password(self, ctx: Context, input: ChangePasswordInput) -> AuthPayload:
        async with ctx.session() as session:
            user = await _own_row(session, ctx)
            user = await accounts.change_password(
                session=session, user=user, current_password=input.current_password, new_password=input.new_password
            )
            return _auth_payload(
                await auth.issue_tokens(session=session, user=user, **_issue_args(ctx), **_client(ctx))
            )

    @mutation(
        description="Change the email address; the new one must be verified again (a mail is sent to it)",
        unverified_ok=True,
    )
    async def change_email(self, ctx: Context, input: ChangeEmailInput) -> UserPayload:
        async with ctx.session() as session:
            user = await _own_row(session, ctx)
            user = await accounts.change_email(
                session=session, user=user, password=input.password, new_email=input.new_email
            )
        _send_verification(ctx, user)
        return UserPayload(user=User.from_row(user))

    @mutation(
        description="End a session: the refresh token's, or this access token's. Its refresh tokens stop at "
        "once; its access tokens expire within ASSAY_ACCESS_TOKEN_MINUTES",
        unverified_ok=True,
    )
    async def logout(self, ctx: Context, input: LogoutInput | None = None) -> RevokeSessionsPayload:
        async with ctx.session() as session:
            family = None
            if input is not None and input.refresh_token:
                family = await auth.session_of_refresh_token(
                    session=session, refresh_token=input.refresh_token, user_id=ctx.user_id
                )
            family = family or _current_session_id(ctx)
            if family is None:
                raise ServiceError(
                    ErrorCode.INVALID_INPUT, "No session to end: send its refresh token", ["refreshToken"]
                )
            revoked = await accounts.revoke_sessions(session=session, user_id=ctx.user_id, session_ids=[family])
        return RevokeSessionsPayload(revoked=revoked)

    @mutation(description="End one of the caller's sessions (from mySessions)", unverified_ok=True)
    async def revoke_session(self, ctx: Context, input: RevokeSessionInput) -> RevokeSessionsPayload:
        async with ctx.session() as session:
            await accounts.revoke_session(session=session, user_id=ctx.user_id, session_id=str(input.id))
        return RevokeSessionsPayload(revoked=1)

    @mutation(admin=True, description="ADMIN only. Make an account ADMIN or MEMBER (not your own)")
    async def set_user_role(self, ctx: Context, input: SetUserRoleInput) -> UserPayload:
        async with ctx.session() as session:
            user = await accounts.set_role(
                session=session, actor=ctx.signed_in, user_id=raw_id(input.user_id, "User"), role=input.role.value
            )
        return UserPayload(user=User.from_row(user))

    @mutation(
        admin=True,
        description="ADMIN only. Disable (or re-enable) an account: it cannot log in, and its "
        "tokens stop working on every replica at its next request",
    )
    async def set_user_disabled(self, ctx: Context, input: SetUserDisabledInput) -> UserPayload:
        async with ctx.session() as session:
            user = await accounts.set_disabled(
                session=session, actor=ctx.signed_in, user_id=raw_id(input.user_id, "User"), disabled=input.disabled
            )
        return UserPayload(user=User.from_row(user))


async def user_from_authorization(app: AppState, authorization: str | None) -> UserRow | None:
    """The user a `Bearer <access token>` value names, or None for anything else — including the tokens of a
    disabled account and those issued before its last password change (the row is read on every request, so
    every replica refuses them at once)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    claims = auth.decode_access_token(authorization[7:].strip(), secret=app.settings.resolved_secret_key)
    if claims is None:
        return None
    async with app.sessions() as session:
        user = await session.get(UserRow, claims.user_id)
    return user if auth.accepts(user, claims) else None


async def _own_row(session: AsyncSession, ctx: Context) -> UserRow:
    """The caller's row, read afresh in this session (a deleted user's tokens are refused before this)."""
    user = await session.get(UserRow, ctx.user_id)
    assert user is not None, "the signed-in user has a row"
    return user


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="users", query=UsersQuery, mutation=UsersMutation)
