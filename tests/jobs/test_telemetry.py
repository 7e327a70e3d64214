"""Job telemetry through /graphql: a finished job's stages with durations, status, the tools it chose (steps
applied, algorithms tried), the features a model used and its warnings, as `job.telemetry` and as one line of
<data dir>/telemetry/jobs.jsonl each; a running job has none yet, and another user sees none."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import make_settings

PREPROCESS = """mutation($input: PreprocessDatasetInput!) { preprocessDataset(input: $input) {
  job { id telemetry { status } } errors { code message } } }"""
TRAIN = """mutation($input: TrainModelInput!) { trainModel(input: $input) { job { id } errors { code message } } }"""
TELEMETRY = """query($id: ID!) { job(id: $id) { status timeline { stage }
  telemetry { status priority attempts retries queuedMs runMs totalMs stages { stage durationMs }
              tools features warnings warningCount } } }"""
CSV = (
    b"size,rooms,city,price\n"
    + b"".join(
        b"%d,%d,%s,%d\n" % (40 + i % 90, 1 + i % 5, [b"Oslo", b"Lima"][i % 2], 1000 + 13 * (40 + i % 90) + 7 * (i % 5))
        for i in range(240)
    )
    + b"40,1,Oslo,1520\n" * 3
)  # a few duplicate rows for drop_duplicates to find


def telemetry_of(client: TestClient, token: str, job_id: str) -> dict:
    job = wait_for_job(client, token, job_id, timeout=600)
    assert job["status"] == "SUCCEEDED", job
    return gql(client, TELEMETRY, {"id": job_id}, token)["data"]["job"]


def jsonl(client: TestClient) -> dict[str, dict]:
    path = client.settings.resolved_data_dir / "telemetry" / "jobs.jsonl"
    return {line["kind"]: line for line in map(json.loads, path.read_text().splitlines())}


def test_finished_jobs_report_stages_tools_features_and_warnings(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        token = register(client)["accessToken"]
        dataset = ingest(client, token, CSV, "homes.csv")

        started = gql(
            client,
            PREPROCESS,
            {
                "input": {
                    "datasetId": dataset["id"],
                    "priority": "LOW",
                    "steps": [{"dropDuplicates": {}}, {"dropColumns": {"columns": ["city"]}}],
                }
            },
            token,
        )["data"]["preprocessDataset"]
        assert started["errors"] == [] and started["job"]["telemetry"] is None  # not ended yet: nothing recorded
        job = telemetry_of(client, token, started["job"]["id"])
        telemetry = job["telemetry"]
        assert telemetry["status"] == "SUCCEEDED" and telemetry["priority"] == "LOW"
        assert (telemetry["attempts"], telemetry["retries"]) == (1, 0)
        assert telemetry["tools"] == ["dropDuplicates", "dropColumns"]  # the steps applied, in order
        assert [s["stage"] for s in telemetry["stages"]] == [t["stage"] for t in job["timeline"]]
        assert all(s["durationMs"] >= 0 for s in telemetry["stages"])
        assert telemetry["totalMs"] >= telemetry["runMs"] > 0 and telemetry["queuedMs"] >= 0

        trained = gql(
            client,
            TRAIN,
            {
                "input": {
                    "datasetId": dataset["id"],
                    "target": "price",
                    "cvFolds": 2,
                    "features": ["size", "rooms"],
                    "algorithms": ["RIDGE", "LINEAR_REGRESSION"],
                }
            },
            token,
        )["data"]["trainModel"]
        assert trained["errors"] == [], trained
        telemetry = telemetry_of(client, token, trained["job"]["id"])["telemetry"]
        assert sorted(t.lower() for t in telemetry["tools"]) == ["linear_regression", "ridge"]  # algorithms tried
        assert telemetry["features"] == ["size", "rooms"]
        assert telemetry["warningCount"] == len(telemetry["warnings"])

        lines = jsonl(client)
        assert {"INGEST", "PREPROCESS", "TRAIN"} <= set(lines)
        assert (
            lines["TRAIN"]["features"] == ["size", "rooms"]
            and lines["PREPROCESS"]["tools"] == job["telemetry"]["tools"]
        )
        assert lines["PREPROCESS"]["priority"] == "LOW"

        other = register(client)["accessToken"]
        assert gql(client, TELEMETRY, {"id": trained["job"]["id"]}, other)["data"]["job"] is None
