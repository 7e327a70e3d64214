"""WebSocket messages obey the same limits as HTTP bodies; a message refused closes the socket with 4400."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonTextMessageReceived

from server.request_limits import RequestRefused

logger = logging.getLogger("assay.ws")

OPERATION_MESSAGES = ("subscribe", "start")  # graphql-transport-ws and the legacy graphql-ws


class LimitedWebSocketAdapter(ASGIWebSocketAdapter):
    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        """Yield well-formed protocol messages; close on the first one that is malformed or over a limit.

        Strawberry's handlers index `message["type"]` and only expect KeyError, so a message that is
        JSON but not an object (`"x"`, `[1]`) must never reach them.
        """
        limits = self.view.limits  # type: ignore[attr-defined]  # the view is always AssayGraphQL, typed as strawberry's base
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                try:
                    message = limits.decode(text, what="The WebSocket message")
                    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                        raise RequestRefused("A WebSocket message must be a JSON object with a string `type`")
                    payload = message.get("payload")
                    if message["type"] in OPERATION_MESSAGES:
                        if not isinstance(payload, dict):
                            raise RequestRefused("An operation message needs an object `payload`")
                        limits.check_operation(
                            payload.get("query"),
                            payload.get("variables"),
                            payload.get("extensions"),
                            payload.get("operationName"),
                            check_strings=len(text) > limits.max_string_length or "\\u" in text,
                        )
                except RequestRefused as exc:
                    client = self.ws.client.host if self.ws.client else "unknown"
                    logger.warning("Closed a WebSocket from %s: %s", client, exc.message[:300])
                    await self.close(4400, exc.message.encode()[:120].decode(errors="ignore"))  # reasons: <= 123 bytes
                    return
                yield message
        except KeyError as exc:  # a binary frame: receive_text finds no "text"
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass
