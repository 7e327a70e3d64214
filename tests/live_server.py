"""A real `python -m server` process on a data dir, for crash and shutdown tests."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


class LiveServer:
    def __init__(self, data_dir: Path, **env: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "ASSAY_DATA_DIR": str(data_dir), "ASSAY_PORT": str(self.port),
                    "ASSAY_SECRET_KEY": "live-server-test-secret-key-long-enough", "ASSAY_JOB_HEARTBEAT_SECONDS": "0.5",
                    **env}
        self.process: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"  # a file, not a pipe that could fill and block

    def start(self, timeout: float = 90) -> "LiveServer":
        """Start `python -m server` and wait for /health; a busy machine can take tens of seconds."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "server"], cwd=ROOT, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
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

    def gql(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.base}/graphql", json={"query": query, "variables": variables or {}},
                          headers=headers, timeout=30).json()

    def upload(self, token: str, content: bytes, filename: str) -> dict[str, Any]:
        query = ("mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) "
                 "{ dataset { id } job { id } errors { code message } } }")
        response = httpx.post(f"{self.base}/graphql", headers={"authorization": f"Bearer {token}",
                                                                "apollo-require-preflight": "1"},
                              data={"operations": json.dumps({"query": query, "variables": {"input": {"file": None}}}),
                                    "map": json.dumps({"0": ["variables.input.file"]})},
                              files={"0": (filename, content, "text/csv")}, timeout=60)
        return response.json()["data"]["uploadDataset"]

    def job(self, token: str, job_id: str) -> dict:
        query = "query($id: ID!) { job(id: $id) { status error attempt logs(last: 50) { level message } } }"
        return self.gql(query, {"id": job_id}, token)["data"]["job"]

    def wait_for(self, token: str, job_id: str, statuses: tuple[str, ...], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(token, job_id)
            if job["status"] in statuses:
                return job
            time.sleep(0.2)  # 300 polls a minute: under the server's 600 requests per minute per user
        raise AssertionError(f"job stayed {job}")
