"""Run a real Assay server in a subprocess for benchmarks, and watch its memory."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RssSampler:
    """Samples the RSS of a process and of its children (job workers) every few milliseconds."""

    def __init__(self, pid: int, interval: float = 0.02, *, unique: bool = False) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.unique = unique  # also the workers' USS: memory not shared with the fork server's preloaded modules
        self.peak_server = 0
        self.peak_workers = 0
        self.peak_workers_unique = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                server = self.process.memory_info().rss
                workers = 0
                for helper in self.process.children():  # the fork server; job workers are its children
                    try:
                        for worker in helper.children():
                            workers = max(workers, worker.memory_info().rss)
                            if self.unique:
                                self.peak_workers_unique = max(self.peak_workers_unique,
                                                               worker.memory_full_info().uss)
                    except psutil.Error:
                        pass
                self.peak_server = max(self.peak_server, server)
                self.peak_workers = max(self.peak_workers, workers)
                self.peak_total = max(self.peak_total, server + workers)
            except psutil.Error:
                pass
            time.sleep(self.interval)

    def reset(self) -> None:
        self.peak_server = self.peak_workers = self.peak_workers_unique = self.peak_total = 0

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_until_healthy(base: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


@contextmanager
def running_bench_server() -> Iterator[tuple[str, subprocess.Popen]]:
    """Start bench/events_server.py (the app plus bench-only job kinds) on a free port with a fresh data dir."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="assay-bench-") as data_dir:
        process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "events_server.py"), str(port), data_dir],
                                   cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base)
            yield base, process
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def running_server(**env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `python -m server` on a free port with a fresh data dir; yield its base URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="assay-bench-") as data_dir:
        environment = {**os.environ, "ASSAY_DATA_DIR": data_dir, "ASSAY_PORT": str(port),
                       "ASSAY_REQUESTS_PER_MINUTE": "1000000", **env}
        process = subprocess.Popen([sys.executable, "-m", "server"], cwd=ROOT, env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base)
            yield base, process
        finally:
            process.terminate()
            process.wait(timeout=30)


def gql(base: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers,
                      timeout=60).json()


def register(base: str) -> str:
    result = gql(base, 'mutation { register(input: {email: "bench@example.com", password: "bench password"}) '
                       '{ accessToken errors { message } } }')
    return result["data"]["register"]["accessToken"]


def wait_for_job_over_websocket(base: str, token: str, job_id: str, timeout: float = 600) -> dict:
    """Follow a job with the jobEvents subscription (as a frontend would) until it ends; return the last event."""
    import json

    from websockets.sync.client import connect

    query = "subscription($id: ID!) { jobEvents(jobId: $id) { kind job { status error } } }"
    last: dict = {}
    with connect(base.replace("http", "ws", 1) + "/graphql", subprotocols=["graphql-transport-ws"],
                 open_timeout=30, max_size=None) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(socket.recv(timeout))["type"] == "connection_ack"
        socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"id": job_id}}}))
        while True:
            message = json.loads(socket.recv(timeout))
            if message["type"] == "next":
                last = message["payload"]["data"]["jobEvents"]
            elif message["type"] in ("complete", "error"):
                return last


UPLOAD = ("mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) "
          "{ dataset { id } job { id } errors { code message } } }")


def upload_file(base: str, token: str, path: Path) -> dict:
    """Upload with the multipart spec (streamed from disk); returns the payload's dataset and job ids."""
    import json

    with path.open("rb") as handle:
        payload = httpx.post(f"{base}/graphql", headers={"authorization": f"Bearer {token}", "apollo-require-preflight": "1"},
                             data={"operations": json.dumps({"query": UPLOAD, "variables": {"input": {"file": None}}}),
                                   "map": json.dumps({"0": ["variables.input.file"]})},
                             files={"0": (path.name, handle, "text/csv")}, timeout=600).json()["data"]["uploadDataset"]
    assert not payload["errors"], payload
    return payload


def upload_and_ingest(base: str, token: str, path: Path) -> str:
    """Upload, wait for the INGEST job over the subscription, return the dataset id."""
    payload = upload_file(base, token, path)
    wait_for_job_over_websocket(base, token, payload["job"]["id"])
    return payload["dataset"]["id"]
