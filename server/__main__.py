"""`python -m server`: serve on ASSAY_HOST:ASSAY_PORT (what `make run` does)."""

import asyncio
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from server.app import create_app
from server.logs import configure_logging
from server.settings import ConfigurationError, Settings

SUBSCRIBERS_TOLD_WITHIN_SECONDS = 2.0  # a cap: a stuck client must not hold a shutdown up


class AssayServer(uvicorn.Server):
    """Uvicorn, plus: on SIGTERM/SIGINT, subscribers hear about the shutdown before their sockets close."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.assay_app = app
        self._telling: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._telling is not None:  # a second signal: on to uvicorn's own shutdown (a third forces it)
            super().handle_exit(sig, frame)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop yet: nothing is subscribed
            super().handle_exit(sig, frame)
            return
        self._telling = loop.create_task(self._tell_subscribers_then_exit(sig, frame))

    async def _tell_subscribers_then_exit(self, sig: int, frame: FrameType | None) -> None:
        """Uvicorn closes every WebSocket (1012) as soon as it starts shutting down; each subscription's final
        event and `complete` must be sent before that, so the shutdown waits until the streams have ended."""
        state = self.assay_app.state.assay
        state.jobs.announce_shutdown()  # the final events, then the end of every stream
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIBERS_TOLD_WITHIN_SECONDS
        while state.bus.subscriber_count() and loop.time() < deadline:  # noqa: ASYNC110 - the bus signals no leaving
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # each stream's `complete` is sent just after its generator returns
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
