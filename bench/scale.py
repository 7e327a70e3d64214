"""Every step on a table several times the job memory budget, as a user runs them: the scale target of issue 25.

A mixed 20-column CSV (bench/datagen.py, written in 1M-row blocks) is sent with curl to a real server
started with ASSAY_JOB_MEMORY_MB=BUDGET, then: profile, a bar chart, a 4-step preprocessing (impute,
one-hot, scale, clip), AUTO training and predictDataset over every row. Each step must succeed; the peak
RSS of the job worker that ran it is sampled from outside (bench/harness.RssSampler on the fork server's
children). The anchor for each step is DuckDB doing the same aggregate work on the same Parquet copy in
the same run (with the same memory limit).

Usage: .venv/bin/python bench/scale.py [ROWS] [BUDGET_MB]   (issue target: 20000000 2048)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate import machine_line
from harness import RssSampler, gql, login, register, running_server, wait_for_job_over_websocket
from ingest_budget import MB, curl_upload, write_files

PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id}) { job { id } errors { message } } }"
CHART = (
    """query($id: ID!) { dataset(id: $id) { chart(input: {type: BAR, x: "category_3"}) { points { x } totalRows } } }"""
)
PREPROCESS = """mutation($input: PreprocessDatasetInput!) { preprocessDataset(input: $input) {
  dataset { id } job { id } errors { message } } }"""
TRAIN = """mutation($input: TrainModelInput!) { trainModel(input: $input) { model { id } job { id } errors {
message } } }"""
PREDICT = """mutation($input: PredictDatasetInput!) { predictDataset(input: $input) {
  dataset { id } job { id } errors { message } } }"""
MODEL = "query($id: ID!) { model(id: $id) { status algorithm trainingRows sampled cvMetric } }"
DATASET = "query($id: ID!) { dataset(id: $id) { status rowCount error } }"
STEPS = [
    {"impute": {"columns": ["measure_0", "measure_1"], "strategy": "MEDIAN"}},
    {"encode": {"columns": ["category_1"], "strategy": "ONE_HOT"}},
    {"scale": {"columns": ["measure_0", "measure_1"], "strategy": "STANDARD"}},
    {"clipOutliers": {"columns": ["count_0"]}},
]
FEATURES = ["measure_0", "measure_1", "measure_2", "count_0", "count_1", "category_0", "category_1", "flag_1"]


def anchors(parquet: Path, budget: int, scratch: Path) -> dict[str, float]:
    """DuckDB on the same Parquet: the aggregate work each step does, timed."""
    connection = duckdb.connect(
        config={"memory_limit": f"{budget}MB", "temp_directory": str(scratch), "autoload_known_extensions": False}
    )
    source = f"read_parquet('{parquet}')"
    work = {
        "profile": f"SUMMARIZE SELECT * FROM {source}",
        "bar chart": f"SELECT category_3, count(*) FROM {source} GROUP BY 1",
        "preprocess": (
            f"COPY (WITH m AS (SELECT median(measure_0) m0, median(measure_1) m1 FROM {source}) "
            f"SELECT * REPLACE (coalesce(measure_0, m.m0) AS measure_0, coalesce(measure_1, m.m1) AS measure_1, "
            f"least(greatest(count_0, 0), 1000) AS count_0) FROM {source}, m) "
            f"TO '{scratch / 'pre.parquet'}' (FORMAT parquet)"
        ),
        "train (sample read)": f"SELECT {', '.join(FEATURES)}, flag_0 FROM {source} USING SAMPLE 200000 ROWS",
        "predictDataset (read+write)": f"COPY (SELECT * FROM {source}) TO '{scratch / 'out.parquet'}' (FORMAT parquet)",
    }
    timed = {}
    for step, sql in work.items():
        began = time.perf_counter()
        connection.execute(sql).fetchall()
        timed[step] = time.perf_counter() - began
    connection.close()
    return timed


def run_job(base: str, rss: RssSampler, query: str, variables: dict, field: str) -> tuple[dict, float, tuple]:
    token = login(base)  # access tokens last 15 minutes; a step can take longer
    rss.reset()
    began = time.perf_counter()
    payload = gql(base, query, variables, token)["data"][field]
    assert not payload["errors"], payload
    event = wait_for_job_over_websocket(base, token, payload["job"]["id"], timeout=7200)
    job = event.get("job") or {}
    return (
        {**payload, "status": job.get("status"), "error": job.get("error")},
        time.perf_counter() - began,
        (rss.peak_workers, rss.peak_workers_unique),
    )


class _EchoedSteps(list):
    """Each finished step is printed as it lands: a run of an hour or more keeps what it measured if stopped."""

    def append(self, step: tuple) -> None:
        super().append(step)
        name, status, seconds, (peak, unique), note = step
        print(
            f"[{time.strftime('%H:%M:%S')}] {name}: {status} in {seconds:.1f} s, peak RSS {peak / MB:,.0f} MB, "
            f"USS {unique / MB:,.0f} MB {note}",
            file=sys.stderr,
            flush=True,
        )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000
    budget = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    results = _EchoedSteps()
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(Path(folder), rows)
        csv_size = paths["CSV"].stat().st_size
        with (
            running_server(ASSAY_JOB_MEMORY_MB=str(budget)) as (base, process),
            RssSampler(process.pid, unique=True) as rss,
        ):
            token = register(base)
            time.sleep(3)  # the fork server preloads its libraries first
            rss.reset()
            began = time.perf_counter()
            upload = curl_upload(base, token, paths["CSV"])
            wait_for_job_over_websocket(base, token, upload["job"]["id"], timeout=7200)
            dataset_id = upload["dataset"]["id"]
            ready = gql(base, DATASET, {"id": dataset_id}, login(base))["data"]["dataset"]
            results.append(
                (
                    "ingest (curl upload to READY)",
                    ready["status"],
                    time.perf_counter() - began,
                    (rss.peak_workers, rss.peak_workers_unique),
                    f"{ready['rowCount']:,} rows",
                )
            )

            profiled, seconds, peak = run_job(base, rss, PROFILE, {"id": dataset_id}, "profileDataset")
            results.append(("profile", str(profiled["status"]), seconds, peak, ""))

            token = login(base)  # access tokens last 15 minutes; a step can take longer
            rss.reset()
            began = time.perf_counter()
            chart = gql(base, CHART, {"id": dataset_id}, token)["data"]["dataset"]["chart"]
            results.append(
                (
                    "bar chart",
                    "OK" if chart["points"] else "EMPTY",
                    time.perf_counter() - began,
                    (rss.peak_server, 0),
                    "(served by the server process: its RSS)",
                )
            )

            pre, seconds, peak = run_job(
                base, rss, PREPROCESS, {"input": {"datasetId": dataset_id, "steps": STEPS}}, "preprocessDataset"
            )
            results.append(("preprocess (4 steps)", str(pre["status"]), seconds, peak, ""))

            trained, seconds, peak = run_job(
                base,
                rss,
                TRAIN,
                {"input": {"datasetId": dataset_id, "target": "flag_0", "features": FEATURES, "timeBudgetSeconds": 60}},
                "trainModel",
            )
            model = gql(base, MODEL, {"id": trained["model"]["id"]}, login(base))["data"]["model"]
            results.append(
                (
                    "train AUTO",
                    model["status"],
                    seconds,
                    peak,
                    f"{model['algorithm']} on {model['trainingRows']:,} rows (sampled: {model['sampled']})",
                )
            )

            scored, seconds, peak = run_job(
                base,
                rss,
                PREDICT,
                {"input": {"modelId": trained["model"]["id"], "datasetId": dataset_id}},
                "predictDataset",
            )
            out = gql(base, DATASET, {"id": scored["dataset"]["id"]}, login(base))["data"]["dataset"]
            results.append(("predictDataset", out["status"], seconds, peak, f"{out['rowCount'] or 0:,} rows scored"))
        duck = anchors(paths["Parquet"], budget, Path(folder))
    anchor_of = {
        "profile": "profile",
        "bar chart": "bar chart",
        "preprocess (4 steps)": "preprocess",
        "train AUTO": "train (sample read)",
        "predictDataset": "predictDataset (read+write)",
    }
    print("\n" + machine_line())
    print(
        f"\n## Every step beyond the budget: {rows:,} rows x 20 columns ({csv_size / MB:,.0f} MB CSV, "
        f"{csv_size / MB / budget:.1f}x the budget), ASSAY_JOB_MEMORY_MB={budget}\n"
    )
    print(
        "| step | status | time | DuckDB, same work | peak RSS of the job worker | its peak USS | RSS within "
        "budget +12% | notes |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for step, status, seconds, (peak, unique), note in results:
        anchor = duck.get(anchor_of.get(step, ""), None)
        print(
            f"| {step} | {status} | {seconds:.1f} s | {f'{anchor:.1f} s' if anchor is not None else '-'} | "
            f"{peak / MB:,.0f} MB | {unique / MB:,.0f} MB | {'yes' if peak <= budget * MB * 1.12 else 'NO'} | {note} |"
        )


if __name__ == "__main__":
    main()
