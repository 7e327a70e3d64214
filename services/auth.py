"""Accounts and tokens: argon2id passwords, short-lived JWT access tokens, rotating refresh tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import ErrorCode, ServiceError, conflict, invalid
from services.storage.tables import LoginSession, RefreshToken, User, utcnow

ALGORITHM = "HS256"
ISSUER = "assay"
AUDIENCE = "assay-api"
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps the time of an unknown-email login equal to a wrong-password one.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def configure_password_hashing(*, time_cost: int, memory_kib: int) -> None:
    """Set this process's argon2id cost for new hashes (a hash records its own cost, so older ones still verify).

    Process-wide, as the hasher is: every app or worker in a process is built from the same settings."""
    global _hasher, _DUMMY_HASH  # one hasher per process, replaced only when the cost changes
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))  # unknown-email logins cost what a real one does


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    epoch: int  # the account's session_epoch when issued; a password change moves it
    session_id: str | None


@dataclass(frozen=True)
class TokenPolicy:
    """How the tokens a login or a refresh issues are signed and how long they last (the server's settings)."""

    secret: str
    access_minutes: float
    refresh_days: float


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    user: User


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def clipped(value: str | None, limit: int) -> str | None:
    """What a client sent about itself (address, user agent), cut to its column; empty is none."""
    return value[:limit] if value else None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_access_token(*, user: User, secret: str, minutes: float, session_id: str | None = None) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": user.id,
        "role": user.role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
        "ep": user.session_epoch or 0,
        "sid": session_id,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> AccessClaims | None:
    """The claims of a valid access token, else None (expired, forged, wrong audience...)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    return AccessClaims(user_id=claims["sub"], epoch=int(claims.get("ep") or 0), session_id=claims.get("sid"))


def accepts(user: User | None, claims: AccessClaims) -> bool:
    """Whether the account still honours this token: not disabled, and issued since its last password change."""
    return user is not None and user.disabled_at is None and (user.session_epoch or 0) == claims.epoch


def check_email(email: str, *, field: str = "email") -> str:
    email = normalize_email(email)
    if not EMAIL_PATTERN.match(email) or len(email) > 320:
        raise invalid("Not a valid email address", [field])
    return email


def check_password(password: str, *, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters", [field])
    if len(password) > 1024:
        raise invalid("Password too long", [field])


def _checked_account(email: str, password: str) -> str:
    """The normalised email, once the email and password pass the rules every account follows."""
    email = check_email(email)
    check_password(password)
    return email


async def create_user(*, session: AsyncSession, email: str, password: str, role: str = "MEMBER") -> User:
    email = _checked_account(email, password)
    if await session.scalar(select(User.id).where(User.email == email)):
        raise conflict("An account with this email already exists", ["email"])
    user = User(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    await session.commit()
    return user


async def find_user(*, session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def session_of_refresh_token(*, session: AsyncSession, refresh_token: str, user_id: str) -> str | None:
    """The session (family) a refresh token of this user belongs to; None for anyone else's or a made-up one."""
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash_token(refresh_token)))
    return stored.family_id if stored is not None and stored.user_id == user_id else None


async def authenticate(*, session: AsyncSession, email: str, password: str) -> User | None:
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


async def issue_tokens(
    *,
    session: AsyncSession,
    user: User,
    policy: TokenPolicy,
    family_id: str | None = None,
    address: str | None = None,
    user_agent: str | None = None,
) -> TokenPair:
    """A new pair; without `family_id` a new session (login) starts, with the caller's address and agent."""
    if family_id is None:
        login = LoginSession(user_id=user.id, address=clipped(address, 64), user_agent=clipped(user_agent, 512))
        session.add(login)
        family_id = login.id
    refresh = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=_hash_token(refresh),
            expires_at=utcnow() + timedelta(days=policy.refresh_days),
        )
    )
    await session.commit()
    return TokenPair(
        create_access_token(user=user, secret=policy.secret, minutes=policy.access_minutes, session_id=family_id),
        refresh,
        user,
    )


async def rotate_refresh_token(*, session: AsyncSession, refresh_token: str, policy: TokenPolicy) -> TokenPair:
    """Swap a refresh token for a new pair; replaying a used one revokes its whole family."""
    rejected = ServiceError(ErrorCode.UNAUTHENTICATED, "Invalid or expired refresh token", ["refreshToken"])
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash_token(refresh_token)))
    if stored is None or stored.revoked_at is not None or stored.expires_at < utcnow():
        raise rejected
    if stored.used_at is not None:
        family = await session.exec(select(RefreshToken).where(RefreshToken.family_id == stored.family_id))
        for token in family:
            token.revoked_at = token.revoked_at or utcnow()
            session.add(token)
        await session.commit()
        raise rejected
    stored.used_at = utcnow()
    session.add(stored)
    user = await session.get(User, stored.user_id)
    if user is None or user.disabled_at is not None:
        raise rejected
    login = await session.get(LoginSession, stored.family_id)
    if login is not None:  # its last use, for the sessions list (tokens issued before sessions have none)
        login.updated_at = utcnow()
        session.add(login)
    return await issue_tokens(session=session, user=user, policy=policy, family_id=stored.family_id)


async def ensure_admin(*, session: AsyncSession, email: str, password: str) -> None:
    """Create the configured admin at start-up if absent; an existing account is promoted, not reset.

    Replicas start together and each runs this: the row is inserted if absent (ON CONFLICT DO NOTHING on
    the unique email) and promoted by one guarded UPDATE, so N at once leave one admin and no error.
    """
    email = _checked_account(email, password)
    # The operator configured this address: it counts as verified.
    admin = User(email=email, password_hash=hash_password(password), role="ADMIN", email_verified_at=utcnow())
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(User).values(**admin.model_dump()).on_conflict_do_nothing(index_elements=["email"]))
    await session.execute(update(User).where(col(User.email) == email, col(User.role) != "ADMIN").values(role="ADMIN"))
    await session.commit()
