"""Upload + ingest of 1,000,000 rows x 20 mixed columns through a running server, against pyarrow's parse.

Usage: .venv/bin/python bench/ingest.py [ROWS]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datagen import write_mixed_csv  # noqa: E402
from harness import RssSampler, gql, register, running_server, upload_file, wait_for_job_over_websocket  # noqa: E402

STATUS = '''query($id: ID!) { dataset(id: $id) { status error rowCount columnCount
  jobs(first: 1) { edges { node { createdAt startedAt finishedAt timeline { stage durationMs } } } } } }'''
MB = 1024 * 1024


def upload_and_wait(base: str, token: str, path: Path) -> tuple[float, float, dict]:
    started = time.perf_counter()
    payload = upload_file(base, token, path)
    uploaded = time.perf_counter()
    wait_for_job_over_websocket(base, token, payload["job"]["id"])
    finished = time.perf_counter()
    dataset = gql(base, STATUS, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    return uploaded - started, finished - started, dataset


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as scratch:
        path = write_mixed_csv(Path(scratch) / "mixed.csv", rows)
        size = path.stat().st_size
        began = time.perf_counter()
        table = pacsv.read_csv(path)
        pyarrow_seconds = time.perf_counter() - began
        in_memory = table.nbytes
        del table
        with running_server() as (base, process), RssSampler(process.pid, unique=True) as rss:
            token = register(base)
            rss.reset()
            upload_seconds, total_seconds, dataset = upload_and_wait(base, token, path)
    assert dataset["status"] == "READY", dataset
    print(f"\n## Ingest benchmark: {rows:,} rows x {dataset['columnCount']} columns, CSV {size / MB:,.0f} MB\n")
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(f"| pyarrow.csv.read_csv (same file, same run) | {pyarrow_seconds:.2f} s | reference |")
    print(f"| upload (HTTP multipart, streamed to disk) | {upload_seconds:.2f} s | |")
    print(f"| upload + ingest, end to end (until READY) | {total_seconds:.2f} s | |")
    print(f"| end to end / pyarrow parse | {total_seconds / pyarrow_seconds:.2f}x | <= 3x |")
    print(f"| parsed table in memory (Arrow) | {in_memory / MB:,.0f} MB | |")
    print(f"| peak RSS, server process | {rss.peak_server / MB:,.0f} MB | |")
    print(f"| peak RSS, ingest worker process | {rss.peak_workers / MB:,.0f} MB | |")
    print(f"| peak RSS, server + worker / in-memory table | {rss.peak_total / in_memory:.2f}x | < 4x |")
    print(f"| peak USS, ingest worker (not shared with the fork server's preloaded modules) | "
          f"{rss.peak_workers_unique / MB:,.0f} MB | |")
    print(f"| peak RSS server + USS worker / in-memory table | "
          f"{(rss.peak_server + rss.peak_workers_unique) / in_memory:.2f}x | < 4x |")
    job = dataset["jobs"]["edges"][0]["node"]
    print("\nIngest job stages: " + ", ".join(f"{t['stage']} {t['durationMs'] / 1000:.2f} s" for t in job["timeline"]))
    print(f"Job queued {job['createdAt']}, started {job['startedAt']}, finished {job['finishedAt']}")


if __name__ == "__main__":
    main()
