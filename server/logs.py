"""Log lines: plain text by default, one JSON object per line with ASSAY_LOG_FORMAT=json.

A JSON line carries time, level, logger, message and, when known, the request id, user id, GraphQL
operation name, job id and trace id — read from context variables set along the request (and by the
job runner), so every logger, uvicorn's access log included, gets them without passing them around.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.telemetry import current_trace_id
from services.jobs.observer import current_job_id

request_id: ContextVar[str | None] = ContextVar("assay_request_id", default=None)
user_id: ContextVar[str | None] = ContextVar("assay_user_id", default=None)
operation_name: ContextVar[str | None] = ContextVar("assay_operation_name", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")  # a client's id is kept only when it cannot forge a log


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
            "user_id": user_id.get(),
            "operation_name": operation_name.get(),
            "job_id": current_job_id.get(),
            "trace_id": current_trace_id(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            line.update(client=client, method=method, path=path, http_version=version, status=status)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


# Libraries that log every query, frame or font lookup at DEBUG: ASSAY_LOG_LEVEL=DEBUG is about Assay, not them.
CHATTY_LIBRARIES = (
    "aiosqlite",
    "asyncio",
    "multipart",
    "httpcore",
    "httpx",
    "urllib3",
    "matplotlib",
    "PIL",
    "numba",
    "asyncpg",
    "kombu",
    "celery.utils.functional",
    "websockets",
    "sqlalchemy",
)


def configure_logging(log_format: str, level: str = "INFO") -> bool:
    """Set up the root logger at `level` (ASSAY_LOG_LEVEL); True when lines are JSON (then uvicorn must leave its
    loggers to the root: log_config=None)."""
    apply_level(level)
    if log_format != "json":
        logging.basicConfig(level=level, format=TEXT_FORMAT)
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # Python warnings become JSON lines too, not free text on stderr
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # through the root's JSON handler, once
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    return True


class RequestIds:
    """ASGI middleware: each request gets an id (the client's `x-request-id` when sane), echoed in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        presented = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        current = presented if _SAFE_REQUEST_ID.match(presented) else uuid.uuid4().hex
        tokens = (request_id.set(current), user_id.set(None), operation_name.set(None))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", current.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            for variable, token in zip((request_id, user_id, operation_name), tokens, strict=True):
                variable.reset(token)


def apply_level(level: str) -> None:
    """The root logger at `level`; at DEBUG the chatty libraries stay at INFO."""
    logging.getLogger().setLevel(level)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
