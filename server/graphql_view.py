"""The /graphql endpoint: Strawberry's ASGI view plus the transport rules Assay adds."""
from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from resolvers.context import AppState, Context
from resolvers.users import user_from_authorization
from schema.fanout import IdentityMemo
from server.uploads import StagingRequestAdapter, discard_staged

logger = logging.getLogger("assay.http")

PREFLIGHT_HEADERS = ("apollo-require-preflight", "graphql-require-preflight", "x-apollo-operation-name")
MULTIPART_OVERHEAD = 1024 * 1024  # room for the operations/map fields and part headers


class BodyTooLarge(Exception):
    pass


def graphql_error_response(message: str, code: str, status: int) -> JSONResponse:
    return JSONResponse({"data": None, "errors": [{"message": message, "extensions": {"code": code}}]},
                        status_code=status)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class AssayGraphQL(GraphQL):
    request_adapter_class = StagingRequestAdapter  # uploads go straight into the data directory

    def __init__(self, schema: Any, *, app: AppState, **kwargs: Any) -> None:
        super().__init__(schema, multipart_uploads_enabled=True, graphql_ide="graphiql", **kwargs)
        self.app_state = app
        self._encoded_results = IdentityMemo(256)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope)
        refusal = await self._refuse(request)
        if refusal is not None:
            return await refusal(scope, receive, send)
        limit = self.app_state.settings.max_upload_bytes + MULTIPART_OVERHEAD
        try:
            await super().__call__(scope, _capped_receive(receive, limit), send)
        except BodyTooLarge:
            await graphql_error_response(f"The request body is larger than the upload limit "
                                         f"({self.app_state.settings.max_upload_mb:g} MB)", "PAYLOAD_TOO_LARGE",
                                         413)(scope, receive, send)
        finally:
            discard_staged(request)

    async def _refuse(self, request: Request) -> JSONResponse | None:
        """Transport-level refusals: CSRF on multipart, declared oversize bodies, request rate."""
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            if not any(request.headers.get(name) for name in PREFLIGHT_HEADERS):
                return graphql_error_response(
                    "Multipart requests must carry one of the headers " + ", ".join(PREFLIGHT_HEADERS) +
                    " (CSRF protection)", "FORBIDDEN", 400)
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.app_state.settings.max_upload_bytes + MULTIPART_OVERHEAD:
                return graphql_error_response(f"The upload is larger than the limit "
                                              f"({self.app_state.settings.max_upload_mb:g} MB)", "PAYLOAD_TOO_LARGE", 413)
        user = await user_from_authorization(self.app_state, request.headers.get("authorization"))
        request.state.user = user
        if user is not None and await self.app_state.requests_by_user.hit(user.id):
            return graphql_error_response("Too many requests; slow down", "RATE_LIMITED", 429)
        return None

    def encode_json(self, data: object) -> str | bytes:
        """Subscription results shared between sockets (schema.fanout) are encoded once, not per socket."""
        if isinstance(data, dict) and data.get("type") in ("next", "data"):
            payload = data.get("payload")
            if isinstance(payload, dict) and payload.keys() == {"data"} and payload["data"] is not None:
                encoded = self._encoded_results.get(payload["data"], lambda: super(AssayGraphQL, self).encode_json(
                    payload["data"]))
                return f'{{"id":{json.dumps(data.get("id"))},"type":"{data["type"]}","payload":{{"data":{encoded}}}}}'
        return super().encode_json(data)

    async def get_context(self, request: Any, response: Any = None) -> Context:
        user = getattr(request.state, "user", None) if isinstance(request, Request) else None
        return Context(app=self.app_state, user=user, client_address=client_address(request.scope),
                       request=request, response=response)

    async def on_ws_connect(self, context: Context) -> None:
        """Authenticate a WebSocket from its connection_init payload; refuse it before any event is sent."""
        params = context.connection_params or {}
        authorization = params.get("authorization") or params.get("Authorization")
        user = await user_from_authorization(self.app_state, authorization if isinstance(authorization, str) else None)
        if user is None:
            raise ConnectionRejectionError({"message": "A valid access token is required", "code": "UNAUTHENTICATED"})
        context.user = user


def _capped_receive(receive: Receive, limit: int) -> Receive:
    """Count body bytes as they arrive and stop a body that passes `limit`, even without Content-Length."""
    received = 0

    async def wrapped() -> dict:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge()
        return message

    return wrapped
