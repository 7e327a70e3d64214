"""A 6-step recipe on 1,000,000 rows x 20 columns: Assay's PREPROCESS job against the same steps in pandas/sklearn.

Usage: .venv/bin/python bench/preprocess.py [ROWS]
Both sides start from the same Parquet file. The direct code is what a careful analyst would write.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from datagen import write_mixed_csv
from harness import RssSampler, gql, register, running_server, upload_and_ingest, wait_for_job_over_websocket

STEPS = [
    {"impute": {"columns": ["measure_0", "measure_1", "measure_2", "measure_3"], "strategy": "MEDIAN"}},
    {"encode": {"columns": ["category_0", "category_1"], "strategy": "ONE_HOT"}},
    {"encode": {"columns": ["category_2", "category_3"], "strategy": "ORDINAL"}},
    {"scale": {"columns": ["measure_0", "measure_1", "count_0", "count_1"], "strategy": "STANDARD"}},
    {"datetimeFeatures": {"columns": ["date_0"], "parts": ["year", "month", "weekday"]}},
    {"clipOutliers": {"columns": ["measure_2", "measure_3"], "factor": 1.5}},
]
RUN = (
    "mutation($input: PreprocessDatasetInput!) { preprocessDataset(input: $input) "
    "{ job { id } errors { code message field } } }"
)
JOB = "query($id: ID!) { job(id: $id) { status error timeline { stage durationMs } } }"


def direct(parquet: str) -> dict:
    """The same six steps, written straight in pandas and scikit-learn."""
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    began = time.perf_counter()
    frame = pq.read_table(parquet).to_pandas()
    measures = ["measure_0", "measure_1", "measure_2", "measure_3"]
    frame[measures] = frame[measures].fillna(frame[measures].median())
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, max_categories=21).set_output(
        transform="pandas"
    )
    encoded = one_hot.fit_transform(frame[["category_0", "category_1"]])
    frame = pd.concat([frame.drop(columns=["category_0", "category_1"]), encoded], axis=1)
    frame[["category_2", "category_3"]] = OrdinalEncoder().fit_transform(frame[["category_2", "category_3"]])
    scaled = ["measure_0", "measure_1", "count_0", "count_1"]
    frame[scaled] = StandardScaler().fit_transform(frame[scaled])
    when = pd.to_datetime(frame["date_0"])
    frame["date_0_year"], frame["date_0_month"], frame["date_0_weekday"] = when.dt.year, when.dt.month, when.dt.weekday
    for column in ["measure_2", "measure_3"]:
        q1, q3 = frame[column].quantile([0.25, 0.75])
        frame[column] = frame[column].clip(q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))
    import pyarrow as pa

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet + ".direct.parquet")
    return {
        "seconds": time.perf_counter() - began,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "shape": list(frame.shape),
    }


def run_direct(parquet: str) -> dict:
    """In a fresh process, so its peak RSS is its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(direct, (parquet,))


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as scratch, running_server() as (base, process), RssSampler(process.pid) as rss:
        path = write_mixed_csv(Path(scratch) / "mixed.csv", rows)
        token = register(base)
        dataset_id = upload_and_ingest(base, token, path)
        rss.reset()
        began = time.perf_counter()
        started = gql(base, RUN, {"input": {"datasetId": dataset_id, "steps": STEPS}}, token)
        job_id = started["data"]["preprocessDataset"]["job"]["id"]
        wait_for_job_over_websocket(base, token, job_id)
        wall = time.perf_counter() - began
        job = gql(base, JOB, {"id": job_id}, token)["data"]["job"]
        assert job["status"] == "SUCCEEDED", job
        stages = {t["stage"]: t["durationMs"] / 1000 for t in job["timeline"]}
        pq.write_table(pacsv.read_csv(path), str(path) + ".parquet")
        reference = run_direct(str(path) + ".parquet")
    job_seconds = sum(stages.values())
    print("\n" + machine_line())
    print(f"\n## Preprocess: 6 steps on {rows:,} rows x 20 columns\n")
    print("| measure | Assay PREPROCESS job | direct pandas/scikit-learn | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| seconds (read, 6 steps, write Parquet) | {job_seconds:.2f} s (end to end {wall:.2f} s) | "
        f"{reference['seconds']:.2f} s | {job_seconds / reference['seconds']:.2f}x | <= 1.5x |"
    )
    print(
        f"| peak RSS of the process doing the work | {rss.peak_workers / 2**20:,.0f} MB | "
        f"{reference['peak_mb']:,.0f} MB | "
        f"{rss.peak_workers / 2**20 / reference['peak_mb']:.2f}x | |"
    )
    print("\nJob stages: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items()))


if __name__ == "__main__":
    main()
