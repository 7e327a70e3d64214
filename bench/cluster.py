"""Scaled out vs the embedded default, in one run:
`python bench/cluster.py [subscribers] [jobs] [pages] [delay_ms]` (defaults 200 40 500 20).

1. enqueue -> RUNNING latency (job.created_at -> job.started_at, the database's own clock), p50/p90,
   over sequential tiny uploads: local executor vs Celery.
2. worker -> subscriber latency: a PIPELINE job reads a paged JSON API served from this process
   (`pages` pages of one record, `delay_ms` apart by the source's own delaySeconds), logging
   "Page N: ..." per page. Its first page is held until all `subscribers` sockets are acknowledged,
   so every line is logged while all of them watch; each line's `log.time` (set where the worker
   logged it) against its arrival on each socket, subscribed with `batch: true` as bench/events.py.
   Local (one process) vs Celery (worker -> Redis -> the other replica). Samples should be
   subscribers x lines (lines: the "Page" lines plus the job's closing ones).
3. throughput: `jobs` ingest+profile jobs queued at once (half uploads, then half profiles),
   Celery with 1 worker vs 2 workers (one job at a time each).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from calibrate import machine_line
from harness import subscribed

from devtools.cluster import Cluster, Member
from devtools.redis_local import free_port
from tests.support.cluster_client import ReplicaClient

JOB_TIMES = "query($id: ID!) { job(id: $id) { status createdAt startedAt } }"
PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: false}) { job { id } errors { code } } }"
# bench/events.py's subscription, with batch: true (its ~50 ms p99 for 200 subscribers was measured so)
EVENTS = (
    "subscription($id: ID!, $batch: Boolean!) { jobEvents(jobId: $id, batch: $batch) "
    "{ kind logs { seq time } job { status } } }"
)
CREATE_PIPELINE = (
    "mutation($input: CreatePipelineInput!) { createPipeline(input: $input) "
    "{ pipeline { id } errors { code message } } }"
)
RUN_PIPELINE = "mutation($id: ID!) { runPipeline(input: {id: $id}) { job { id } errors { code message } } }"
# the feed is on 127.0.0.1, which pipelines may reach only when allowed
ENV = {
    "ASSAY_REQUESTS_PER_MINUTE": "10000000",
    "ASSAY_JOB_HEARTBEAT_SECONDS": "2",
    "ASSAY_ALLOWED_SOURCE_HOSTS": "127.0.0.1",
}


class PacedFeed:
    """A paged JSON API on 127.0.0.1 in this process: one record a page, each page linking the next.

    Each run's first page is held until `release()`, so the job is running (its worker waiting on the
    reply) while the subscribers attach, and every line it logs comes after all of them are live.
    The pace between pages is the pipeline's own `delaySeconds`, so the job logs steadily.
    """

    def __init__(self, pages: int, delay: float) -> None:
        self.pages, self.delay = pages, delay
        self.gates: dict[str, threading.Event] = {}
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # /feed/RUN?page=N
                url = urlsplit(self.path)
                run, page = url.path.rsplit("/", 1)[-1], int(parse_qs(url.query)["page"][0])
                if page == 1:
                    feed.gates[run].wait(timeout=600)
                following = f"/feed/{run}?page={page + 1}" if page < feed.pages else None
                body = json.dumps({"items": [{"page": page, "sent": time.time()}], "next": following}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        """A new run's first page, held until release()."""
        run = str(len(self.gates) + 1)
        self.gates[run] = threading.Event()
        self.current = run
        return f"http://127.0.0.1:{self.server.server_address[1]}/feed/{run}?page=1"

    def release(self) -> None:
        self.gates[self.current].set()

    def close(self) -> None:
        for gate in self.gates.values():
            gate.set()
        self.server.shutdown()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def enqueue_to_running(client: ReplicaClient, token: str, runs: int = 20) -> list[float]:
    delays = []
    for index in range(runs):
        job_id = client.upload(token, b"a,b\n%d,2\n" % index)["job"]["id"]
        client.wait_for(token, job_id, ("SUCCEEDED", "FAILED"))
        job = client.gql(JOB_TIMES, {"id": job_id}, token)["data"]["job"]
        delays.append(
            (datetime.fromisoformat(job["startedAt"]) - datetime.fromisoformat(job["createdAt"])).total_seconds() * 1000
        )
    return delays


