"""GraphQL-over-HTTP content negotiation: which media type a client gets, and what counts as a request error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


def _accepted(accept: str) -> dict[str, float]:
    """Media ranges with their q-values; a malformed q counts as 1, as browsers treat it."""
    ranges: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 1.0
        if media:
            ranges[media.lower()] = max(quality, ranges.get(media.lower(), 0.0))
    return ranges


def wants_graphql_response(accept: str | None) -> bool:
    """True when the client asks for application/graphql-response+json at least as much as application/json.

    No Accept header, `*/*` and `application/json` keep the legacy media type, as the spec advises.
    """
    if not accept:
        return False
    ranges = _accepted(accept)
    preferred = ranges.get(GRAPHQL_RESPONSE_JSON, 0.0)
    return preferred > 0 and preferred >= ranges.get("application/json", 0.0)


def is_request_error(response: Mapping[str, Any]) -> bool:
    """A document that did not parse or validate, or variables that did not coerce: nothing executed.

    Field errors always carry a `path`; request errors never do, and their `data` is null.
    """
    errors = response.get("errors") or []
    return (
        bool(errors)
        and response.get("data") is None
        and all(isinstance(error, dict) and not error.get("path") for error in errors)
    )
