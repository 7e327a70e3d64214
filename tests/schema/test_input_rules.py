"""The rules every operation shares (docs/conventions.md): count arguments and names.

A count (`first`, `last`, `limit`, `top`, `offset`, `rows`) outside its range is INVALID_INPUT naming the
argument, never a silent clamp and never a Python slice from the end. A name is trimmed; a blank, overlong
or control-character name is INVALID_INPUT on `name`, on every mutation that takes one, and nothing is kept.
"""

from __future__ import annotations

import pytest

from tests.support.graphql import gql, ingest, upload, wait_for_job

CSV = b"age,plan,usage,churned\n" + b"".join(
    f"{20 + i % 50},{['basic', 'pro', 'plus'][i % 3]},{(i * 7) % 31},{'yes' if (i * 13) % 5 < 2 else 'no'}\n".encode()
    for i in range(80)
)
TRAIN = """mutation($input: TrainModelInput!) { trainModel(input: $input) {
  model { id name } job { id } errors { code message field } } }"""
IMPORTANCES = "query($id: ID!, $limit: Int) { model(id: $id) { featureImportances(limit: $limit) { feature } } }"
PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: false}) { job { id } errors { code } } }"
COUNTS = {
    "topValues": "query($id: ID!, $n: Int) { dataset(id: $id) { profile { columns { topValues(limit: $n) { value } "
    "} } } }",
    "missingPatterns": "query($id: ID!, $n: Int) { dataset(id: $id) { profile { missingPatterns(limit: $n) { count "
    "} } } }",
    "rejects": "query($id: ID!, $n: Int) { dataset(id: $id) { ingest { rejects(first: $n) { line } } } }",
    "rows.limit": "query($id: ID!, $n: Int) { dataset(id: $id) { rows(limit: $n) { rows } } }",
    "rows.offset": "query($id: ID!, $n: Int) { dataset(id: $id) { rows(offset: $n) { rows } } }",
    "models": "query($id: ID!, $n: Int) { dataset(id: $id) { models(first: $n) { totalCount } } }",
    "jobs.logs": "query($id: ID!, $n: Int) { dataset(id: $id) { jobs { edges { node { logs(last: $n) { seq } } } } } }",
}
MODELS = "query($n: Int) { models(first: $n) { totalCount } }"


def trained(client, token, dataset_id) -> str:
    payload = gql(
        client,
        TRAIN,
        {"input": {"datasetId": dataset_id, "target": "churned", "algorithms": ["LOGISTIC_REGRESSION"], "cvFolds": 2}},
        token,
    )["data"]["trainModel"]
    assert payload["errors"] == [], payload
    assert wait_for_job(client, token, payload["job"]["id"], timeout=180)["status"] == "SUCCEEDED"
    return payload["model"]["id"]


def refused(answer: dict, argument: str) -> None:
    assert answer["data"] is None or not any(answer["data"].values()), answer
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "INVALID_INPUT" and f"`{argument}`" in error["message"], error


def test_a_negative_limit_is_refused_not_sliced_from_the_end(client, token):
    dataset = ingest(client, token, CSV, "churn.csv")
    model_id = trained(client, token, dataset["id"])
    every = gql(client, IMPORTANCES, {"id": model_id, "limit": 100}, token)["data"]["model"]["featureImportances"]
    assert len(every) == 3  # age, plan, usage
    # Python's every[:-1] would quietly drop the least important feature
    refused(gql(client, IMPORTANCES, {"id": model_id, "limit": -1}, token), "limit")
    refused(gql(client, IMPORTANCES, {"id": model_id, "limit": 10_001}, token), "limit")
    assert gql(client, IMPORTANCES, {"id": model_id, "limit": 0}, token)["data"]["model"]["featureImportances"] == []


def test_every_count_argument_refuses_negatives_and_too_many(client, token):
    dataset = ingest(client, token, b"a,b\n1,x\n2,\n,y\n3,z\n", "small.csv")
    started = gql(client, PROFILE, {"id": dataset["id"]}, token)["data"]["profileDataset"]
    assert wait_for_job(client, token, started["job"]["id"])["status"] == "SUCCEEDED"
    for name, query in COUNTS.items():
        argument = {
            "rows.limit": "limit",
            "rows.offset": "offset",
            "models": "first",
            "jobs.logs": "last",
            "rejects": "first",
        }.get(name, "limit")
        answer = gql(client, query, {"id": dataset["id"], "n": -1}, token)
        assert answer.get("errors"), (name, answer)
        assert answer["errors"][0]["extensions"]["code"] == "INVALID_INPUT", (name, answer)
        assert f"`{argument}`" in answer["errors"][0]["message"], (name, answer)
        if name != "rows.offset":  # an offset has no upper bound: past the end is an empty page
            too_many = gql(client, query, {"id": dataset["id"], "n": 1_000_000}, token)
            assert too_many.get("errors") and too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT", (
                name,
                too_many,
            )
    refused(gql(client, MODELS, {"n": -1}, token), "first")
    top = gql(client, COUNTS["topValues"], {"id": dataset["id"], "n": 2}, token)["data"]["dataset"]["profile"][
        "columns"
    ]
    assert all(len(column["topValues"]) <= 2 for column in top) and any(len(c["topValues"]) == 2 for c in top)


