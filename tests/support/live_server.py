"""A real `python -m server` process on a data dir, for crash and shutdown tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools.local_server import free_port, is_healthy
from tests.support.paths import ROOT
from tests.support.remote import GraphQLOverHTTP


class LiveServer(GraphQLOverHTTP):
    def __init__(self, data_dir: Path, *, cwd: Path = ROOT, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ASSAY_DATA_DIR": str(data_dir),
            "ASSAY_PORT": str(self.port),
            "ASSAY_SECRET_KEY": "live-server-test-secret-key-long-enough",
            "ASSAY_JOB_HEARTBEAT_SECONDS": "0.5",
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.cwd = cwd  # where it starts, and so which ./.env it reads
        self.log_path = data_dir.parent / f"server-{self.port}.log"  # a file, not a pipe that could fill and block

    def start(self, timeout: float = 120) -> LiveServer:
        """Start `python -m server` and wait for /health; a busy machine can take tens of seconds."""
        return self.launch().wait_healthy(timeout)

    def launch(self, command: list[str] | None = None) -> LiveServer:
        """Start the process (`python -m server`, or `command` running the same entry point) without waiting."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command or [sys.executable, "-m", "server"],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_healthy(self, timeout: float = 120) -> LiveServer:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_healthy(self.base):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        if self.process.poll() is None:  # a server that never answered must not outlive the test
            self.process.kill()
            self.process.wait(timeout=10)
        raise RuntimeError(f"server did not start; its log ends:\n{self.output()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
