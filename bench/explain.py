"""Explanations: one-row predict with explain on a 100-tree random forest (30 features) through GraphQL on a
kept-alive connection, next to shap.TreeExplainer called directly on the same model in the same run; and
predictDataset with explanations against the same call without.

Usage: .venv/bin/python bench/explain.py [--rows=100000] [--calls=100] [--train-rows=10000]   (--rows=0: one row only)
(--rows: the predictDataset size; the issue's figure is 100,000 rows, which takes a long time on a loaded machine:
TreeSHAP costs O(trees x leaves x depth^2) per row, so a deep forest explains far fewer rows/s than it predicts.)
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import joblib
import pandas as pd
from sklearn.datasets import make_classification

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from harness import gql, register, running_server, upload_and_ingest, wait_for_job_over_websocket

TRAIN = (
    "mutation($input: TrainModelInput!) { trainModel(input: $input) { model { id } job { id } "
    "errors { code message } } }"
)
PREDICT = """mutation($id: ID!, $rows: [JSON!]!, $explain: Boolean) {
  predict(input: {modelId: $id, rows: $rows, explain: $explain}) {
    predictions { value explanation { method outputs { baseValue output contributions { contribution } } } }
    errors { message } } }"""
PREDICT_DATASET = """mutation($m: ID!, $d: ID!, $explain: Boolean) {
  predictDataset(input: {modelId: $m, datasetId: $d, explain: $explain}) { job { id } errors { message } } }"""
TARGET_P50_MS = 50.0


def option(name: str, default: int) -> int:
    return next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith(f"--{name}=")), default)


def data(rows: int, seed: int) -> pd.DataFrame:
    x, y = make_classification(n_samples=rows, n_features=30, n_informative=15, random_state=seed)
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(30)]).assign(target=y)


def upload(base: str, token: str, frame: pd.DataFrame, scratch: Path, name: str) -> str:
    path = scratch / f"{name}.csv"
    frame.to_csv(path, index=False)
    return upload_and_ingest(base, token, path)


def graphql_latency(base: str, token: str, model_id: str, rows: list[dict], calls: int, explain: bool) -> list[float]:
    timings = []
    with httpx.Client(timeout=120) as client:  # one kept-alive connection
        for index in range(calls + 5):
            began = time.perf_counter()
            answer = client.post(
                f"{base}/graphql",
                headers={"authorization": f"Bearer {token}"},
                json={
                    "query": PREDICT,
                    "variables": {"id": model_id, "rows": [rows[index % len(rows)]], "explain": explain},
                },
            ).json()
            elapsed = (time.perf_counter() - began) * 1000
            assert not answer["data"]["predict"]["errors"], answer
            if index >= 5:  # the first calls load the model, import shap and convert the trees
                timings.append(elapsed)
    return timings


def direct_latency(pipeline, frame: pd.DataFrame, calls: int) -> list[float]:
    """shap.TreeExplainer on the fitted forest itself, one row at a time (the transform included, as the API does)."""
    import shap

    explainer = shap.TreeExplainer(pipeline[-1])
    timings = []
    for index in range(calls + 5):
        row = frame.iloc[[index % len(frame)]]
        began = time.perf_counter()
        explainer.shap_values(pipeline[:-1].transform(row), check_additivity=False)
        if index >= 5:
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def p(timings: list[float], q: float) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def predict_dataset_seconds(base: str, token: str, model_id: str, dataset_id: str, explain: bool) -> float:
    started = gql(base, PREDICT_DATASET, {"m": model_id, "d": dataset_id, "explain": explain}, token)["data"][
        "predictDataset"
    ]
    assert not started["errors"], started
    began = time.perf_counter()
    event = wait_for_job_over_websocket(base, token, started["job"]["id"], timeout=48 * 3600)
    assert event["job"]["status"] == "SUCCEEDED", event
    return time.perf_counter() - began


def main() -> None:
    rows, calls, train_rows = option("rows", 100_000), option("calls", 100), option("train-rows", 10_000)
    print(machine_line(), flush=True)
    with (
        tempfile.TemporaryDirectory() as scratch_dir,
        running_server(ASSAY_JOB_DEFAULT_TIMEOUT_SECONDS="172800") as (base, _),
    ):
        scratch = Path(scratch_dir)
        token = register(base)
        training = data(train_rows, 0)
        dataset_id = upload(base, token, training, scratch, "train")
        started = gql(
            base,
            TRAIN,
            {
                "input": {
                    "datasetId": dataset_id,
                    "target": "target",
                    "task": "CLASSIFICATION",
                    "algorithms": ["RANDOM_FOREST"],
                    "cvFolds": 2,
                }
            },
            token,
        )["data"]["trainModel"]
        assert not started["errors"], started
        wait_for_job_over_websocket(base, token, started["job"]["id"], timeout=3600)
        model_id = started["model"]["id"]
        export = gql(base, "query($id: ID!) { model(id: $id) { exportUrl(format: JOBLIB) } }", {"id": model_id}, token)[
            "data"
        ]["model"]["exportUrl"]
        pipeline = joblib.load(io.BytesIO(httpx.get(base + export if export.startswith("/") else export).content))
        forest = pipeline[-1]
        depth = statistics.mean(tree.tree_.max_depth for tree in forest.estimators_)
        leaves = statistics.mean(tree.tree_.n_leaves for tree in forest.estimators_)
        print(
            f"Model: {len(forest.estimators_)} trees, mean depth {depth:.1f}, mean leaves {leaves:.0f}, "
            f"trained on {int(train_rows * 0.8):,} rows",
            flush=True,
        )

        fresh = data(1000, 1).drop(columns=["target"])
        json_rows = fresh.to_dict("records")
        plain = graphql_latency(base, token, model_id, json_rows, calls, explain=False)
        explained = graphql_latency(base, token, model_id, json_rows, calls, explain=True)
        direct = direct_latency(pipeline, fresh, calls)
        print(f"\n| one row, {calls} calls | p50 | p90 | target |\n| --- | --- | --- | --- |")
        print(f"| predict through GraphQL (kept-alive) | {p(plain, 0.5):.1f} ms | {p(plain, 0.9):.1f} ms | |")
        print(
            f"| predict with explain through GraphQL (kept-alive) | {p(explained, 0.5):.1f} ms | "
            f"{p(explained, 0.9):.1f} ms | <= {TARGET_P50_MS:.0f} ms p50 |"
        )
        print(
            f"| shap.TreeExplainer directly (same model, transform included) | {p(direct, 0.5):.1f} ms | "
            f"{p(direct, 0.9):.1f} ms | |",
            flush=True,
        )

        if not rows:  # --rows=0: the one-row figures only
            return
        big_id = upload(base, token, data(rows, 2), scratch, "batch")
        without = predict_dataset_seconds(base, token, model_id, big_id, explain=False)
        with_explain = predict_dataset_seconds(base, token, model_id, big_id, explain=True)
        print(f"\n| predictDataset, {rows:,} rows | seconds | rows/s |\n| --- | --- | --- |")
        print(f"| without explain | {without:.1f} | {rows / without:,.0f} |")
        print(f"| with explain (TreeSHAP, 2 classes x 30 features) | {with_explain:.1f} | {rows / with_explain:,.0f} |")


if __name__ == "__main__":
    main()
