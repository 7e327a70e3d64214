"""Upload + ingest of 1,000,000 rows x 20 mixed columns through a running server, against pyarrow's parse.

Usage: .venv/bin/python bench/ingest.py [ROWS] [REPEATS]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datagen import write_mixed_csv  # noqa: E402
from calibrate import machine_line  # noqa: E402
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


PYARROW_TWICE = ("import sys, time, pyarrow.csv as c\n"
                 "t = time.perf_counter(); table = c.read_csv(sys.argv[1]); first = time.perf_counter() - t; del table\n"
                 "t = time.perf_counter(); table = c.read_csv(sys.argv[1]); print(first, time.perf_counter() - t, table.nbytes)")


def pyarrow_parse(path: Path) -> tuple[float, float, int]:
    """read_csv in a fresh process: its first call (as an ingest worker's is), a second, warm one, the table's bytes."""
    out = subprocess.run([sys.executable, "-c", PYARROW_TWICE, str(path)], capture_output=True, text=True, check=True)
    first, warm, nbytes = out.stdout.split()
    return float(first), float(warm), int(nbytes)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        path = write_mixed_csv(Path(scratch) / "mixed.csv", rows)
        size = path.stat().st_size
        os.sync()  # the generated file's dirty pages would otherwise be written back during a measured upload
        with running_server() as (base, process), RssSampler(process.pid, unique=True) as rss:
            token = register(base)
            time.sleep(3)  # the fork server preloads pandas and scikit-learn for a second or two after start
            for _ in range(repeats):
                pyarrow_seconds, pyarrow_warm, in_memory = pyarrow_parse(path)
                rss.reset()
                upload_seconds, total_seconds, dataset = upload_and_wait(base, token, path)
                assert dataset["status"] == "READY", dataset
                job = dataset["jobs"]["edges"][0]["node"]
                runs.append({"pyarrow": pyarrow_seconds, "warm": pyarrow_warm, "upload": upload_seconds, "total": total_seconds,
                             "server": rss.peak_server, "worker": rss.peak_workers, "sum": rss.peak_total,
                             "worker_uss": rss.peak_workers_unique,
                             "stages": ", ".join(f"{t['stage']} {t['durationMs'] / 1000:.2f} s" for t in job["timeline"])})
    print("\n" + machine_line())
    print(f"\n## Ingest benchmark: {rows:,} rows x {dataset['columnCount']} columns, CSV {size / MB:,.0f} MB, "
          f"parsed table {in_memory / MB:,.0f} MB in memory\n")
    print("Each run: pyarrow.csv.read_csv of the file in a fresh process (its first call, as in an ingest worker, "
          "and a second, warm call), then the upload over HTTP multipart and the INGEST job until READY on the same "
          "warm server. The ratio is against the first call; the warm ratio against the second.\n")
    print("| run | pyarrow read_csv (first / warm) | upload | upload + ingest | ratio (target <= 3x) | warm ratio | peak RSS server | "
          "peak RSS worker | server + worker / table (target < 4x) | server + worker USS / table | job stages |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for number, run in enumerate(runs, 1):
        print(f"| {number} | {run['pyarrow']:.2f} s / {run['warm']:.2f} s | {run['upload']:.2f} s | {run['total']:.2f} s | "
              f"{run['total'] / run['pyarrow']:.2f}x | {run['total'] / run['warm']:.2f}x | {run['server'] / MB:,.0f} MB | {run['worker'] / MB:,.0f} MB | "
              f"{run['sum'] / in_memory:.2f}x | {(run['server'] + run['worker_uss']) / in_memory:.2f}x | {run['stages']} |")
    median = {key: statistics.median(run[key] for run in runs) for key in ("pyarrow", "warm", "total")}
    print(f"| median | {median['pyarrow']:.2f} s / {median['warm']:.2f} s | | {median['total']:.2f} s | "
          f"{median['total'] / median['pyarrow']:.2f}x | {median['total'] / median['warm']:.2f}x | | | {max(run['sum'] for run in runs) / in_memory:.2f}x (worst) | | |")


if __name__ == "__main__":
    main()
