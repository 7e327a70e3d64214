"""200 concurrent jobEvents subscribers on one job that logs 5,000 lines: delivery rate, latency, RSS.

Usage: .venv/bin/python bench/events.py [SUBSCRIBERS] [LINES] [PAUSE_SECONDS] [--batch]
Latency is from the moment the worker logged a line (its `time`) to the moment a subscriber parsed it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import jwt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from harness import RssSampler, register, running_bench_server, subscribed

from schema.common import to_global_id

QUERY = (
    "subscription($id: ID!, $batch: Boolean!) { jobEvents(jobId: $id, batch: $batch) "
    "{ kind logs { seq time } job { status } } }"
)
BATCH = "--batch" in sys.argv


async def subscriber(
    url: str,
    token: str,
    job_id: str,
    ready: asyncio.Event,
    latencies: list[float],
    counts: list[int],
    frame_counts: list[int],
) -> None:
    async with subscribed(url, token, QUERY, {"id": job_id, "batch": BATCH}) as events:
        received = frames = 0
        ready.set()
        async for now, event in events:
            frames += 1
            for log in event["logs"]:
                received += 1
                latencies.append(now - datetime.fromisoformat(log["time"]).timestamp())
        counts.append(received)
        frame_counts.append(frames)


async def run(base: str, token: str, owner_id: str, subscribers: int, lines: int, pause: float) -> dict:
    """Start a job that waits 3 s before logging, attach every subscriber meanwhile, then measure."""
    # One blocking request before anything is measured, while nothing else runs on this loop (ASYNC210).
    started = {"owner_id": owner_id, "kind": "ANALYZE", "params": {"lines": lines, "pause": pause, "delay": 3}}
    job_id = httpx.post(f"{base}/bench/jobs", json=started).json()["job_id"]  # noqa: ASYNC210 - once, before anything is measured (see above)
    job_id = to_global_id("Job", job_id)
    url = base.replace("http", "ws") + "/graphql"
    latencies: list[float] = []
    counts: list[int] = []
    frame_counts: list[int] = []
    readies = [asyncio.Event() for _ in range(subscribers)]
    tasks = [
        asyncio.create_task(subscriber(url, token, job_id, ready, latencies, counts, frame_counts)) for ready in readies
    ]
    await asyncio.gather(*(ready.wait() for ready in readies))
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    return {"elapsed": time.perf_counter() - started, "latencies": latencies, "counts": counts, "frames": frame_counts}


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    subscribers = int(args[0]) if len(args) > 0 else 200
    lines = int(args[1]) if len(args) > 1 else 5000
    pause = float(args[2]) if len(args) > 2 else 0.0
    with running_bench_server() as (base, server):
        token = register(base)
        owner_id = jwt.decode(token, options={"verify_signature": False})["sub"]
        with RssSampler(server.pid) as rss:
            # The 200 clients share one process: their own garbage collections (120-160 ms every
            # ~1.7 s, measured with gc.callbacks) would be counted as server latency.
            gc.disable()
            result = asyncio.run(run(base, token, owner_id, subscribers, lines, pause))
            gc.enable()
    latencies = sorted(result["latencies"])
    delivered = len(latencies)
    expected = subscribers * lines
    quantile = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731 - a one-line helper for the table below
    print("\n" + machine_line())
    print(
        f"\n## Job events{' (batch: true)' if BATCH else ''}: {subscribers} subscribers x {lines:,} log lines"
        f"{f', {pause * 1000:g} ms between lines' if pause else ', as fast as the job logs'}\n"
    )
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(f"| log lines delivered / expected | {delivered:,} / {expected:,} | all, in order |")
    print(
        f"| subscribers that got every line | {sum(1 for c in result['counts'] if c == lines)} / {subscribers} | all |"
    )
    print(
        "| wall time, all attached to last completion (includes the job's 3 s start delay) | "
        f"{result['elapsed']:.2f} s | |"
    )
    print(f"| delivery rate | {delivered / max(result['elapsed'] - 3, 0.001):,.0f} lines/s (after the start delay) | |")
    print(f"| latency p50 (logged in worker -> parsed by client) | {quantile(0.50):.1f} ms | |")
    print(f"| latency p99 | {quantile(0.99):.1f} ms | < 100 ms |")
    print(f"| latency max | {latencies[-1] * 1000:.1f} ms | |")
    print(f"| messages per subscriber (mean) | {sum(result['frames']) / max(len(result['frames']), 1):,.0f} | |")
    print(f"| server peak RSS (API process) | {rss.peak_server / 2**20:,.0f} MB | |")


if __name__ == "__main__":
    main()
