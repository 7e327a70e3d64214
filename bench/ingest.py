"""Upload + ingest of 1,000,000 rows x 20 mixed columns through a running server, ingested as it arrives.

Against pyarrow `read_csv` + `write_table(zstd)` of the same file: warm (the second call in one
process, file in the page cache: what a long-lived worker can reach) and a first call in a fresh
process. Plain and gzip, each at full speed and with the client throttled to 50 MB/s; medians of
REPEATS runs. Times come from one clock: the client's request start and last byte, and the job's
`finishedAt` as the server recorded it (READY is set in the same transaction).

Usage: .venv/bin/python bench/ingest.py [ROWS] [REPEATS]
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate import machine_line
from datagen import write_mixed_csv
from harness import UPLOAD, RssSampler, gql, register, running_server, wait_for_job_over_websocket

STATUS = """query($id: ID!) { dataset(id: $id) { status error rowCount columnCount sizeBytes
  jobs(first: 1) { edges { node { finishedAt timeline { stage durationMs } } } } } }"""
MB = 1024 * 1024
BOUNDARY = "benchboundary9f8e7d6c5b4a"
PIECE = 1 << 20

PYARROW_TWICE = """import sys, time, pyarrow.csv as c, pyarrow.parquet as pq
def once():
    t = time.perf_counter()
    table = c.read_csv(sys.argv[1])
    pq.write_table(table, sys.argv[2], compression="zstd")
    return time.perf_counter() - t, table.nbytes
first, _ = once()
warm, nbytes = once()
print(first, warm, nbytes)"""


def pyarrow_reference(path: Path, scratch: Path) -> tuple[float, float, int]:
    """read_csv + write_table(zstd) in a fresh process: its first call, a second (warm) one, the table's bytes."""
    out = subprocess.run(
        [sys.executable, "-c", PYARROW_TWICE, str(path), str(scratch / "reference.parquet")],
        capture_output=True,
        text=True,
        check=True,
    )
    first, warm, nbytes = out.stdout.split()
    return float(first), float(warm), int(nbytes)


