"""Run a real Assay server in a subprocess for benchmarks, and watch its memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages (devtools), wherever the bench script is run from
from devtools.local_server import free_port, is_healthy
from tests.support import remote


class RssSampler:
    """Peak RSS of a process and of its job workers, sampled every few milliseconds by a separate process.

    The sampler used to be a thread of the benchmark itself: reading /proc (and smaps for USS) every
    20 ms held the client's GIL and slowed the upload it was measuring (1.2-1.4 s instead of 0.4-0.6 s
    for 237 MB). As a process it only takes its share of a core. `peak_*` ask it for the peaks so far.
    """

    def __init__(self, pid: int, interval: float = 0.02, *, unique: bool = False) -> None:
        self.arguments = [
            sys.executable,
            str(Path(__file__).resolve().parent / "rss_sampler.py"),
            str(pid),
            str(interval),
            "unique" if unique else "rss",
        ]
        self._process: subprocess.Popen | None = None

    def _ask(self, command: str) -> dict:
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def reset(self) -> None:
        self._ask("reset")

    def _peak(key: str) -> property:  # noqa: N805 - builds the properties below
        return property(lambda self: self._ask("report")[key], doc=f"Peak {key} memory so far, in bytes")

    peak_server = _peak("server")
    peak_workers = _peak("workers")
    peak_workers_unique = _peak("workers_unique")
    peak_total = _peak("total")
    del _peak

    def __enter__(self) -> RssSampler:
        self._process = subprocess.Popen(self.arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._ask("report")  # started and sampling
        return self

    def __exit__(self, *exc: object) -> None:
        """Keeps the last peaks readable after the server has gone."""
        last = self._ask("report")
        self._process.stdin.close()
        self._process.wait(10)
        self._ask = lambda command: last  # type: ignore[method-assign]  # the server has gone: answer from the last report


def run_watching_rss(command: list[str], interval: float = 0.02) -> tuple[dict, int]:
    """Run a child that prints its result as its last line of JSON; return that result and the child's peak RSS
    in bytes, sampled from outside (psutil on its pid) every `interval` seconds until it exits."""
    import psutil

    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(interval)
    out, _ = process.communicate()
    return json.loads(out.strip().splitlines()[-1]), peak


def print_table(intro: str, columns: list[str], rows: list[str]) -> None:
    """A Markdown table of already formatted rows, under a paragraph saying what was measured."""
    print(intro)
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    print("\n".join(rows))


def wait_until_healthy(base: str, seconds: float = 120) -> None:  # (a loaded 2-core machine can take a minute)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not is_healthy(base):
        time.sleep(0.1)


@contextmanager
def _serving(args: list[str], env: dict[str, str], *, quiet: bool) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `python ARGS` ({port} and {data_dir} filled in) until it answers /health; stop it afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="assay-bench-") as data_dir:
        environment = {
            **os.environ,
            "ASSAY_DATA_DIR": data_dir,
            "ASSAY_PORT": str(port),
            "ASSAY_REQUESTS_PER_MINUTE": "1000000",
            **env,
        }
        output = subprocess.DEVNULL if quiet else None
        process = subprocess.Popen(
            [sys.executable, *[a.format(port=port, data_dir=data_dir) for a in args]],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=output,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base)
            yield base, process
        finally:
            process.terminate()
            process.wait(timeout=30)


def running_bench_server() -> Iterator[tuple[str, subprocess.Popen]]:
    """Start bench/events_server.py (the app plus bench-only job kinds) on a free port with a fresh data dir."""
    return _serving([str(ROOT / "bench" / "events_server.py"), "{port}", "{data_dir}"], {}, quiet=False)


def running_server(**env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `python -m server` on a free port with a fresh data dir; yield its base URL."""
    return _serving(["-m", "server"], env, quiet=True)


def gql(base: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=60
    ).json()


def _bench_user(base: str, mutation: str) -> str:
    """The bench user's access token from `register` or `login` (same input, same answer)."""
    query = (
        f'mutation {{ {mutation}(input: {{email: "bench@example.com", password: "bench password"}}) '
        "{ accessToken errors { message } } }"
    )
    return gql(base, query)["data"][mutation]["accessToken"]


def register(base: str) -> str:
    return _bench_user(base, "register")


def login(base: str) -> str:
    """A fresh access token for the bench user: they expire after 15 minutes, and some benchmarks run longer."""
    return _bench_user(base, "login")


def wait_for_job_over_websocket(base: str, token: str, job_id: str, timeout: float = 600) -> dict:
    """Follow a job with the jobEvents subscription (as a frontend would) until it ends; return the last event."""
    import json

    from websockets.sync.client import connect

    query = "subscription($id: ID!) { jobEvents(jobId: $id) { kind job { status error } } }"
    last: dict = {}
    with connect(
        base.replace("http", "ws", 1) + "/graphql",
        subprotocols=["graphql-transport-ws"],
        open_timeout=30,
        max_size=None,
    ) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(socket.recv(timeout))["type"] == "connection_ack"
        socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"id": job_id}}})
        )
        while True:
            message = json.loads(socket.recv(timeout))
            if message["type"] == "next":
                last = message["payload"]["data"]["jobEvents"]
            elif message["type"] in ("complete", "error"):
                return last


@asynccontextmanager
async def subscribed(
    url: str, token: str, query: str, variables: dict, **connect_options: Any
) -> AsyncIterator[AsyncIterator[tuple[float, dict]]]:
    """A graphql-transport-ws subscription, connected and subscribed: yields its events as (arrival time, the
    payload's root field), the time taken before parsing. The stream ends at `complete`; anything else that
    is not data (an error) is printed to stderr and ends it too."""
    from websockets.asyncio.client import connect

    options = {"subprotocols": ["graphql-transport-ws"], "max_size": None, "max_queue": None, **connect_options}
    async with connect(url, **options) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        await socket.recv()
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        await socket.send(json.dumps(subscribe))

        async def events() -> AsyncIterator[tuple[float, dict]]:
            async for raw in socket:
                now = time.time()
                message = json.loads(raw)
                if message["type"] != "next" or "errors" in message["payload"]:
                    if message["type"] != "complete":
                        print("unexpected message:", message, file=sys.stderr)
                    return
                yield now, next(iter(message["payload"]["data"].values()))

        yield events()


def run_job(
    base: str, token: str, mutation: str, variables: dict, query: str, timeout: float = 600
) -> tuple[dict, float]:
    """Start a job with `mutation` (its payload selects `job { id }`), follow it over the subscription until it
    ends, and read it with `query` (`$id`: the job's). Returns that job, which must have succeeded, and the
    wall time from the request to the job's end."""
    began = time.perf_counter()
    started = next(iter(gql(base, mutation, variables, token)["data"].values()))
    wait_for_job_over_websocket(base, token, started["job"]["id"], timeout)
    wall = time.perf_counter() - began
    job = gql(base, query, {"id": started["job"]["id"]}, token)["data"]["job"]
    assert job["status"] == "SUCCEEDED", job
    return job, wall


UPLOAD = remote.UPLOAD  # bench/ingest*.py send it themselves, to time the request


def upload_file(base: str, token: str, path: Path) -> dict:
    """Upload with the multipart spec (streamed from disk); returns the payload's dataset and job ids."""
    with path.open("rb") as handle:
        return remote.upload(base, token, handle, path.name, timeout=600)


def upload_and_ingest(base: str, token: str, path: Path) -> str:
    """Upload, wait for the INGEST job over the subscription, return the dataset id."""
    payload = upload_file(base, token, path)
    wait_for_job_over_websocket(base, token, payload["job"]["id"])
    return payload["dataset"]["id"]
