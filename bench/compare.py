"""compareDatasets on two 1M-row versions (10 numeric + 2 categorical columns) next to scipy on the same columns.

Usage: .venv/bin/python bench/compare.py [--rows 1000000]
Two Parquet versions are uploaded to a real server (`python -m server`); compareDatasets runs from the mutation
to SUCCEEDED (followed over jobEvents), twice per setting, best kept: with the default drift-test sample
(ASSAY_COMPARISON_SAMPLE_ROWS=100000) and with every row tested (=rows). The anchor, in this process in the same
run: numpy's count/mean/std/min/max/quantiles of each column and scipy's drift statistic on every row (Wasserstein
over the reference's std for numbers, Jensen-Shannon of the category shares), reading the same columns from the
same Parquet files. The job's statistics are also checked against the anchor's (max relative difference).
Worker memory is sampled from outside (bench/rss_sampler.py).
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats
from scipy.spatial import distance

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from harness import RssSampler, register, run_job, running_server, upload_and_ingest

NUMERIC, CATEGORICAL = [f"n{i}" for i in range(10)], ["plan", "region"]
COMPARE = (
    "mutation($r: ID!, $c: ID!) { compareDatasets(input: {referenceId: $r, currentId: $c}) "
    "{ job { id } errors { code message } } }"
)
RESULT = """query($id: ID!) { job(id: $id) { status timeline { stage durationMs } logs(last: 3) { message }
comparison { datasetDrift driftShare
  sampling { sampled referenceTestRows }
  columns { name reference { mean std median } drift { method statistic drifted } } } } }"""
MB = 1024 * 1024
CPU = re.compile(r"\(([\d.]+) s CPU\)")


def write_versions(folder: Path, rows: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    paths = []
    for shift, name in ((0.0, "reference"), (0.3, "current")):
        columns = {f"n{i}": rng.normal(10 * i + (shift if i % 3 == 0 else 0.0), 1 + i, rows) for i in range(10)}
        columns["plan"] = rng.choice(
            ["basic", "pro", "team", "free"], rows, p=[0.4, 0.3, 0.2, 0.1] if not shift else [0.3, 0.3, 0.2, 0.2]
        )
        columns["region"] = rng.choice([f"r{k}" for k in range(50)], rows)
        path = folder / f"{name}.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=128 * 1024)
        paths.append(path)
    return paths[0], paths[1]


def anchor(reference: Path, current: Path) -> dict:
    """numpy's statistics and scipy's drift statistic of every column on every row; wall and CPU seconds."""
    began, cpu = time.perf_counter(), time.process_time()
    found = {}
    for name in NUMERIC:
        ref = pq.read_table(reference, columns=[name]).column(0).to_numpy()
        cur = pq.read_table(current, columns=[name]).column(0).to_numpy()
        for side in (ref, cur):
            side.mean(), side.std(ddof=1), side.min(), side.max(), np.quantile(side, [0.05, 0.25, 0.5, 0.75, 0.95])
        found[name] = {
            "mean": ref.mean(),
            "median": float(np.median(ref)),
            "statistic": stats.wasserstein_distance(ref, cur) / np.std(ref),
        }
    for name in CATEGORICAL:
        ref = pq.read_table(reference, columns=[name]).column(0).value_counts()
        cur = pq.read_table(current, columns=[name]).column(0).value_counts()
        ref_counts = dict(zip(ref.field(0).to_pylist(), ref.field(1).to_pylist(), strict=True))
        cur_counts = dict(zip(cur.field(0).to_pylist(), cur.field(1).to_pylist(), strict=True))
        keys = sorted(set(ref_counts) | set(cur_counts))
        p = np.array([ref_counts.get(k, 0) for k in keys], float)
        q = np.array([cur_counts.get(k, 0) for k in keys], float)
        found[name] = {"statistic": float(distance.jensenshannon(p / p.sum(), q / q.sum()))}
    return {"wall": time.perf_counter() - began, "cpu": time.process_time() - cpu, "columns": found}


def compare(base: str, token: str, reference_id: str, current_id: str, rss: RssSampler) -> dict:
    rss.reset()
    job, wall = run_job(base, token, COMPARE, {"r": reference_id, "c": current_id}, RESULT)
    cpu = next(float(m.group(1)) for log in job["logs"] if (m := CPU.search(log["message"])))
    return {
        "wall": wall,
        "cpu": cpu,
        "stages": {t["stage"]: t["durationMs"] / 1000 for t in job["timeline"]},
        "peak": rss.peak_workers,
        "comparison": job["comparison"],
    }


def run_setting(reference: Path, current: Path, sample_rows: int) -> tuple[dict, dict]:
    """Best of two compareDatasets runs on a fresh server; the anchor run between them, in this process."""
    with (
        running_server(ASSAY_COMPARISON_SAMPLE_ROWS=str(sample_rows)) as (base, process),
        RssSampler(process.pid) as rss,
    ):
        token = register(base)
        reference_id = upload_and_ingest(base, token, reference)
        current_id = upload_and_ingest(base, token, current)
        first = compare(base, token, reference_id, current_id, rss)
        scipy_run = anchor(reference, current)
        second = compare(base, token, reference_id, current_id, rss)
    return min(first, second, key=lambda r: r["wall"]), scipy_run


def agreement(service: dict, scipy_run: dict) -> tuple[float, float]:
    """The largest absolute difference of the drift statistics (the sample's against every row's, or the same rows'),
    and the largest relative difference of the reference means, from the anchor's."""
    statistic = mean = 0.0
    for column in service["comparison"]["columns"]:
        expected = scipy_run["columns"][column["name"]]
        statistic = max(statistic, abs(column["drift"]["statistic"] - expected["statistic"]))
        if "mean" in expected:
            mean = max(mean, abs(column["reference"]["mean"] - expected["mean"]) / abs(expected["mean"] or 1))
    return statistic, mean


def main() -> None:
    rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 1_000_000
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        reference, current = write_versions(Path(scratch), rows)
        for sample_rows in (100_000, rows):
            service, scipy_run = run_setting(reference, current, sample_rows)
            results.append((sample_rows, service, scipy_run))
    print("\n" + machine_line())
    print(f"\n## compareDatasets: {rows:,} x 12 columns (10 numeric, 2 categorical), two versions\n")
    print(
        "| drift tests read | compareDatasets, mutation to SUCCEEDED (statistics / report stages) | job CPU | "
        "peak worker RSS | numpy stats + scipy drift on every row (wall / CPU) | ratio wall / CPU | verdict | "
        "drift statistic vs scipy on every row (max abs. diff) | reference mean vs numpy (max rel. diff) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for _sample_rows, service, scipy_run in results:
        statistic, mean = agreement(service, scipy_run)
        comparison = service["comparison"]
        print(
            f"| {comparison['sampling']['referenceTestRows']:,} rows per side | {service['wall']:.2f} s "
            f"({service['stages'].get('statistics', 0):.2f} s / {service['stages'].get('report', 0):.2f} s) | "
            f"{service['cpu']:.2f} s | {service['peak'] / MB:,.0f} MB | {scipy_run['wall']:.2f} s / "
            f"{scipy_run['cpu']:.2f} s | {service['wall'] / scipy_run['wall']:.2f}x / "
            f"{service['cpu'] / scipy_run['cpu']:.2f}x | {'drift' if comparison['datasetDrift'] else 'no drift'} "
            f"({comparison['driftShare']:.0%}) | {statistic:.2e} | {mean:.2e} |"
        )


if __name__ == "__main__":
    main()