async def _watch(
    base: str,
    token: str,
    job_id: str,
    attached: asyncio.Event,
    acknowledged: list[int],
    subscribers: int,
    released: list[float],
    arrivals: dict[int, list[float]],
    statuses: list[str],
) -> None:
    """One subscriber: acknowledged by the STATUS event the server sends once its bus subscription is
    live; from then on every LOG line logged after the source was released is a sample."""
    url = base.replace("http", "ws") + "/graphql"
    async with subscribed(url, token, EVENTS, {"id": job_id, "batch": True}, open_timeout=120) as events:
        live = False
        async for now, event in events:  # the arrival time taken before parsing, as bench/events.py
            if event["kind"] == "STATUS":
                statuses.append(event["job"]["status"])
            if not live and event["kind"] == "STATUS":
                live = True
                acknowledged[0] += 1
                if acknowledged[0] == subscribers:
                    attached.set()
            for log in event["logs"] if live and released else ():
                logged = datetime.fromisoformat(log["time"]).timestamp()
                if logged >= released[0]:
                    arrivals.setdefault(log["seq"], []).append((now - logged) * 1000)


async def fan_out(watch_base: str, start_job, token: str, subscribers: int, feed: PacedFeed) -> dict:
    """Start a PIPELINE job whose source holds its first page, attach `subscribers` sockets, then
    release the source: the job logs one "Page N" line per page, paced by the source's delaySeconds."""
    job_id = start_job(feed.url())
    attached = asyncio.Event()
    acknowledged, released = [0], []
    arrivals: dict[int, list[float]] = {}
    statuses: list[str] = []
    # The clients share one process: their own garbage collections would count as delivery latency.
    gc.disable()
    try:
        watchers = [
            asyncio.create_task(
                _watch(watch_base, token, job_id, attached, acknowledged, subscribers, released, arrivals, statuses)
            )
            for _ in range(subscribers)
        ]
        await asyncio.wait_for(attached.wait(), timeout=300)
        released.append(time.time())
        feed.release()
        await asyncio.wait_for(asyncio.gather(*watchers), timeout=feed.pages * (feed.delay + 1) + 300)
    finally:
        gc.enable()
    samples = [latency for latencies in arrivals.values() for latency in latencies]
    return {
        "samples": samples,
        "lines": len(arrivals),
        "expected": len(arrivals) * subscribers,
        "status": statuses[-1] if statuses else "no status",
    }


def pipeline_starter(client: ReplicaClient, token: str, feed: PacedFeed):
    """A callable that saves and runs a pipeline reading `url` (one record a page) into Parquet; returns the
    job's id."""

    def start(url: str) -> str:
        source = {
            "http": {
                "url": url,
                "recordsPath": "items",
                "nextPagePath": "next",
                "maxPages": feed.pages,
                "delaySeconds": feed.delay,
                "timeoutSeconds": 300,
                "retries": 0,
            }
        }
        created = client.gql(
            CREATE_PIPELINE,
            {"input": {"name": "fan-out", "source": source, "sink": {"parquet": {"name": "fan-out"}}}},
            token,
        )
        payload = created["data"]["createPipeline"]
        assert payload["errors"] == [], payload
        started = client.gql(RUN_PIPELINE, {"id": payload["pipeline"]["id"]}, token)["data"]["runPipeline"]
        assert started["errors"] == [], started
        return started["job"]["id"]

    return start


