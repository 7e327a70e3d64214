"""The answer cache (issue #30 row 7): a repeated chart on a 1M-row dataset, first (computed) and cached latency.

Usage: .venv/bin/python bench/cache.py [--rows 1000000] [--repeats 5]
The anchor is the first answer of each chart, computed by DuckDB over the Parquet copy, in the same run; the
cached figure is the median of the repeats. Run once with the in-process cache, once with Redis (a local
redis-server, ASSAY_REDIS_URL), once with the cache off (ASSAY_CACHE_TTL_SECONDS=0) to show the repeat without it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from calibrate import machine_line
from datagen import write_mixed_csv
from harness import gql, register, running_server, upload_and_ingest

CHART = """query($id: ID!, $input: ChartInput!) { dataset(id: $id) { chart(input: $input) {
  totalRows points { x y group } } } }"""
CHARTS = {
    "bar: sum of measure_0 by category_0": {"type": "BAR", "x": "category_0", "y": "measure_0", "aggregate": "SUM"},
    "histogram of measure_1, 50 bins": {"type": "HISTOGRAM", "x": "measure_1", "bins": 50},
}


def timed(base: str, token: str, dataset_id: str, spec: dict) -> float:
    began = time.perf_counter()
    answer = gql(base, CHART, {"id": dataset_id, "input": spec}, token)
    elapsed = time.perf_counter() - began
    assert "errors" not in answer, answer
    return elapsed


NAME = "query($id: ID!) { dataset(id: $id) { name } }"


def floor(base: str, token: str, dataset_id: str, repeats: int) -> float:
    """The same request path without a chart (auth, the dataset's lookup, GraphQL): what a cache hit cannot beat."""

    def once() -> float:
        began = time.perf_counter()
        gql(base, NAME, {"id": dataset_id}, token)
        return time.perf_counter() - began

    return statistics.median(once() for _ in range(repeats))


def measure(label: str, csv: Path, repeats: int, **env: str) -> list[tuple[str, str, float, float]]:
    rows = []
    with running_server(**env) as (base, _process):
        token = register(base)
        dataset_id = upload_and_ingest(base, token, csv)
        rows.append(
            (label, "floor: `dataset { name }`, no chart", float("nan"), floor(base, token, dataset_id, repeats))
        )
        for name, spec in CHARTS.items():
            first = timed(base, token, dataset_id, spec)
            again = statistics.median(timed(base, token, dataset_id, spec) for _ in range(repeats))
            rows.append((label, name, first, again))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as folder:
        csv = write_mixed_csv(Path(folder) / "mixed.csv", args.rows)
        results = measure("in-process cache", csv, args.repeats)
        results += measure("cache off", csv, args.repeats, ASSAY_CACHE_TTL_SECONDS="0")
        try:
            from devtools.redis_local import LocalRedis

            with LocalRedis() as redis:
                results += measure("Redis cache", csv, args.repeats, ASSAY_REDIS_URL=redis.url)
        except Exception as exc:  # noqa: BLE001 - no redis-server here: say so, keep the other figures
            print(f"(Redis run skipped: {exc})")
    print(f"\n{args.rows:,} rows x 20 columns; repeat = median of {args.repeats}\n")
    print("| cache | chart | first (anchor) | repeat | repeat / first |")
    print("| --- | --- | --- | --- | --- |")
    for label, name, first, again in results:
        ratio = "" if first != first else f"{again / first:.3f}x"  # the floor has no first answer (NaN)
        first_ms = "" if first != first else f"{first * 1000:.0f} ms"
        print(f"| {label} | {name} | {first_ms} | {again * 1000:.1f} ms | {ratio} |")


if __name__ == "__main__":
    main()
