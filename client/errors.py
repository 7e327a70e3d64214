"""How the client tells what went wrong: one AssayError with the server's ErrorCode, from a GraphQL error, a
payload's `errors`, a missing node or a refused WebSocket."""

from __future__ import annotations

from typing import Any


class AssayError(Exception):
    """One readable failure: `code` is the server's ErrorCode (or a client-side one such as UNREACHABLE)."""

    def __init__(self, message: str, code: str = "INTERNAL", field: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def close_code(error: BaseException) -> int | None:
    """The WebSocket close code behind a gql transport error (gql wraps the websockets exception)."""
    cause: BaseException | None = error
    while cause is not None:
        received = getattr(cause, "rcvd", None)
        if received is not None:
            return received.code
        cause = cause.__cause__ or cause.__context__
    return None


def graphql_error(errors: list[Any]) -> AssayError:
    first: dict[str, Any] = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
    code = (first.get("extensions") or {}).get("code", "INTERNAL")
    return AssayError(
        first.get("message", "The server refused the request"), code, (first.get("extensions") or {}).get("field")
    )


def raise_user_errors(payload: dict) -> None:
    if payload.get("errors"):
        error = payload["errors"][0]
        raise AssayError(error["message"], error["code"], error.get("field"))


def found(value: dict | None, what: str, node_id: str) -> dict:
    """Another user's id reads as missing on the server; say so in the client's words."""
    if value is None:
        raise AssayError(f"No {what} with id {node_id}", "NOT_FOUND")
    return value