def throughput(cluster: Cluster, client: ReplicaClient, token: str, jobs: int, content: bytes) -> float:
    started = time.monotonic()
    uploads = [client.upload(token, content) for _ in range(jobs // 2)]
    for upload in uploads:
        client.wait_for(token, upload["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=900)
    profiles = [
        client.gql(PROFILE, {"id": u["dataset"]["id"]}, token)["data"]["profileDataset"]["job"]["id"] for u in uploads
    ]
    for job_id in profiles:
        client.wait_for(token, job_id, ("SUCCEEDED", "FAILED"), timeout=900)
    return jobs / (time.monotonic() - started)


def local_server(directory: Path) -> Member:
    port = free_port()
    import os

    env = {
        **os.environ,
        **ENV,
        "ASSAY_DATA_DIR": str(directory / "data"),
        "ASSAY_PORT": str(port),
        "ASSAY_SECRET_KEY": "bench-cluster-secret-key-long-enough",
    }
    (directory / "data").mkdir(parents=True, exist_ok=True)
    member = Member("local", ["-m", "server"], env, directory / "local.log", port=port).start()
    member.wait_healthy()
    return member


def medium_csv(rows: int = 50_000) -> bytes:
    return b"id,value,label\n" + b"".join(b"%d,%d.5,l%d\n" % (i, i % 977, i % 13) for i in range(rows))


def fan_out_row(samples: dict) -> str:
    values = samples["samples"]
    failed = "" if samples["status"] == "SUCCEEDED" else f" (the job ended {samples['status']})"
    if not values:
        return "no samples" + failed
    return (
        f"{pct(values, 0.5):.1f} / {pct(values, 0.99):.1f} "
        f"({len(values):,} of {samples['expected']:,}: {samples['lines']} lines){failed}"
    )


def latencies(client: ReplicaClient, watch_base: str, subscribers: int, feed: PacedFeed) -> tuple[dict, str]:
    """Parts 1 and 2 for a new user of `client`'s replica, watched through `watch_base`: the table's cells, and
    the user's token."""
    _, token = client.register()
    delays = enqueue_to_running(client, token)
    samples = asyncio.run(fan_out(watch_base, pipeline_starter(client, token, feed), token, subscribers, feed))
    cells = {"enqueue": f"{statistics.median(delays):.1f} / {pct(delays, 0.9):.1f}", "fanout": fan_out_row(samples)}
    return cells, token


def main() -> None:
    subscribers = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    pages = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    delay = (float(sys.argv[4]) if len(sys.argv) > 4 else 20) / 1000
    print(machine_line())
    work = Path(tempfile.mkdtemp(prefix="assay-bench-cluster-"))
    feed = PacedFeed(pages, delay)
    rows: dict[str, dict[str, str]] = {}

    try:
        local = local_server(work / "local")
        try:
            rows["local"], _ = latencies(ReplicaClient(local.base), local.base, subscribers, feed)
        finally:
            local.stop()

        with Cluster(work / "cluster", workers=2, worker_concurrency=1, env=ENV) as cluster:
            a, b = (ReplicaClient(m.base) for m in cluster.replicas)
            rows["celery"], token = latencies(a, b.base, subscribers, feed)
            content = medium_csv()
            two = throughput(cluster, a, token, jobs, content)
            second = cluster.worker_members[1]
            second.stop()
            cluster.members.remove(second)
            time.sleep(8)  # its record expires
            one = throughput(cluster, a, token, jobs, content)
    finally:
        feed.close()

    print(
        f"\n| executor | enqueue -> RUNNING p50 / p90 (ms) | worker -> {subscribers} subscribers p50 / p99 "
        f"(ms, samples of subscribers x lines) |"
    )
    print("| --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['enqueue']} | {row['fanout']} |")
    print(
        f"\nFan-out workload: a PIPELINE job over {pages} JSON pages, {delay * 1000:g} ms apart (delaySeconds), "
        f'one "Page N" line each; subscribed with batch: true; celery: subscribers on the other replica.'
    )
    print(
        f"\n{jobs} ingest+profile jobs (50,000-row CSV): 1 worker {one:.2f} jobs/s, 2 workers {two:.2f} jobs/s, "
        f"ratio {two / one:.2f}x"
    )


if __name__ == "__main__":
    main()
