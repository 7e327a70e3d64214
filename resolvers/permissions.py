"""Access rules as Strawberry permission classes."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission

from services.errors import ErrorCode


class IsAuthenticated(BasePermission):
    message = "Authentication required: send 'Authorization: Bearer <access token>'"
    error_extensions = {"code": ErrorCode.UNAUTHENTICATED}  # noqa: RUF012 - strawberry reads it; never mutated

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return info.context.user is not None


class IsVerifiedWhereRequired(BasePermission):
    """Where ASSAY_REQUIRE_VERIFIED_EMAIL is set, an unverified account may only manage itself."""

    message = "Confirm your email address first (see the verification mail, or resendVerificationEmail)"
    error_extensions = {"code": ErrorCode.FORBIDDEN}  # noqa: RUF012 - strawberry reads it; never mutated

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        user = info.context.user
        return user is None or user.email_verified_at is not None or not info.context.settings.require_verified_email


class IsAdmin(BasePermission):
    """Use after IsAuthenticated, which answers anonymous callers first."""

    message = "Only administrators may do this"
    error_extensions = {"code": ErrorCode.FORBIDDEN}  # noqa: RUF012 - strawberry reads it; never mutated

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return info.context.user is not None and info.context.user.role == "ADMIN"
