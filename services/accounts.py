"""Account management beyond log-in (seed 002's user model and "profile management"): email verification,
login history, sessions, password and email changes, and what admins do to accounts.

A session is one login: its refresh tokens share the LoginSession's id as their family, and its access
tokens carry it as `sid`. Ending sessions at once uses two things every request already loads, the user
row: `disabled_at` refuses every token of a disabled account, and `session_epoch` (in every access token)
moves on a password change, so tokens from before it stop working on every replica at the next request.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import jwt
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import auth
from services.errors import ErrorCode, ServiceError, conflict, invalid, not_found
from services.pagination import Page, contains, paginate
from services.storage.tables import LoginEvent, LoginSession, RefreshToken, User, utcnow

logger = logging.getLogger("assay.accounts")

VERIFY_TYPE = "verify-email"
VERIFY_HOURS = 48
ROLES = ("ADMIN", "MEMBER")


@dataclass(frozen=True)
class Mailer:
    """Where mail goes: an SMTP server, or (host unset) the log, so `make run` shows the link instead."""

    host: str | None
    port: int = 587
    username: str | None = None
    password: str | None = None
    sender: str = "assay@localhost"
    starttls: bool = True
    timeout: float = 10

    def send(self, *, to: str, subject: str, body: str) -> None:
        """Blocking: call it off the event loop."""
        if not self.host:
            logger.info("No ASSAY_SMTP_HOST: the mail to %s is not sent. Subject: %s\n%s", to, subject, body)
            return
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


# ----------------------------------------------------------------------------------------- verification
def verification_token(*, user: User, secret: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": user.id,
        "email": user.email,
        "typ": VERIFY_TYPE,
        "iss": auth.ISSUER,
        "aud": auth.AUDIENCE,
        "iat": now,
        "exp": now + timedelta(hours=VERIFY_HOURS),
    }
    return jwt.encode(claims, secret, algorithm=auth.ALGORITHM)


def verification_mail(*, user: User, secret: str, public_url: str) -> tuple[str, str]:
    token = verification_token(user=user, secret=secret)
    body = (
        f"Confirm that {user.email} is your address on Assay ({public_url}).\n\n"
        f"Your verification token (valid for {VERIFY_HOURS} hours):\n\n{token}\n\n"
        f"Send it with this mutation, in GraphiQL at {public_url.rstrip('/')}/graphql or any client:\n\n"
        f'mutation {{ verifyEmail(input: {{token: "{token}"}}) '
        "{ user { email emailVerified } errors { code } } }\n"
    )
    return "Confirm your email address for Assay", body


async def verify_email(*, session: AsyncSession, token: str, secret: str) -> User:
    refused = ServiceError(ErrorCode.INVALID_INPUT, "The verification link is invalid or has expired", ["token"])
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[auth.ALGORITHM],
            audience=auth.AUDIENCE,
            issuer=auth.ISSUER,
            options={"require": ["exp", "sub", "email"]},
        )
    except jwt.PyJWTError:
        raise refused from None
    user = await session.get(User, claims["sub"]) if claims.get("typ") == VERIFY_TYPE else None
    if user is None or user.email != claims["email"]:  # a link sent to an address the account no longer has
        raise refused
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        session.add(user)
        await session.commit()
    return user


# ----------------------------------------------------------------------------------------- logins
async def record_login(
    *,
    session: AsyncSession,
    user: User | None,
    address: str | None,
    user_agent: str | None,
    success: bool,
    reason: str | None = None,
) -> None:
    """Failed attempts on an unknown email are not kept: there is no account whose history they belong to."""
    if user is None:
        return
    session.add(
        LoginEvent(
            user_id=user.id,
            address=auth.clipped(address, 64),
            user_agent=auth.clipped(user_agent, 512),
            success=success,
            reason=reason,
        )
    )
    if success:
        user.last_login_at = utcnow()
        session.add(user)
    await session.commit()


async def login_history(
    *, session: AsyncSession, user_id: str, first: int, after: str | None, max_first: int
) -> Page[LoginEvent]:
    return await paginate(
        session, LoginEvent, filters=[col(LoginEvent.user_id) == user_id], first=first, after=after, max_first=max_first
    )


async def list_sessions(*, session: AsyncSession, user_id: str) -> list[LoginSession]:
    """The account's live sessions (not revoked, a refresh token not yet expired), newest use first."""
    alive = select(RefreshToken.family_id).where(
        col(RefreshToken.user_id) == user_id,
        col(RefreshToken.revoked_at).is_(None),
        col(RefreshToken.expires_at) > utcnow(),
    )
    rows = await session.exec(
        select(LoginSession)
        .where(
            col(LoginSession.user_id) == user_id,
            col(LoginSession.revoked_at).is_(None),
            col(LoginSession.id).in_(alive),
        )
        .order_by(col(LoginSession.updated_at).desc())
    )
    return list(rows.all())


