"""A pipeline's Parquet and SQLite outputs become datasets (importPipelineOutput) that profile like uploads
(seed 004: the DataAnalyzer on what ParquetStorage and SQLiteStorage hold); refusals name the field."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.pipelines.operations import create, run
from tests.support.graphql import gql, ingest, register, wait_for_job

IMPORT = """mutation($input: ImportPipelineOutputInput!) { importPipelineOutput(input: $input) {
  dataset { id name } job { id } errors { code message field } } }"""
PROFILE = (
    """mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: false}) { job { id } errors { code } } }"""
)
PROFILED = """query($id: ID!) { dataset(id: $id) { status rowCount columns { name semanticType }
  profile { rowCount columns { name nullCount numeric { mean } } } } }"""


def shop(client, token):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"city": rng.choice(["oslo", "rome", "lima"], 300), "price": rng.normal(50, 5, 300).round(2)})
    frame.loc[[4, 9], "price"] = np.nan
    return frame, ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")


def imported_and_profiled(client, token, input_: dict) -> dict:
    payload = gql(client, IMPORT, {"input": input_}, token)["data"]["importPipelineOutput"]
    assert payload["errors"] == [], payload
    assert wait_for_job(client, token, payload["job"]["id"])["status"] == "SUCCEEDED"
    started = gql(client, PROFILE, {"id": payload["dataset"]["id"]}, token)["data"]["profileDataset"]
    assert wait_for_job(client, token, started["job"]["id"])["status"] == "SUCCEEDED"
    return gql(client, PROFILED, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]


def test_parquet_and_sqlite_outputs_profile_like_uploads(client, token):
    frame, dataset = shop(client, token)
    steps = [{"derive": {"name": "gross", "expression": "price * 1.25"}}]
    for sink in ({"parquet": {"name": "prices"}}, {"sqlite": {"table": "prices"}}):
        created = create(
            client,
            token,
            name=f"to {next(iter(sink))}",
            source={"dataset": {"datasetId": dataset["id"]}},
            steps=steps,
            sink=sink,
        )
        assert created["errors"] == [], created
        assert run(client, token, created["pipeline"]["id"])["job"]["status"] == "SUCCEEDED"
        profiled = imported_and_profiled(client, token, {"pipelineId": created["pipeline"]["id"]})
        assert profiled["status"] == "READY" and profiled["rowCount"] == profiled["profile"]["rowCount"] == 300
        columns = {c["name"]: c for c in profiled["profile"]["columns"]}
        assert set(columns) == {"city", "price", "gross"}
        assert columns["price"]["nullCount"] == 2
        assert abs(columns["gross"]["numeric"]["mean"] - (frame["price"] * 1.25).mean()) < 1e-6


def test_refusals_name_the_field(client, token):
    _, dataset = shop(client, token)
    as_dataset = create(
        client, token, name="d", source={"dataset": {"datasetId": dataset["id"]}}, sink={"dataset": {"name": "copy"}}
    )["pipeline"]
    never_run = create(
        client, token, name="n", source={"dataset": {"datasetId": dataset["id"]}}, sink={"parquet": {"name": "never"}}
    )["pipeline"]
    assert run(client, token, as_dataset["id"])["job"]["status"] == "SUCCEEDED"

    def refused(input_, user_token=token):
        payload = gql(client, IMPORT, {"input": input_}, user_token)["data"]["importPipelineOutput"]
        assert payload["dataset"] is None and payload["job"] is None
        return payload["errors"][0]

    already = refused({"pipelineId": as_dataset["id"]})
    assert already["code"] == "CONFLICT" and "profileDataset" in already["message"]
    assert refused({"pipelineId": never_run["id"]}) == {
        "code": "CONFLICT",
        "field": ["pipelineId"],
        "message": "The pipeline has no successful run yet: run it first (runPipeline)",
    }
    other = register(client)["accessToken"]
    assert refused({"pipelineId": never_run["id"]}, other) == {
        "code": "NOT_FOUND",
        "field": ["pipelineId"],
        "message": "Pipeline not found",
    }
