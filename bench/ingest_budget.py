"""Ingest of files several times the job memory budget: the INGEST worker's peak RSS, sampled from outside.

A mixed 20-column CSV (bench/datagen.py, written in 1M-row blocks with ids running on), its gzip and
a Parquet copy of it are sent with curl to a real server started with ASSAY_JOB_MEMORY_MB=BUDGET;
each must reach READY with the worker's peak RSS (psutil on the fork server's children, every few
ms, bench/harness.RssSampler) within the budget. The anchor is the budget itself.

Usage: .venv/bin/python bench/ingest_budget.py [ROWS] [BUDGET_MB]
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate import machine_line
from datagen import mixed_table
from harness import UPLOAD, RssSampler, gql, register, running_server, wait_for_job_over_websocket

MB = 1024 * 1024
BLOCK = 1_000_000
STATUS = """query($id: ID!) { dataset(id: $id) { status error rowCount columnCount
  jobs(first: 1) { edges { node { timeline { stage durationMs } } } } } }"""


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    """The CSV in blocks (never the whole table in this process), then its gzip and a Parquet copy, streamed."""
    csv_path, gz_path, parquet_path = folder / "mixed.csv", folder / "mixed.csv.gz", folder / "mixed.parquet"
    with csv_path.open("wb") as out:
        for block, start in enumerate(range(0, rows, BLOCK)):
            table = mixed_table(min(BLOCK, rows - start), seed=block)
            table = table.set_column(0, "id", pa.array(range(start + 1, start + table.num_rows + 1)))
            pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=block == 0))
    with csv_path.open("rb") as source, gzip.open(gz_path, "wb", compresslevel=1) as target:
        shutil.copyfileobj(source, target, 4 * MB)
    with pacsv.open_csv(csv_path) as reader, pq.ParquetWriter(parquet_path, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    return {"CSV": csv_path, "gzip CSV": gz_path, "Parquet": parquet_path}


def curl_upload(base: str, token: str, path: Path) -> dict:
    operations = json.dumps({"query": UPLOAD, "variables": {"input": {"file": None}}})
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-H",
            f"authorization: Bearer {token}",
            "-H",
            "apollo-require-preflight: 1",
            "-F",
            f"operations={operations}",
            "-F",
            'map={"0": ["variables.input.file"]}',
            "-F",
            f"0=@{path}",
            f"{base}/graphql",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)["data"]["uploadDataset"]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 6_000_000
    budget = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    results = []
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(Path(folder), rows)
        with (
            running_server(ASSAY_JOB_MEMORY_MB=str(budget)) as (base, process),
            RssSampler(process.pid, unique=True) as rss,
        ):
            token = register(base)
            time.sleep(3)  # the fork server preloads its libraries first
            fork_server = max(
                (child for child in psutil.Process(process.pid).children()), key=lambda c: c.memory_info().rss
            )
            baseline = fork_server.memory_info().rss  # what every job worker starts from (its preloaded modules)
            for label, path in paths.items():
                rss.reset()
                started = time.perf_counter()
                payload = curl_upload(base, token, path)
                assert not payload["errors"], payload
                wait_for_job_over_websocket(base, token, payload["job"]["id"], timeout=3600)
                seconds = time.perf_counter() - started
                dataset = gql(base, STATUS, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
                stages = dataset["jobs"]["edges"][0]["node"]["timeline"]
                results.append(
                    (label, path.stat().st_size, dataset, seconds, rss.peak_workers, rss.peak_workers_unique, stages)
                )
    print("\n" + machine_line())
    print(
        f"\n## Ingest beyond the budget: {rows:,} rows x 20 columns, ASSAY_JOB_MEMORY_MB={budget}; "
        f"a job worker starts at {baseline / MB:,.0f} MB RSS (the fork server's preloaded modules)\n"
    )
    print(
        "| file | size | size / budget | status | rows | upload start to READY | peak RSS worker | peak USS worker "
        "| RSS within budget | stages |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, size, dataset, seconds, peak, unique, stages in results:
        print(
            f"| {label} | {size / MB:,.0f} MB | {size / MB / budget:.1f}x | {dataset['status']} | "
            f"{dataset['rowCount'] or 0:,} | {seconds:.1f} s | {peak / MB:,.0f} MB | {unique / MB:,.0f} MB | "
            f"{'yes' if peak <= budget * MB else 'NO'} | "
            + ", ".join(f"{s['stage']} {s['durationMs'] / 1000:.1f} s" for s in stages)
            + " |"
        )


if __name__ == "__main__":
    main()