async def revoke_sessions(
    *, session: AsyncSession, user_id: str, session_ids: list[str] | None = None, keep: str | None = None
) -> int:
    """Revoke the given sessions of the account (all of them when None), except `keep`; their refresh tokens die."""
    now = utcnow()
    chosen = [col(LoginSession.user_id) == user_id, col(LoginSession.revoked_at).is_(None)]
    tokens = [col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None)]
    if session_ids is not None:
        chosen.append(col(LoginSession.id).in_(session_ids))
        tokens.append(col(RefreshToken.family_id).in_(session_ids))
    if keep is not None:
        chosen.append(col(LoginSession.id) != keep)
        tokens.append(col(RefreshToken.family_id) != keep)
    revoked = await session.exec(update(LoginSession).where(*chosen).values(revoked_at=now))
    await session.exec(update(RefreshToken).where(*tokens).values(revoked_at=now))
    await session.commit()
    return revoked.rowcount or 0


async def revoke_session(*, session: AsyncSession, user_id: str, session_id: str) -> None:
    owned = await session.scalar(
        select(LoginSession.id).where(col(LoginSession.id) == session_id, col(LoginSession.user_id) == user_id)
    )
    if owned is None:
        raise not_found("Session", ["id"])
    await revoke_sessions(session=session, user_id=user_id, session_ids=[session_id])


# ----------------------------------------------------------------------------------------- profile
async def change_password(*, session: AsyncSession, user: User, current_password: str, new_password: str) -> User:
    """Every other session ends: refresh tokens revoked, and the epoch moves so their access tokens stop too."""
    if not auth.verify_password(user.password_hash, current_password):
        raise ServiceError(ErrorCode.UNAUTHENTICATED, "The current password is wrong", ["currentPassword"])
    auth.check_password(new_password, field="newPassword")
    user.password_hash = auth.hash_password(new_password)
    user.session_epoch += 1
    user.updated_at = utcnow()
    session.add(user)
    await session.commit()
    await revoke_sessions(session=session, user_id=user.id)
    return user


async def change_email(*, session: AsyncSession, user: User, password: str, new_email: str) -> User:
    """The new address must be confirmed again; the old one is no longer verified."""
    if not auth.verify_password(user.password_hash, password):
        raise ServiceError(ErrorCode.UNAUTHENTICATED, "The password is wrong", ["password"])
    email = auth.check_email(new_email, field="newEmail")
    if email == user.email:
        raise invalid("That is already the account's email", ["newEmail"])
    if await session.scalar(select(User.id).where(col(User.email) == email)):
        raise conflict("An account with this email already exists", ["newEmail"])
    user.email, user.email_verified_at, user.updated_at = email, None, utcnow()
    session.add(user)
    await session.commit()
    return user


# ----------------------------------------------------------------------------------------- admin
async def list_users(
    *, session: AsyncSession, first: int, after: str | None, search: str | None, max_first: int
) -> Page[User]:
    filters = []
    if search:
        if len(search) > 320:
            raise invalid("`search` must be at most 320 characters", ["search"])
        filters.append(contains(User.email, search))
    return await paginate(session, User, filters=filters, first=first, after=after, max_first=max_first)


async def _other_user(session: AsyncSession, actor: User, user_id: str | None, action: str) -> User:
    target = await session.get(User, user_id) if user_id else None
    if target is None:
        raise not_found("User", ["userId"])
    if target.id == actor.id:
        raise invalid(f"You cannot {action} your own account", ["userId"])
    return target


async def set_role(*, session: AsyncSession, actor: User, user_id: str | None, role: str) -> User:
    if role not in ROLES:
        raise invalid(f"Unknown role {role}", ["role"])
    target = await _other_user(session, actor, user_id, "change the role of")
    target.role, target.updated_at = role, utcnow()
    session.add(target)
    await session.commit()
    return target


async def set_disabled(*, session: AsyncSession, actor: User, user_id: str | None, disabled: bool) -> User:
    """Disabling takes effect on every replica at the account's next request: each request loads the user row."""
    target = await _other_user(session, actor, user_id, "disable")
    target.disabled_at = (target.disabled_at or utcnow()) if disabled else None
    target.updated_at = utcnow()
    session.add(target)
    await session.commit()
    if disabled:
        await revoke_sessions(session=session, user_id=target.id)
    return target