def multipart_body(path: Path, rate: float | None, marks: dict) -> Iterator[bytes]:
    """The GraphQL multipart request (operations, map, then the file), paced to `rate` bytes/s when given."""
    operations = json.dumps({"query": UPLOAD, "variables": {"input": {"file": None}}})
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
        '{"0": ["variables.input.file"]}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    started, sent = time.perf_counter(), 0
    with path.open("rb") as handle:
        while piece := handle.read(PIECE):
            if rate:
                ahead = sent / rate - (time.perf_counter() - started)
                if ahead > 0:
                    time.sleep(ahead)
            yield piece
            sent += len(piece)
    marks["last_byte"] = time.time()
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def post_upload(base: str, headers: dict, body: bytes | Iterator[bytes]) -> dict:
    """POST with http.client, which hands the body to the socket as it is: httpx 0.28 needs ~4.5 s to send 237 MB
    even to a socket that only reads (http.client: 0.1 s), so with it the client, not the server, set the pace."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        connection.request("POST", "/graphql", body=body, headers=headers, encode_chunked=not isinstance(body, bytes))
        response = connection.getresponse()
        return json.loads(response.read())
    finally:
        connection.close()


def ingest_once(base: str, token: str, path: Path, rate: float | None) -> dict:
    marks: dict = {}
    size = path.stat().st_size
    headers = {
        "authorization": f"Bearer {token}",
        "apollo-require-preflight": "1",
        "content-type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    if rate is None:  # full speed: a declared length, as browsers send
        body = b"".join(multipart_body(path, None, marks))
        headers["content-length"] = str(len(body))
        started = time.time()
        answer = post_upload(base, headers, body)
        marks["last_byte"] = started  # (sent at once; the figure that matters is end to end)
    else:
        headers["transfer-encoding"] = "chunked"
        started = time.time()
        answer = post_upload(base, headers, multipart_body(path, rate, marks))
    answered = time.time()
    payload = answer["data"]["uploadDataset"]
    assert not payload["errors"], payload
    wait_for_job_over_websocket(base, token, payload["job"]["id"])
    dataset = gql(base, STATUS, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert dataset["status"] == "READY" and dataset["sizeBytes"] == size, dataset
    job = dataset["jobs"]["edges"][0]["node"]
    ready = datetime.fromisoformat(job["finishedAt"]).timestamp()
    return {
        "end_to_end": ready - started,
        "after_last_byte": ready - marks["last_byte"],
        "answered": answered - started,
        "stages": ", ".join(f"{t['stage']} {t['durationMs'] / 1000:.2f} s" for t in job["timeline"]),
        "columns": dataset["columnCount"],
    }


def measure(base: str, token: str, path: Path, scratch: Path, repeats: int, rss: RssSampler) -> dict:
    runs = []
    for _ in range(repeats):
        first, warm, nbytes = pyarrow_reference(path, scratch)
        rss.reset()
        fast = ingest_once(base, token, path, None)
        peak_worker, peak_total = rss.peak_workers, rss.peak_total
        throttled = ingest_once(base, token, path, 50 * 1e6)
        runs.append(
            {
                "first": first,
                "warm": warm,
                "nbytes": nbytes,
                "fast": fast,
                "throttled": throttled,
                "worker": peak_worker,
                "total": peak_total,
            }
        )
    return {
        "runs": runs,
        "median": {
            "first": statistics.median(r["first"] for r in runs),
            "warm": statistics.median(r["warm"] for r in runs),
            "end_to_end": statistics.median(r["fast"]["end_to_end"] for r in runs),
            "after_last_byte": statistics.median(r["throttled"]["after_last_byte"] for r in runs),
            "worker": statistics.median(r["worker"] for r in runs),
            "total": statistics.median(r["total"] for r in runs),
            "nbytes": runs[0]["nbytes"],
        },
    }


def print_table(title: str, size: int, result: dict) -> None:
    print(f"\n### {title} ({size / MB:,.0f} MB)\n")
    print(
        "| run | pyarrow read+write zstd (warm / first call) | end to end | vs warm (goal <= 1.5x) | vs first call | "
        "throttled 50 MB/s: READY after last byte (goal <= 0.5 s) | peak RSS worker / table (goal < 4x) | "
        "server + worker / table | job stages (full speed) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for number, run in enumerate(result["runs"], 1):
        fast, throttled = run["fast"], run["throttled"]
        print(
            f"| {number} | {run['warm']:.2f} s / {run['first']:.2f} s | {fast['end_to_end']:.2f} s | "
            f"{fast['end_to_end'] / run['warm']:.2f}x | {fast['end_to_end'] / run['first']:.2f}x | "
            f"{throttled['after_last_byte']:.2f} s (upload "
            f"{throttled['end_to_end'] - throttled['after_last_byte']:.1f} s) | "
            f"{run['worker'] / run['nbytes']:.2f}x ({run['worker'] / MB:,.0f} MB) | "
            f"{run['total'] / run['nbytes']:.2f}x | "
            f"{fast['stages']} |"
        )
    m = result["median"]
    print(
        f"| median | {m['warm']:.2f} s / {m['first']:.2f} s | {m['end_to_end']:.2f} s | "
        f"**{m['end_to_end'] / m['warm']:.2f}x** | "
        f"{m['end_to_end'] / m['first']:.2f}x | **{m['after_last_byte']:.2f} s** | "
        f"**{m['worker'] / m['nbytes']:.2f}x** | "
        f"{m['total'] / m['nbytes']:.2f}x | |"
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        plain = write_mixed_csv(scratch / "mixed.csv", rows)
        gzipped = scratch / "mixed.csv.gz"
        with plain.open("rb") as source, gzip.open(gzipped, "wb", compresslevel=6) as target:
            shutil.copyfileobj(source, target, 4 * MB)
        sizes = {"plain": plain.stat().st_size, "gzip": gzipped.stat().st_size}
        os.sync()  # the generated files' dirty pages would otherwise be written back during a measured upload
        with running_server() as (base, process), RssSampler(process.pid) as rss:
            token = register(base)
            time.sleep(3)  # the fork server preloads pandas and scikit-learn for a second or two after start
            results = {
                name: measure(base, token, path, scratch, repeats, rss)
                for name, path in (("plain", plain), ("gzip", gzipped))
            }
    print("\n" + machine_line())
    print(
        f"\n## Ingest as the upload arrives: {rows:,} rows x 20 columns, parsed table "
        f"{results['plain']['median']['nbytes'] / MB:,.0f} MB in memory"
    )
    print_table("CSV", sizes["plain"], results["plain"])
    print_table("gzip CSV", sizes["gzip"], results["gzip"])


if __name__ == "__main__":
    main()