DATASETS = "{ datasets { totalCount edges { node { name } } } }"
PREPROCESS = """mutation($input: PreprocessDatasetInput!) { preprocessDataset(input: $input) {
  dataset { id name } errors { code message field } } }"""
PIPELINE = """mutation($input: CreatePipelineInput!) { createPipeline(input: $input) {
  pipeline { id name } errors { code message field } } }"""
UPDATE = """mutation($input: UpdatePipelineInput!) { updatePipeline(input: $input) {
  pipeline { id name } errors { code message field } } }"""
COUNT_MODELS = "{ models { totalCount } pipelines { totalCount } }"
BAD_NAMES = ["   ", "\t\n", "x" * 256, "line\nbreak", "nul\x00byte"]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=["spaces", "whitespace", "too-long", "line-break", "nul"])
def test_one_rule_for_names_on_every_mutation_that_takes_one(client, token, bad):
    dataset = ingest(client, token, CSV, "churn.csv")
    before = gql(client, DATASETS, token=token)["data"]["datasets"]["totalCount"]

    def blank_refused(payload: dict, field: list[str]) -> None:
        assert payload["errors"] and payload["errors"][0]["code"] == "INVALID_INPUT", payload
        assert payload["errors"][0]["field"] == field, payload

    blank_refused(upload(client, token, CSV, "again.csv", name=bad)["data"]["uploadDataset"], ["name"])
    blank_refused(
        gql(client, TRAIN, {"input": {"datasetId": dataset["id"], "target": "churned", "name": bad}}, token)["data"][
            "trainModel"
        ],
        ["name"],
    )
    blank_refused(
        gql(
            client,
            PREPROCESS,
            {"input": {"datasetId": dataset["id"], "name": bad, "steps": [{"dropColumns": {"columns": ["usage"]}}]}},
            token,
        )["data"]["preprocessDataset"],
        ["name"],
    )
    config = {"source": {"dataset": {"datasetId": dataset["id"]}}, "sink": {"dataset": {"name": "out"}}}
    blank_refused(gql(client, PIPELINE, {"input": {"name": bad, **config}}, token)["data"]["createPipeline"], ["name"])
    sink = {**config, "sink": {"dataset": {"name": bad}}}
    answer = gql(client, PIPELINE, {"input": {"name": "ok", **sink}}, token)["data"]["createPipeline"]
    assert answer["errors"][0]["code"] == "INVALID_INPUT" and answer["errors"][0]["field"][-1] == "name", answer
    kept = gql(client, PIPELINE, {"input": {"name": "  kept  ", **config}}, token)["data"]["createPipeline"]
    assert kept["errors"] == [] and kept["pipeline"]["name"] == "kept"  # trimmed, not refused
    blank_refused(
        gql(client, UPDATE, {"input": {"id": kept["pipeline"]["id"], "name": bad}}, token)["data"]["updatePipeline"],
        ["name"],
    )
    # nothing half-written: no dataset, version, model or pipeline came of the refusals
    assert gql(client, DATASETS, token=token)["data"]["datasets"]["totalCount"] == before
    assert gql(client, COUNT_MODELS, token=token)["data"] == {
        "models": {"totalCount": 0},
        "pipelines": {"totalCount": 1},
    }


def test_names_are_trimmed_the_same_way_everywhere(client, token):
    dataset = ingest(client, token, CSV, "churn.csv", name="  churn  ")
    assert dataset["name"] == "churn"
    payload = gql(
        client,
        TRAIN,
        {
            "input": {
                "datasetId": dataset["id"],
                "target": "churned",
                "name": " model a ",
                "algorithms": ["LOGISTIC_REGRESSION"],
                "cvFolds": 2,
            }
        },
        token,
    )["data"]["trainModel"]
    assert payload["errors"] == [] and payload["model"]["name"] == "model a"
    wait_for_job(client, token, payload["job"]["id"], timeout=180)
