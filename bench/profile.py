"""Assay's PROFILE job against polars' describe (the issue #25 anchor), pyarrow's parse (the floor) and
ydata-profiling, on 20 mixed columns.

Usage: .venv/bin/python bench/profile.py [--skip-ydata] [--rows 100000,1000000]
The anchor is polars `read_parquet(...).describe()` of the same data (the CSV as pyarrow parses it, written
as Parquet), run in this process between the jobs; every figure is the best of two runs. Targets (#25): the
profile stage at most 2x the anchor, profileDataset with plots from the mutation to SUCCEEDED at most 3x.
ydata-profiling runs from its own venv (bench/.venv-ydata: `python3 -m venv bench/.venv-ydata &&
bench/.venv-ydata/bin/pip install ydata-profiling setuptools`), because it pins older pandas.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import polars as pl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from datagen import write_mixed_csv
from harness import RssSampler, gql, register, run_job, running_server, upload_and_ingest

PROFILE = (
    "mutation($id: ID!, $plots: Boolean!) { profileDataset(input: {datasetId: $id, plots: $plots}) "
    "{ job { id } errors { code message } } }"
)
PLOTS = "query($id: ID!) { dataset(id: $id) { plots { url } } }"
JOB = (
    "query($id: ID!) { job(id: $id) { status startedAt finishedAt timeline { stage durationMs } "
    "logs(last: 20) { message } } }"
)
CPU = re.compile(r"\(([\d.]+) s CPU\)")
YDATA_PYTHON = HERE / ".venv-ydata" / "bin" / "python"
MB = 1024 * 1024


def profile(base: str, token: str, dataset_id: str, plots: bool, rss: RssSampler) -> dict:
    rss.reset()
    job, wall = run_job(base, token, PROFILE, {"id": dataset_id, "plots": plots}, JOB)
    stages = {t["stage"]: t["durationMs"] / 1000 for t in job["timeline"]}
    cpu = next((float(m.group(1)) for log in job["logs"] if (m := CPU.search(log["message"]))), None)
    drawing = None
    if plots:  # PNGs are drawn on first request: fetch each once, as a page showing them all would
        urls = [p["url"] for p in gql(base, PLOTS, {"id": dataset_id}, token)["data"]["dataset"]["plots"]]
        began = time.perf_counter()
        for url in urls:
            assert httpx.get(base + url, timeout=120).status_code == 200
        drawing = {"plots": len(urls), "seconds": time.perf_counter() - began}
    return {"wall": wall, "stages": stages, "peak": rss.peak_workers, "drawing": drawing, "cpu": cpu}


def best_of_two(run):
    first, second = run(), run()
    return min(first, second, key=lambda r: r["wall"])


def describe(parquet: Path) -> dict:
    """polars read_parquet(...).describe(): wall and CPU seconds (CPU says how much work, on a busy machine)."""
    began, cpu = time.perf_counter(), time.process_time()
    pl.read_parquet(parquet).describe()
    return {"wall": time.perf_counter() - began, "cpu": time.process_time() - cpu}


def ydata(path: Path, mode: str) -> dict | None:
    if not YDATA_PYTHON.exists():
        return None
    done = subprocess.run(
        [str(YDATA_PYTHON), str(HERE / "ydata_run.py"), str(path), mode], capture_output=True, text=True
    )
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    skip_ydata = "--skip-ydata" in sys.argv
    rows_list = (
        [int(r) for r in sys.argv[sys.argv.index("--rows") + 1].split(",")]
        if "--rows" in sys.argv
        else [100_000, 1_000_000]
    )
    rows_out = []
    with tempfile.TemporaryDirectory() as scratch, running_server() as (base, process), RssSampler(process.pid) as rss:
        token = register(base)
        for rows in rows_list:
            path = write_mixed_csv(Path(scratch) / f"mixed_{rows}.csv", rows)
            began = time.perf_counter()
            pacsv.read_csv(path)
            arrow_seconds = time.perf_counter() - began
            parquet = Path(scratch) / f"mixed_{rows}.parquet"
            pq.write_table(pacsv.read_csv(path), parquet, row_group_size=128 * 1024)
            dataset_id = upload_and_ingest(base, token, path)
            anchor = best_of_two(lambda parquet=parquet: describe(parquet))
            plain = best_of_two(lambda dataset_id=dataset_id: profile(base, token, dataset_id, False, rss))
            drawn = best_of_two(lambda dataset_id=dataset_id: profile(base, token, dataset_id, True, rss))
            anchor_after = best_of_two(lambda parquet=parquet: describe(parquet))
            anchor = min(anchor, anchor_after, key=lambda r: r["wall"])
            minimal = full = None
            if not skip_ydata:  # minimal at every size; the full report only on 100,000 rows (it takes minutes)
                minimal = ydata(path, "minimal")
                full = ydata(path, "full") if rows <= 100_000 else None
            rows_out.append((rows, arrow_seconds, plain, drawn, minimal, full, anchor))
    print("\n" + machine_line())
    print("\n## Profile benchmark: 20 mixed columns\n")
    print(
        "| rows | pyarrow read_csv | Assay profile job, no plots (job / profile stage) | peak worker RSS | "
        "with plots (job / plots stage) | ydata minimal | ydata full | speed-up vs ydata minimal |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for rows, arrow_seconds, plain, drawn, minimal, full, _ in rows_out:

        def show(result: dict | None) -> str:
            return f"{result['seconds']:.1f} s, {result['peak_rss_mb']:,.0f} MB" if result else "not run"

        job_seconds = sum(plain["stages"].values())
        speedup = f"{minimal['seconds'] / job_seconds:.0f}x" if minimal else "n/a"  # the job, not the HTTP round trip
        print(
            f"| {rows:,} | {arrow_seconds:.2f} s | {plain['wall']:.2f} s end to end ({job_seconds:.2f} s / "
            f"{plain['stages'].get('profile', 0):.2f} s) | {plain['peak'] / MB:,.0f} MB | {drawn['wall']:.2f} s "
            f"({sum(drawn['stages'].values()):.2f} s / {drawn['stages'].get('plots', 0):.2f} s) | {show(minimal)} | "
            f"{show(full)} | {speedup} |"
        )
    print_anchor_table(rows_out)


def print_anchor_table(rows_out: list) -> None:
    print(
        "\n## Profile speed against polars describe (issue #25 targets: profile stage <= 2x, "
        "mutation to SUCCEEDED with plots <= 3x)\n"
    )
    print(
        "| rows | polars read_parquet().describe() (wall / CPU) | profile stage (wall / CPU) | ratio wall / CPU | "
        "profileDataset with plots, mutation to SUCCEEDED | ratio | then drawing every plot on request | "
        "peak worker RSS |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for rows, _, plain, drawn, _, _, anchor in rows_out:
        stage = plain["stages"].get("profile", 0)
        cpu = plain["cpu"] or 0.0
        print(
            f"| {rows:,} | {anchor['wall']:.2f} s / {anchor['cpu']:.2f} s | {stage:.2f} s / {cpu:.2f} s | "
            f"{stage / anchor['wall']:.1f}x / {cpu / anchor['cpu']:.1f}x | {drawn['wall']:.2f} s | "
            f"{drawn['wall'] / anchor['wall']:.1f}x | "
            f"{drawn['drawing']['plots']} PNGs in {drawn['drawing']['seconds']:.2f} s | "
            f"{max(plain['peak'], drawn['peak']) / MB:,.0f} MB |"
        )


if __name__ == "__main__":
    main()
