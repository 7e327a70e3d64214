"""Which job failures are worth another try, and how long to wait before it.

A transient failure is one the same job may not meet a moment later: the database or Redis connection
was lost, a source timed out or cut the connection. The body's exception is classified in the worker
process, where it exists; only the verdict (a flag) crosses the pipe to the runner. Anything else
fails the job at once, as it always did.

The backoff schedule is tenacity's (exponential, capped, with jitter) rather than our own formula:
the same library the codebase's other retry loops are moving to (issue #31).
"""

from __future__ import annotations

import sys
from typing import Any

import tenacity

from services.errors import ErrorCode, ServiceError


class TransientError(ServiceError):
    """Raised by a job body (or a service it calls) for a failure that may pass: the job runs again.

    Once the kind's retries are spent, the job fails with this error's code and message."""

    def __init__(
        self,
        message: str,
        field: list[str] | None = None,
        *,
        code: ErrorCode = ErrorCode.INVALID_INPUT,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code, message, field, details=details)


# Exception types, by module, that mean "a connection or a wait failed", not "the input is wrong".
# Looked up only when their library is already imported: a worker never imports asyncpg to classify.
_TRANSIENT_TYPES: dict[str, tuple[str, ...]] = {
    "builtins": ("ConnectionError", "TimeoutError"),  # ConnectionResetError, BrokenPipeError, socket.timeout ...
    "sqlalchemy.exc": ("OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError"),
    "asyncpg.exceptions": (
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "CannotConnectNowError",
        "TooManyConnectionsError",
    ),
    "redis.exceptions": ("ConnectionError", "TimeoutError", "BusyLoadingError"),
    "httpx": ("TimeoutException", "NetworkError", "RemoteProtocolError"),
    "kombu.exceptions": ("OperationalError",),
}


def _transient_types() -> tuple[type, ...]:
    found: list[type] = []
    for module_name, names in _TRANSIENT_TYPES.items():
        module = sys.modules.get(module_name)
        if module is not None:
            found.extend(t for t in (getattr(module, n, None) for n in names) if isinstance(t, type))
    return tuple(found)


def is_transient(exc: BaseException) -> bool:
    """A TransientError, or a recognised connection/timeout failure anywhere in the exception's chain
    (a ServiceError raised `from` an httpx timeout counts only when raised as TransientError)."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, ServiceError):  # a service decided what this failure means to the user
        return False
    types = _transient_types()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, types):
            return True
        current = current.__cause__ or current.__context__
    return False


def backoff_seconds(retry: int, *, base: float, cap: float) -> float:
    """The wait before retry number `retry` (1 for the first): base, 2·base, 4·base ... up to cap, plus up to
    10% jitter so that jobs failed by one outage do not all come back at the same instant."""
    wait = tenacity.wait_exponential(multiplier=base, min=base, max=cap) + tenacity.wait_random(0, base * 0.1)
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = retry
    return float(wait(state))
