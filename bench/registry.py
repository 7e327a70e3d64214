"""Serving by name: `predict` of one row by alias ('bench@champion') against the same model by id, in one run.

Usage: .venv/bin/python bench/registry.py [REQUESTS]
A real server; breast_cancer (30 numeric features), a 100-tree random forest registered as bench/1 and
aliased champion. The two kinds of request alternate on one kept-alive connection, so drift of a shared
machine hits both alike; the first 20 of each are left out (the model loads into the cache).
Target (issue 27): p50 by alias within 10% of p50 by id.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sklearn.datasets import load_breast_cancer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import gql, register, running_server, upload_and_ingest, wait_for_job_over_websocket

PREDICT = (
    "mutation($m: ID!, $rows: [JSON!]!) { predict(input: {modelId: $m, rows: $rows}) "
    "{ predictions { value } errors { message } } }"
)
WARM_UP = 20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    frame = load_breast_cancer(as_frame=True).frame
    row = frame.drop(columns=["target"]).iloc[0].to_dict()
    with tempfile.TemporaryDirectory() as scratch, running_server() as (base, _):
        token = register(base)
        path = Path(scratch) / "breast_cancer.csv"
        frame.to_csv(path, index=False)
        dataset_id = upload_and_ingest(base, token, path)
        started = gql(
            base,
            'mutation($d: ID!) { trainModel(input: {datasetId: $d, target: "target", '
            "task: CLASSIFICATION, algorithms: [RANDOM_FOREST], cvFolds: 2}) { model { id } job { id } } }",
            {"d": dataset_id},
            token,
        )["data"]["trainModel"]
        wait_for_job_over_websocket(base, token, started["job"]["id"])
        model_id = started["model"]["id"]
        registered = gql(
            base,
            'mutation($m: ID!) { registerModel(input: {modelId: $m, name: "bench"}) { errors { message } } }',
            {"m": model_id},
            token,
        )["data"]["registerModel"]
        assert not registered["errors"], registered
        aliased = gql(
            base,
            'mutation { setModelAlias(input: {name: "bench", alias: "champion", version: 1}) { errors { message } } }',
            token=token,
        )["data"]["setModelAlias"]
        assert not aliased["errors"], aliased

        timings: dict[str, list[float]] = {model_id: [], "bench@champion": []}
        with httpx.Client(headers={"authorization": f"Bearer {token}"}) as client:
            for index in range(requests + WARM_UP):
                for reference in timings:  # alternate: by id, by alias, by id ...
                    began = time.perf_counter()
                    answer = client.post(
                        f"{base}/graphql", json={"query": PREDICT, "variables": {"m": reference, "rows": [row]}}
                    ).json()
                    elapsed = (time.perf_counter() - began) * 1000
                    assert not answer["data"]["predict"]["errors"], answer
                    if index >= WARM_UP:
                        timings[reference].append(elapsed)
    by_id, by_alias = timings[model_id], timings["bench@champion"]
    p50_id, p50_alias = statistics.median(by_id), statistics.median(by_alias)
    print(f"\n{requests} single-row predicts each, alternating, one kept-alive connection\n")
    print("| model given as | p50 | p90 | p99 | p50 vs by id | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| id (anchor) | {p50_id:.2f} ms | {percentile(by_id, 0.9):.2f} ms | {percentile(by_id, 0.99):.2f} ms | - "
        "| - |"
    )
    print(
        f"| 'bench@champion' | {p50_alias:.2f} ms | {percentile(by_alias, 0.9):.2f} ms | "
        f"{percentile(by_alias, 0.99):.2f} ms | {(p50_alias / p50_id - 1) * 100:+.1f}% | within +10% |"
    )
    # Each alias request against the id request just before it: drift of a shared machine cancels out.
    paired = statistics.median(alias / anchor for alias, anchor in zip(by_alias, by_id, strict=True))
    print(f"\nmedian of paired ratios (alias / the id request just before): {(paired - 1) * 100:+.1f}%")


if __name__ == "__main__":
    main()
