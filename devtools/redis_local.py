"""A throwaway redis-server from the machine's binaries: a free port on 127.0.0.1, a temp dir.

Used by the tests and `make cluster`. When redis-server is missing and we are root (CI), it is
installed from Debian's packages; otherwise the error says how to install it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from devtools.local_server import debian_binary, free_port, stop_process, wait_until_ready

__all__ = ["LocalRedis", "RedisUnavailable", "ensure_redis_server", "free_port"]


class RedisUnavailable(RuntimeError):
    pass


def ensure_redis_server() -> str:
    return debian_binary("redis-server", "redis-server", RedisUnavailable)


class LocalRedis:
    """`with LocalRedis() as redis: redis.url` — stopped and its directory removed on exit."""

    def __init__(self, port: int | None = None, directory: Path | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="assay-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LocalRedis:
        binary = ensure_redis_server()
        self.directory.mkdir(parents=True, exist_ok=True)
        # appendonly: queued jobs (the broker's lists) survive a Redis restart.
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ready("redis-server", self.process, 20, self._answers_ping, error=RedisUnavailable)
        except RedisUnavailable:
            self.stop()  # and its directory
            raise
        return self

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process)
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
