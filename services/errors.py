"""The one error type services raise for problems a user can fix; resolvers map it to UserError."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Why an operation failed. The API's ErrorCode enum is this one (schema/common.py), so a service can
    only raise codes a client can switch on; a StrEnum, so it is its own value in JSON and the database."""

    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_FILE = "UNSUPPORTED_FILE"
    PARSE_ERROR = "PARSE_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"
    TIMEOUT = (
        "TIMEOUT"  # a time limit stopped the work (an analysis stage's, e.g. ASSAY_ANALYSIS_MODEL_TIMEOUT_SECONDS)
    )
    OVER_BUDGET = "OVER_BUDGET"  # the work needs more memory than its budget (ASSAY_JOB_MEMORY_MB), even spilling


class ServiceError(Exception):
    """A user-facing failure with a code from the API-wide ErrorCode enum."""

    def __init__(
        self, code: ErrorCode, message: str, field: list[str] | None = None, *, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)  # a bare string still works (a job's stored code), but only a known one
        self.message = message
        self.field = field
        self.details = details  # what a failed job keeps beside its error (a pipeline run's check results)


def not_found(what: str, field: list[str] | None = None) -> ServiceError:
    return ServiceError(ErrorCode.NOT_FOUND, f"{what} not found", field)


def invalid(message: str, field: list[str] | None = None) -> ServiceError:
    return ServiceError(ErrorCode.INVALID_INPUT, message, field)


def conflict(message: str, field: list[str] | None = None) -> ServiceError:
    return ServiceError(ErrorCode.CONFLICT, message, field)


def over_budget(
    memory_mb: int,
    what: str,
    *,
    needed_mb: float | None = None,
    setting: str = "ASSAY_JOB_MEMORY_MB",
    field: list[str] | None = None,
    detail: str = "",
) -> ServiceError:
    """OVER_BUDGET, naming the budget and, when it can be told, about how much the work would need."""
    need = f"; it would need about {needed_mb:,.0f} MB" if needed_mb else ""
    return ServiceError(
        ErrorCode.OVER_BUDGET,
        f"{what} needs more memory than the budget of {memory_mb:,} MB "
        f"({setting}) allows{need}{detail}; raise {setting} or give it less data",
        field,
        details={"memory_mb": memory_mb, "needed_mb": round(needed_mb) if needed_mb else None},
    )
