"""The real app under uvicorn on a free port, served from a thread of the test process.

For tests whose subject is a client of the server (the `assay` command run as a subprocess): it talks HTTP to a
real server on a port all the same, but no second process imports the server's libraries and starts its own job
fork server again. `python -m server` (LiveServer) costs about 6 s of CPU before its first answer and 4 s more to
warm its fork server, tens of seconds of wall time on a busy machine; this costs well under one. Jobs still run in
their own processes (the test process's fork server). Tests about the server process itself (signals, restarts,
its log output, its working directory) keep LiveServer.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from server.app import create_app
from server.settings import Settings
from tests.support.remote import GraphQLOverHTTP


class ThreadedServer(GraphQLOverHTTP):
    def __init__(self, settings: Settings) -> None:
        # Bound here and handed to uvicorn: no other process can take the port between choosing and serving.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        config = uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self, timeout: float = 60) -> ThreadedServer:
        """Serve, and return once start-up (migrations, the job engine) is done and the port answers."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()
