"""Verify Assay's webhook deliveries (Standard Webhooks signatures), standard library only.

    python examples/verify_webhook.py --secret whsec_... --port 8080

serves POST on 127.0.0.1:8080 (put it behind your HTTPS proxy), verifies each delivery and prints
its event as one JSON line; a delivery that fails verification gets 400 and is not printed. A
delivery id seen before is acknowledged (200) but not printed again: deliveries are at least once.
Use `verify()` in your own receiver the same way.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300  # refuse deliveries signed longer ago (or later) than this: a captured one cannot be replayed


class InvalidDelivery(ValueError):
    pass


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's JSON if its signature is right and its timestamp within `tolerance`; else InvalidDelivery."""
    lower = {key.lower(): value for key, value in headers.items()}
    try:
        message_id, timestamp = lower["webhook-id"], int(lower["webhook-timestamp"])
        signatures = lower["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise InvalidDelivery(f"missing or malformed webhook headers: {exc}") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise InvalidDelivery("timestamp outside the replay window")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    # several signatures may be sent (space-separated) while a secret is rotated: one match is enough
    if not any(
        hmac.compare_digest(expected, sig.partition(",")[2].encode()) for sig in signatures if sig.startswith("v1,")
    ):
        raise InvalidDelivery("signature mismatch")
    return json.loads(body)


def serve(secret: str, port: int) -> None:
    seen: set[str] = set()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                event = verify(secret, dict(self.headers.items()), body)
            except InvalidDelivery as exc:
                print(f"refused: {exc}", file=sys.stderr, flush=True)
                self.send_response(400)
                self.end_headers()
                return
            if event["id"] not in seen:  # a retry of a delivery already handled: acknowledge, do nothing
                seen.add(event["id"])
                print(json.dumps(event), flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Verify and print Assay webhook deliveries")
    parser.add_argument("--secret", required=True, help="the webhook's secret (whsec_...)")
    parser.add_argument("--port", type=int, default=8080)
    arguments = parser.parse_args()
    serve(arguments.secret, arguments.port)
