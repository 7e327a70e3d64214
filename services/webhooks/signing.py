"""Signing deliveries the Standard Webhooks way (https://www.standardwebhooks.com), so receivers can verify
them with its libraries or a few lines of hmac (examples/verify_webhook.py).

The secret is `whsec_` + base64 of random bytes; the signature is HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` with the decoded secret, sent as `v1,<base64>`. Signing
the id and the timestamp with the body lets a receiver refuse replays outside its time window.
Written with the standard library: the scheme is ten lines and its Python package is young.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from services.errors import invalid

PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def check_secret(secret: str, field: list[str]) -> str:
    """A caller's own secret: `whsec_` + base64 of 24-64 bytes (what Standard Webhooks libraries accept)."""
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True) if secret.startswith(PREFIX) else b""
    except (binascii.Error, ValueError):
        key = b""
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise invalid(
            f"A secret must be '{PREFIX}' followed by the base64 of {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} "
            "random bytes; leave it out to have one made",
            field,
        )
    return secret


def signature(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "Assay-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id=message_id, timestamp=timestamp, body=body),
    }
