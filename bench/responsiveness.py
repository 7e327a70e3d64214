"""p50/p99 of a `health` query while two training-sized jobs (random forest fits) run in workers.

Usage: .venv/bin/python bench/responsiveness.py [SECONDS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import httpx
import jwt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from harness import register, running_bench_server

HEALTH = {"query": "{ health { status activeJobs } }"}


def sample(client: httpx.Client, base: str, seconds: float) -> tuple[list[float], list[int]]:
    latencies, active = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        answer = client.post(f"{base}/graphql", json=HEALTH).json()
        latencies.append((time.perf_counter() - began) * 1000)
        active.append(answer["data"]["health"]["activeJobs"])
        time.sleep(0.01)
    return sorted(latencies), active


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 15
    with running_bench_server() as (base, _):
        owner = jwt.decode(register(base), options={"verify_signature": False})["sub"]
        with httpx.Client() as client:
            idle, _ = sample(client, base, 3)
            for _ in range(2):
                client.post(
                    f"{base}/bench/jobs",
                    json={"owner_id": owner, "kind": "TRAIN", "params": {"rows": 100_000, "trees": 300}},
                )
            time.sleep(1)
            busy, active = sample(client, base, seconds)
    print("\n" + machine_line())
    print(f"\n## Responsiveness: health while two random-forest fits run ({seconds:g} s of samples)\n")
    print("| phase | requests | p50 | p99 | max | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| idle | {len(idle)} | {quantile(idle, 0.5):.1f} ms | {quantile(idle, 0.99):.1f} ms | {idle[-1]:.1f} ms | |"
    )
    print(
        f"| two jobs running | {len(busy)} | {quantile(busy, 0.5):.1f} ms | {quantile(busy, 0.99):.1f} ms "
        f"| {busy[-1]:.1f} ms | p99 < 100 ms |"
    )
    print(f"\nactiveJobs seen while sampling: median {statistics.median(active):g}, max {max(active)}")


if __name__ == "__main__":
    main()
