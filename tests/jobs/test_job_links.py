"""Every job links what it made: a dataset version, a model, a report, a pipeline run — whatever its kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import make_settings

LINKS = """query($id: ID!) { job(id: $id) { kind status error
  dataset { id name } model { id target status metrics { accuracy } } report { id url } pipelineRun { id status }
  output { __typename ... on Node { id } } } }"""


def penguins_like(rows: int = 240) -> bytes:
    rng = np.random.default_rng(7)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], rows)
    mass = np.where(species == "Gentoo", 5000, 3700) + rng.normal(0, 300, rows)
    bill = np.where(species == "Chinstrap", 48, 39) + rng.normal(0, 2, rows)
    frame = pd.DataFrame(
        {
            "species": species,
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], rows),
            "bill_length_mm": bill.round(1),
            "body_mass_g": mass.round(),
            "year": rng.choice([2007, 2008, 2009], rows),
        }
    )
    return frame.to_csv(index=False).encode()


@pytest.fixture
def fast_client(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, analysis_model_budget_seconds=8))) as client:
        yield client


def links(client, token, job_id) -> dict:
    job = wait_for_job(client, token, job_id, timeout=120)
    assert job["status"] == "SUCCEEDED", job
    return gql(client, LINKS, {"id": job_id}, token)["data"]["job"]


def start(client, token, mutation: str, field: str, variables: dict) -> dict:
    payload = gql(client, mutation, variables, token)["data"][field]
    assert payload["errors"] == [], payload
    return payload


@pytest.mark.slow
def test_each_job_kind_links_the_object_it_made(fast_client):
    client = fast_client
    token = register(client)["accessToken"]
    dataset = ingest(client, token, penguins_like(), "penguins.csv")
    ingested = gql(client, LINKS, {"id": dataset["job"]["id"]}, token)["data"]["job"]
    assert ingested["dataset"]["id"] == dataset["id"]
    assert ingested["output"] == {"__typename": "Dataset", "id": dataset["id"]}  # what each kind declares it made

    trained = start(
        client,
        token,
        """mutation($i: TrainModelInput!) { trainModel(input: $i) {
        model { id } job { id } errors { code message } } }""",
        "trainModel",
        {"i": {"datasetId": dataset["id"], "target": "species", "algorithms": ["LOGISTIC_REGRESSION"]}},
    )
    train_job = links(client, token, trained["job"]["id"])
    assert train_job["model"]["id"] == trained["model"]["id"] and train_job["model"]["metrics"]["accuracy"] > 0.5
    assert train_job["output"] == {"__typename": "Model", "id": trained["model"]["id"]}

    predicted = start(
        client,
        token,
        """mutation($i: PredictDatasetInput!) { predictDataset(input: $i) {
        dataset { id } job { id } errors { code message } } }""",
        "predictDataset",
        {"i": {"modelId": trained["model"]["id"], "datasetId": dataset["id"]}},
    )
    predict_job = links(client, token, predicted["job"]["id"])
    assert predict_job["dataset"]["id"] == predicted["dataset"]["id"] != dataset["id"]
    assert predict_job["model"]["id"] == trained["model"]["id"]  # the model it scored with
    assert predict_job["output"] is None  # PREDICT declares no output of its own

    cleaned = start(
        client,
        token,
        """mutation($i: PreprocessDatasetInput!) { preprocessDataset(input: $i) {
        dataset { id } job { id } errors { code message } } }""",
        "preprocessDataset",
        {"i": {"datasetId": dataset["id"], "steps": [{"dropColumns": {"columns": ["year"]}}]}},
    )
    assert links(client, token, cleaned["job"]["id"])["dataset"]["id"] == cleaned["dataset"]["id"] != dataset["id"]

    analyzed = start(
        client,
        token,
        """mutation($i: AnalyzeDatasetInput!) { analyzeDataset(input: $i) {
        job { id } errors { code message } } }""",
        "analyzeDataset",
        {"i": {"datasetId": dataset["id"], "target": "species"}},
    )
    analysis = links(client, token, analyzed["job"]["id"])
    assert analysis["model"]["target"] == "species" and analysis["model"]["metrics"]["accuracy"] > 0.5
    assert analysis["model"]["status"] == "READY" and analysis["report"]["url"]
    assert analysis["output"] == {"__typename": "Analysis"}

    reported = start(
        client,
        token,
        """mutation($i: GenerateReportInput!) { generateReport(input: $i) {
        report { id } job { id } errors { code message } } }""",
        "generateReport",
        {"i": {"datasetId": dataset["id"], "modelId": trained["model"]["id"]}},
    )
    report_job = links(client, token, reported["job"]["id"])
    assert (
        report_job["report"]["id"] == reported["report"]["id"] and report_job["model"]["id"] == trained["model"]["id"]
    )
    assert report_job["output"] == {"__typename": "Report", "id": reported["report"]["id"]}

    pipeline = start(
        client,
        token,
        """mutation($i: CreatePipelineInput!) { createPipeline(input: $i) {
        pipeline { id } errors { code message } } }""",
        "createPipeline",
        {
            "i": {
                "name": "copy",
                "source": {"dataset": {"datasetId": dataset["id"]}},
                "sink": {"dataset": {"name": "penguin copy"}},
            }
        },
    )["pipeline"]
    run = start(
        client,
        token,
        """mutation($id: ID!) { runPipeline(input: {id: $id}) {
        run { id } job { id } errors { code message } } }""",
        "runPipeline",
        {"id": pipeline["id"]},
    )
    pipeline_job = links(client, token, run["job"]["id"])
    assert pipeline_job["pipelineRun"] == {"id": run["run"]["id"], "status": "SUCCEEDED"}
    assert pipeline_job["output"] == {"__typename": "PipelineRun", "id": run["run"]["id"]}
    assert pipeline_job["report"] is None and train_job["pipelineRun"] is None  # links only where a kind declares them
    assert pipeline_job["dataset"]["name"] == "penguin copy"

    other = register(client)["accessToken"]  # links never reach across users
    assert gql(client, LINKS, {"id": analyzed["job"]["id"]}, other)["data"]["job"] is None
