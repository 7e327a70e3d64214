"""`python -m server`: serve on ASSAY_HOST:ASSAY_PORT (what `make run` does)."""

import asyncio
import contextlib
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from server.app import create_app
from server.logs import configure_logging
from server.settings import ConfigurationError, Settings


class AssayServer(uvicorn.Server):
    """Uvicorn, plus: on SIGTERM/SIGINT, subscribers hear about the shutdown before their sockets close."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.assay_app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        jobs = self.assay_app.state.assay.jobs
        with contextlib.suppress(RuntimeError):  # no loop yet: nothing is subscribed
            asyncio.get_running_loop().call_soon(jobs.announce_shutdown)
        super().handle_exit(sig, frame)


def main() -> None:
    settings = Settings()
    json_logs = configure_logging(settings.log_format, settings.log_level)
    try:
        app = create_app(settings)
    except ConfigurationError as exc:
        raise SystemExit(f"assay: {exc}") from None
    quiet_uvicorn: dict[str, Any] = {"log_config": None} if json_logs else {}  # JSON lines: ours, not uvicorn's
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=15,
        ws_per_message_deflate=settings.ws_compression,
        **quiet_uvicorn,
    )
    AssayServer(config, app).run()


if __name__ == "__main__":
    main()
