"""Scaled out vs the embedded default, in one run: `python bench/cluster.py [subscribers] [jobs]`.

1. enqueue -> RUNNING latency (job.created_at -> job.started_at, the database's own clock), p50/p90,
   over sequential tiny uploads: local executor vs Celery.
2. worker -> subscriber latency: `subscribers` sockets watch one job; each LOG event's `time` (set
   where the body logged it) against its arrival; local (one process) vs Celery (worker -> Redis ->
   the other replica).
3. throughput: `jobs` ingest+profile jobs queued at once (half uploads, then half profiles),
   Celery with 1 worker vs 2 workers (one job at a time each).
"""
from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from calibrate import machine_line  # noqa: E402

from server.cluster import Cluster, Member  # noqa: E402
from server.redis_local import free_port  # noqa: E402
from tests.cluster_client import ReplicaClient  # noqa: E402
from tests.conftest import slow_gzip  # noqa: E402

JOB_TIMES = "query($id: ID!) { job(id: $id) { status createdAt startedAt } }"
PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: false}) { job { id } errors { code } } }"
EVENTS = "subscription($id: ID!, $after: Int!) { jobEvents(jobId: $id, after: $after) { kind log { seq time } } }"
ENV = {"ASSAY_REQUESTS_PER_MINUTE": "10000000", "ASSAY_JOB_HEARTBEAT_SECONDS": "2"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def enqueue_to_running(client: ReplicaClient, token: str, runs: int = 20) -> list[float]:
    delays = []
    for index in range(runs):
        job_id = client.upload(token, b"a,b\n%d,2\n" % index)["job"]["id"]
        client.wait_for(token, job_id, ("SUCCEEDED", "FAILED"))
        job = client.gql(JOB_TIMES, {"id": job_id}, token)["data"]["job"]
        delays.append((datetime.fromisoformat(job["startedAt"]) - datetime.fromisoformat(job["createdAt"])).total_seconds() * 1000)
    return delays


async def _watch(base: str, token: str, job_id: str, after: int, samples: list[float], ready: asyncio.Event,
                 counter: list[int], total: int) -> None:
    async with connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"],
                       max_size=None, open_timeout=120) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        await socket.recv()
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": EVENTS, "variables": {"id": job_id, "after": after}}}))
        first = True
        while True:
            message = json.loads(await socket.recv())
            arrived = time.time()
            if first:
                counter[0] += 1
                if counter[0] == total:
                    ready.set()
                first = False
            if message["type"] == "complete":
                return
            event = message["payload"]["data"]["jobEvents"]
            if event["kind"] == "LOG" and ready.is_set():
                samples.append((arrived - datetime.fromisoformat(event["log"]["time"]).timestamp()) * 1000)


async def fan_out(watch_base: str, start_job, token: str, subscribers: int) -> list[float]:
    """Start a slow job, attach `subscribers` sockets after its current lines, time the lines that follow."""
    job_id, client = start_job()
    after = max([entry["seq"] for entry in client.job(token, job_id)["logs"]] or [0])
    samples: list[float] = []
    ready = asyncio.Event()
    counter = [0]
    await asyncio.gather(*(_watch(watch_base, token, job_id, after, samples, ready, counter, subscribers)
                           for _ in range(subscribers)))
    return samples


def throughput(cluster: Cluster, client: ReplicaClient, token: str, jobs: int, content: bytes) -> float:
    started = time.monotonic()
    uploads = [client.upload(token, content) for _ in range(jobs // 2)]
    for upload in uploads:
        client.wait_for(token, upload["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=900)
    profiles = [client.gql(PROFILE, {"id": u["dataset"]["id"]}, token)["data"]["profileDataset"]["job"]["id"] for u in uploads]
    for job_id in profiles:
        client.wait_for(token, job_id, ("SUCCEEDED", "FAILED"), timeout=900)
    return jobs / (time.monotonic() - started)


def local_server(directory: Path) -> Member:
    port = free_port()
    import os
    env = {**os.environ, **ENV, "ASSAY_DATA_DIR": str(directory / "data"), "ASSAY_PORT": str(port),
           "ASSAY_SECRET_KEY": "bench-cluster-secret-key-long-enough"}
    (directory / "data").mkdir(parents=True, exist_ok=True)
    member = Member("local", ["-m", "server"], env, directory / "local.log", port=port).start()
    member.wait_healthy()
    return member


def medium_csv(rows: int = 50_000) -> bytes:
    return b"id,value,label\n" + b"".join(b"%d,%d.5,l%d\n" % (i, i % 977, i % 13) for i in range(rows))


def main() -> None:
    subscribers = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    print(machine_line())
    work = Path(tempfile.mkdtemp(prefix="assay-bench-cluster-"))
    slow = slow_gzip(work / "slow.csv.gz", rows_millions=4)
    rows: dict[str, dict[str, str]] = {}

    local = local_server(work / "local")
    try:
        client = ReplicaClient(local.base)
        _, token = client.register()
        delays = enqueue_to_running(client, token)
        samples = asyncio.run(fan_out(local.base, lambda: (client.upload(token, slow, "s.csv.gz")["job"]["id"], client),
                                      token, subscribers))
        rows["local"] = {"enqueue": f"{statistics.median(delays):.1f} / {pct(delays, .9):.1f}",
                         "fanout": f"{pct(samples, .5):.1f} / {pct(samples, .99):.1f} ({len(samples)})"}
    finally:
        local.stop()

    with Cluster(work / "cluster", workers=2, worker_concurrency=1, env=ENV) as cluster:
        a, b = (ReplicaClient(m.base) for m in cluster.replicas)
        _, token = a.register()
        delays = enqueue_to_running(a, token)
        samples = asyncio.run(fan_out(b.base, lambda: (a.upload(token, slow, "s.csv.gz")["job"]["id"], a), token, subscribers))
        rows["celery"] = {"enqueue": f"{statistics.median(delays):.1f} / {pct(delays, .9):.1f}",
                          "fanout": f"{pct(samples, .5):.1f} / {pct(samples, .99):.1f} ({len(samples)})"}
        content = medium_csv()
        two = throughput(cluster, a, token, jobs, content)
        second = cluster.worker_members[1]
        second.stop()
        cluster.members.remove(second)
        time.sleep(8)  # its record expires
        one = throughput(cluster, a, token, jobs, content)

    print(f"\n| executor | enqueue -> RUNNING p50 / p90 (ms) | worker -> {subscribers} subscribers p50 / p99 (ms, samples) |")
    print("| --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['enqueue']} | {row['fanout']} |")
    print(f"\n{jobs} ingest+profile jobs (50,000-row CSV): 1 worker {one:.2f} jobs/s, 2 workers {two:.2f} jobs/s, "
          f"ratio {two / one:.2f}x")


if __name__ == "__main__":
    main()
