"""Cross-origin access for browser frontends served from other origins (ASSAY_CORS_ORIGINS).

HTTP goes through Starlette's CORSMiddleware: exact origins only, preflight for GET and POST, and the
headers GraphQL clients send. Browsers do not apply CORS to WebSockets, so Strawberry's own handshake
check gets the same list (`allowed_origins`): it lets same-origin pages (GraphiQL) and clients that send no
Origin (CLI, servers) through, and refuses other origins with a 403. Tokens travel in headers and
`connection_init`, never in cookies, so
credentials mode is off and a wildcard is never needed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

# What GraphQL clients send: the token, JSON or multipart, and the CSRF preflight headers uploads require.
ALLOWED_HEADERS = [
    "authorization",
    "content-type",
    "accept",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-require-preflight",
]
PREFLIGHT_CACHE_SECONDS = 600


def parse_origins(value: str) -> list[str]:
    """Comma-separated origins, normalised (scheme://host[:port], no trailing slash); '*' is refused upstream."""
    return [origin.strip().rstrip("/").lower() for origin in value.split(",") if origin.strip()]


def invalid_origin(origin: str) -> str | None:
    """Why an ASSAY_CORS_ORIGINS entry cannot work, or None."""
    if origin == "*":
        return "ASSAY_CORS_ORIGINS takes exact origins (e.g. http://localhost:3000), not '*'"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
        return f"ASSAY_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port], nothing after)"
    return None


def cors_middleware(origins: list[str]) -> list[Middleware]:
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=False,
            max_age=PREFLIGHT_CACHE_SECONDS,
        ),
    ]
