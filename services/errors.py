"""The one error type services raise for problems a user can fix; resolvers map it to UserError."""
from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A user-facing failure with a code from the API-wide ErrorCode enum."""

    def __init__(self, code: str, message: str, field: list[str] | None = None, *,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.details = details  # what a failed job keeps beside its error (a pipeline run's check results)


def not_found(what: str, field: list[str] | None = None) -> ServiceError:
    return ServiceError("NOT_FOUND", f"{what} not found", field)


def invalid(message: str, field: list[str] | None = None) -> ServiceError:
    return ServiceError("INVALID_INPUT", message, field)
