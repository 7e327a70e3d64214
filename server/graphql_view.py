"""The /graphql endpoint: Strawberry's ASGI view plus the transport rules Assay adds.

Content negotiation follows the GraphQL-over-HTTP spec: a client that accepts
`application/graphql-response+json` gets that media type and its status codes (400 without `data`
for documents that do not parse or validate and variables that do not coerce); `application/json`
clients keep 200 for every well-formed request. Malformed requests of either kind get a 400 JSON
GraphQL error, never a plain-text 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from resolvers.context import AppState, Context
from resolvers.users import user_from_authorization
from server import logs
from server.graphiql import graphiql_page
from server.negotiation import GRAPHQL_RESPONSE_JSON, is_request_error, wants_graphql_response
from server.request_limits import RequestLimits, RequestRefused
from server.uploads import (
    BodyTooLarge,
    StagingRequestAdapter,
    discard_staged,
    finish_staged,
    refuse_without_room,
    replace_file_placeholders,
)
from server.ws_limits import LimitedWebSocketAdapter
from services.errors import ErrorCode

logger = logging.getLogger("assay.http")

PREFLIGHT_HEADERS = ("apollo-require-preflight", "graphql-require-preflight", "x-apollo-operation-name")
MULTIPART_OVERHEAD = 1024 * 1024  # room for the operations/map fields and part headers
OFF_LOOP_BYTES = 256 * 1024  # JSON bodies larger than this are checked and parsed in a thread


def graphql_error_response(
    message: str,
    code: str,
    status: int,
    *,
    graphql_response: bool = False,
    headers: dict[str, str] | None = None,
    **extensions: str,
) -> JSONResponse:
    """A request the server did not execute: no `data` entry, as the spec has it for request errors."""
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]},
        status_code=status,
        headers=headers,
        media_type=GRAPHQL_RESPONSE_JSON if graphql_response else "application/json",
    )


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class AssayGraphQL(GraphQL[Context, None]):  # its context is ours; no root value
    request_adapter_class = StagingRequestAdapter  # uploads go straight into the data directory
    websocket_adapter_class = LimitedWebSocketAdapter

    def __init__(self, schema: Any, *, app: AppState, limits: RequestLimits | None = None, **kwargs: Any) -> None:
        super().__init__(schema, multipart_uploads_enabled=True, graphql_ide="graphiql", **kwargs)
        self.app_state = app
        self.limits = limits or RequestLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope)
        graphql_response = wants_graphql_response(request.headers.get("accept"))
        try:
            response = await self._refuse(request)
            if response is None:
                response = await self.run(Request(scope, _capped_receive(receive, self._body_limit(request))))
        except BodyTooLarge:
            response = graphql_error_response(
                f"The request body is larger than the limit ({self._body_limit_text(request)})",
                ErrorCode.PAYLOAD_TOO_LARGE,
                413,
                graphql_response=graphql_response,
            )
        except RequestRefused as exc:
            self._log_refusal(request, exc.message)
            headers = {"allow": "POST"} if exc.status == 405 else None
            response = graphql_error_response(
                exc.message, exc.code, exc.status, graphql_response=graphql_response, headers=headers
            )
        except HTTPException as exc:  # Strawberry's own refusals: no query, unsupported content type, ...
            self._log_refusal(request, exc.reason)
            response = graphql_error_response(
                exc.reason, "BAD_REQUEST", exc.status_code, graphql_response=graphql_response
            )
        except Exception:  # whatever escapes still gets JSON and an id to quote
            error_id = uuid.uuid4().hex[:12]
            logger.exception(
                "Unexpected error %s in operation %s for user %s",
                error_id,
                getattr(request.state, "operation_name", None) or "(unknown)",
                _user_label(request),
            )
            response = graphql_error_response(
                "Internal server error", ErrorCode.INTERNAL, 500, graphql_response=graphql_response, errorId=error_id
            )
        finally:
            discard_staged(request)
        await response(scope, receive, send)
        return None

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """An upload handed over before its last byte (server.uploads) is answered once that byte has landed."""
        response = await super().run(request, context, root_value)
        if isinstance(request, Request) and request.scope["type"] == "http":
            await finish_staged(request)
        return response

    def _body_limit(self, request: Request) -> int:
        if _is_multipart(request):
            return self.app_state.settings.max_upload_bytes + MULTIPART_OVERHEAD
        return self.limits.max_body_bytes

    def _body_limit_text(self, request: Request) -> str:
        if _is_multipart(request):
            return f"{self.app_state.settings.max_upload_mb:g} MB for uploads"
        return f"{self.limits.max_body_bytes:,} bytes"

    @staticmethod
    def _log_refusal(request: Request, reason: str) -> None:
        logger.warning(
            "Refused a request from %s (user %s): %s", client_address(request.scope), _user_label(request), reason[:300]
        )

    async def _refuse(self, request: Request) -> Response | None:
        """Transport-level refusals: CSRF on multipart, declared oversize bodies, request rate."""
        graphql_response = wants_graphql_response(request.headers.get("accept"))
        if _is_multipart(request) and not any(request.headers.get(name) for name in PREFLIGHT_HEADERS):
            return graphql_error_response(
                "Multipart requests must carry one of the headers "
                + ", ".join(PREFLIGHT_HEADERS)
                + " (CSRF protection)",
                ErrorCode.FORBIDDEN,
                400,
                graphql_response=graphql_response,
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._body_limit(request):
            raise BodyTooLarge
        user = await user_from_authorization(self.app_state, request.headers.get("authorization"))
        request.state.user = user
        if user is not None and declared.isdigit() and _is_multipart(request):  # (free disk is no stranger's business)
            refuse_without_room(self.app_state.settings.resolved_data_dir, int(declared))
        logs.user_id.set(user.id if user is not None else None)
        if user is not None and await self.app_state.requests_by_user.hit(user.id):
            return graphql_error_response(
                "Too many requests; slow down", ErrorCode.RATE_LIMITED, 429, graphql_response=graphql_response
            )
        return None

    # Parsing: every JSON text a client sends goes through the limits first.

    def decode_json(self, data: str | bytes) -> object:
        return self.limits.decode(data)

    def parse_json(self, data: str | bytes) -> Any:
        """A GET's `variables` or `extensions` (POST bodies go through parse_operation): objects only."""
        parsed = self.limits.decode(data, what="A query parameter")
        if not isinstance(parsed, dict):
            raise RequestRefused(f"A query parameter holding JSON must be an object, not {type(parsed).__name__}")
        return parsed

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and not content_type:
            raise RequestRefused(
                "A POST request needs a Content-Type (application/json or multipart/form-data)", status=415
            )
        if request.method == "POST" and "application/json" in content_type:
            operation = await self._parse_off_loop(await request.get_body())
            parsed = GraphQLRequestData(
                query=operation.get("query"),
                variables=operation.get("variables"),
                operation_name=operation.get("operationName"),
                extensions=operation.get("extensions"),
            )
        else:  # GET parameters and multipart (whose operations are checked in parse_multipart)
            body = await super().parse_http_body(request)
            if isinstance(body, list):
                raise RequestRefused("Batched requests are not supported; send one operation per request")
            parsed = body
            self.limits.check_operation(parsed.query, parsed.variables, parsed.extensions, parsed.operation_name)
        getattr(request, "_request", request).state.operation_name = parsed.operation_name
        logs.operation_name.set(parsed.operation_name)
        return parsed

    async def _parse_off_loop(self, body: bytes | str, what: str = "The request body") -> dict[str, Any]:
        """Checking and parsing a large body takes tens of milliseconds per MB: not on the event loop."""
        if len(body) <= OFF_LOOP_BYTES:
            return self.limits.parse_operation(body, what=what)
        return await asyncio.to_thread(self.limits.parse_operation, body, what=what)

    async def parse_multipart(self, request: Any) -> dict[str, Any]:
        form = await request.get_form_data()
        operations = form.form.get("operations")
        files_map = form.form.get("map")
        if not isinstance(operations, (str, bytes)) or not isinstance(files_map, (str, bytes)):
            raise RequestRefused("A multipart request needs the form fields `operations` and `map`")
        operations = await self._parse_off_loop(operations, what="The `operations` field")
        files_map = self.limits.decode(files_map, what="The `map` field")
        return replace_file_placeholders(operations, files_map, form.files)

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> Any:
        """Strawberry's, minus subscriptions (they need a WebSocket here) and with the spec's 405 for GET mutations."""
        method = request_adapter.method
        allowed = OperationType.from_http(method) - {OperationType.SUBSCRIPTION}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                raise RequestRefused(
                    "Subscriptions run over a WebSocket at this path (graphql-transport-ws or "
                    "graphql-ws), not over plain HTTP"
                ) from None
            raise RequestRefused(exc.as_http_error_reason(method), code="METHOD_NOT_ALLOWED", status=405) from None
        except CannotGetOperationTypeError as exc:
            raise RequestRefused(exc.as_http_error_reason()) from None
        except MissingQueryError:
            raise RequestRefused("No GraphQL query found in the request") from None

    # Responses

    async def get_sub_response(self, request: Any) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.graphql_response = wants_graphql_response(request.headers.get("accept"))  # type: ignore[attr-defined]  # our flag
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        if not getattr(sub_response, "graphql_response", False):
            return super().create_response(response_data, sub_response)
        if isinstance(response_data, dict) and is_request_error(response_data) and not sub_response.status_code:
            response_data = response_data.copy()
            response_data.pop("data", None)
            sub_response.status_code = 400
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page()

    def encode_json(self, data: object) -> str | bytes:
        """Subscription results shared between sockets (schema.fanout) are encoded once, not per socket."""
        if isinstance(data, dict) and data.get("type") in ("next", "data"):
            payload = data.get("payload")
            if isinstance(payload, dict) and payload.keys() == {"data"} and payload["data"] is not None:
                encoded = self.app_state.shared_events.encoded(
                    payload["data"], lambda: super(AssayGraphQL, self).encode_json(payload["data"])
                )
                return f'{{"id":{json.dumps(data.get("id"))},"type":"{data["type"]}","payload":{{"data":{encoded}}}}}'
        return super().encode_json(data)

    async def get_context(self, request: Any, response: Any = None) -> Context:
        user = getattr(request.state, "user", None) if isinstance(request, Request) else None
        return Context(
            app=self.app_state,
            user=user,
            client_address=client_address(request.scope),
            request=request,
            response=response,
        )

    async def on_ws_connect(self, context: Context) -> None:
        """Authenticate a WebSocket from its connection_init payload; refuse it before any event is sent."""
        params = context.connection_params or {}
        authorization = params.get("authorization") or params.get("Authorization")
        user = await user_from_authorization(self.app_state, authorization if isinstance(authorization, str) else None)
        if user is None:
            raise ConnectionRejectionError(
                {"message": "A valid access token is required", "code": ErrorCode.UNAUTHENTICATED}
            )
        context.user = user
        logs.user_id.set(user.id)


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


def _user_label(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return str(user.id) if user is not None else "anonymous"


def _capped_receive(receive: Receive, limit: int) -> Receive:
    """Count body bytes as they arrive and stop a body that passes `limit`, even without Content-Length."""
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return wrapped
