"""predict p50 through GraphQL with monitoring on and off, in the same run (issue 28: on <= 1.10x off).

Usage: .venv/bin/python bench/monitor.py [--rounds=N]
A first server trains the model and stops. Then two servers share its data dir and database, like two
replicas, neither having run a job: one with ASSAY_MONITORING=on (the
default: every predict is recorded into its in-process buffer, flushed every ASSAY_MONITOR_FLUSH_SECONDS),
one with ASSAY_MONITORING=off. Requests alternate between them on kept-alive connections, so both see
the same machine load; 1-row and 100-row predicts of one HistGradientBoosting classifier (breast_cancer,
30 features). The table gives each side's p50 and p99 and the ratio of the p50s. The anchor is the same
predict with monitoring off, measured in the same run. --control runs both sides with monitoring off: the
ratio it prints is what the set-up alone differs by on this machine.

--in-process: one app in this process (Starlette's TestClient, GraphQL over ASGI, no socket), trained there,
its recorder switched on and off between alternating requests: the request-path cost of recording alone,
without two servers' different histories (the flush task runs throughout, so its share is in both sides).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sklearn import datasets as skd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from harness import _serving, gql, register, upload_and_ingest
from predict import PREDICT, frame_of, train

MONITOR = "query($id: ID!) { modelMonitor(modelId: $id) { windows { requestCount rowCount sampledRows } } }"


def percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[max(0, int(0.99 * len(timings)) - 1)]


def timed_predict(client, model_id: str, rows: list[dict], headers: dict) -> float:
    """One predict request through GraphQL (an httpx or Starlette test client), in milliseconds; it must succeed."""
    began = time.perf_counter()
    variables = {"id": model_id, "rows": rows}
    answer = client.post("/graphql", json={"query": PREDICT, "variables": variables}, headers=headers).json()
    elapsed = (time.perf_counter() - began) * 1000
    assert not answer["data"]["predict"]["errors"], answer
    return elapsed


def ratio_row(size: int, timings: dict[str, list[float]]) -> str:
    """The table row of one request size: p50 and p99 off and on, and their ratio (also shown as it comes)."""
    (off50, off99), (on50, on99) = percentiles(timings["off"]), percentiles(timings["on"])
    row = (
        f"| {size} | {off50:.2f} ms | {off99:.2f} ms | {on50:.2f} ms | {on99:.2f} ms | "
        f"**{on50 / off50:.2f}x** | <= 1.10x |"
    )
    print(row, file=sys.stderr, flush=True)
    return row


def main() -> None:
    rounds = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--rounds=")), 300)
    # --control: both servers with monitoring off, to see what the two-server set-up alone differs by
    on_setting = "off" if "--control" in sys.argv else "on"
    frame = frame_of(skd.load_breast_cancer)
    lines = []
    with tempfile.TemporaryDirectory() as scratch:
        shared = {"ASSAY_DATA_DIR": f"{scratch}/data"}
        # Training runs on a third server that stops before measuring: in a control run (both sides off) the
        # server that had run the jobs answered predict 2-3x slower than the other, which would decide the ratio.
        with _serving(["-m", "server"], {**shared, "ASSAY_MONITORING": "off"}, quiet=True) as (trainer, _):
            token = register(trainer)
            path = Path(scratch) / "breast_cancer.csv"
            frame.to_csv(path, index=False)
            dataset_id = upload_and_ingest(trainer, token, path)
            model_id = train(trainer, token, dataset_id, "CLASSIFICATION", "HIST_GRADIENT_BOOSTING")
        with (
            _serving(["-m", "server"], {**shared, "ASSAY_MONITORING": on_setting}, quiet=True) as (on, _),
            _serving(["-m", "server"], {**shared, "ASSAY_MONITORING": "off"}, quiet=True) as (off, _),
        ):
            headers = {"authorization": f"Bearer {token}"}
            features = frame.drop(columns=["target"])
            for size in (1, 100):
                rows = features.sample(size, random_state=size, replace=True).to_dict(orient="records")
                timings: dict[str, list[float]] = {"on": [], "off": []}
                with (
                    httpx.Client(base_url=on, timeout=30) as client_on,
                    httpx.Client(base_url=off, timeout=30) as client_off,
                ):
                    for index in range(rounds + 20):
                        for name, client in (
                            (("on", client_on), ("off", client_off))
                            if index % 2
                            else (("off", client_off), ("on", client_on))
                        ):
                            elapsed = timed_predict(client, model_id, rows, headers)
                            if index >= 20:  # the first 20 warm up (model load)
                                timings[name].append(elapsed)
                lines.append(ratio_row(size, timings))
            time.sleep(3)  # one flush
            windows = gql(on, MONITOR, {"id": model_id}, token)["data"]["modelMonitor"]["windows"]
    recorded = windows[0] if windows else {}
    print("\n" + machine_line())
    print(
        f"\npredict through GraphQL, {rounds} requests per size and side, alternating between a server with "
        "monitoring on and one with it off (same data dir and database):\n"
    )
    print("| rows per predict | off p50 | off p99 | on p50 | on p99 | on / off (p50) | target |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    print(
        f"\nRecorded by the monitoring side: {recorded.get('requestCount')} requests, {recorded.get('rowCount')} rows, "
        f"a sample of {recorded.get('sampledRows')} rows (warm-up included)."
    )


def in_process(rounds: int) -> None:
    sys.path.insert(0, str(HERE.parent))
    from starlette.testclient import TestClient

    from server.app import create_app
    from tests.support.graphql import gql as local_gql
    from tests.support.graphql import ingest, wait_for_job
    from tests.support.graphql import register as local_register
    from tests.support.settings import make_settings

    frame = frame_of(skd.load_breast_cancer)
    lines = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        TestClient(
            create_app(
                make_settings(Path(scratch), monitoring="on", requests_per_minute=10**9, job_heartbeat_seconds=2)
            )
        ) as client,
    ):
        token = local_register(client)["accessToken"]
        dataset = ingest(client, token, frame.to_csv(index=False).encode(), "breast_cancer.csv")
        started = local_gql(
            client,
            "mutation($input: TrainModelInput!) { trainModel(input: $input) { model { id } job { id } } }",
            {
                "input": {
                    "datasetId": dataset["id"],
                    "target": "target",
                    "task": "CLASSIFICATION",
                    "cvFolds": 2,
                    "algorithms": ["HIST_GRADIENT_BOOSTING"],
                }
            },
            token,
        )
        started = started["data"]["trainModel"]
        assert wait_for_job(client, token, started["job"]["id"], timeout=600)["status"] == "SUCCEEDED"
        state, headers = client.app.state.assay, {"authorization": f"Bearer {token}"}
        recorder = state.recorder
        for size in (1, 100):
            rows = (
                frame.drop(columns=["target"]).sample(size, random_state=size, replace=True).to_dict(orient="records")
            )
            timings: dict[str, list[float]] = {"on": [], "off": []}
            for index in range(rounds + 20):
                for name in ("on", "off") if index % 2 else ("off", "on"):
                    state.recorder = recorder if name == "on" else None
                    elapsed = timed_predict(client, started["model"]["id"], rows, headers)
                    if index >= 20:
                        timings[name].append(elapsed)
            lines.append(ratio_row(size, timings))
        state.recorder = recorder
    print("\n" + machine_line())
    print(
        f"\npredict through GraphQL in one process, {rounds} requests per size and side, recording switched on and "
        "off between alternating requests:\n"
    )
    print("| rows per predict | off p50 | off p99 | on p50 | on p99 | on / off (p50) | target |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))


if __name__ == "__main__":
    if "--in-process" in sys.argv:
        in_process(next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--rounds=")), 300))
    else:
        main()
