"""A pipeline's config: echoed in the shape it was given, secrets masked yet kept, updated, deleted.

The sources are local: tests/pipelines/fake_sources.py, served by the source_server fixture."""

from __future__ import annotations

import json
import time

from tests.pipelines.operations import PIPELINE, create, run
from tests.support.graphql import gql, ingest, register


def test_dataset_source_update_delete_and_masked_headers(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    dataset = ingest(client, token, b"a,b\n1,x\n2,y\n2,y\n")
    created = create(
        client,
        token,
        name="dedupe",
        source={"dataset": {"datasetId": dataset["id"]}},
        steps=[{"dropDuplicates": {}}],
        sink={"parquet": {"name": "clean"}},
    )
    # `config` is what was given, in the input's own shape: it can be sent back as it is.
    assert created["pipeline"]["config"] == {
        "source": {"dataset": {"datasetId": dataset["id"]}},
        "steps": [{"dropDuplicates": {}}],
        "sink": {"parquet": {"name": "clean"}},
    }
    result = run(client, token, created["pipeline"]["id"])
    assert result["lastRun"]["rowsIn"] == 3 and result["lastRun"]["rowsOut"] == 2
    updated = gql(
        client,
        """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, name: "auth",
        source: $source}) { pipeline { name config } errors { code message } } }""",
        {
            "id": created["pipeline"]["id"],
            "source": {
                "http": {"url": f"{source_server}/auth", "headers": {"authorization": "Bearer sekret-token-123456"}}
            },
        },
        token,
    )["data"]["updatePipeline"]
    assert updated["errors"] == [] and updated["pipeline"]["name"] == "auth"
    assert "sekret" not in json.dumps(updated["pipeline"]["config"])
    assert updated["pipeline"]["config"]["source"]["http"]["headers"]["authorization"].endswith("3456")
    assert updated["pipeline"]["config"]["source"]["http"]["maxPages"] == 100  # defaults appear in the input's names
    assert updated["pipeline"]["config"]["steps"] == [{"dropDuplicates": {}}]  # untouched parts stay as given
    # Sending the echoed config back as it is keeps the secret the mask stands for.
    echoed = updated["pipeline"]["config"]["source"]
    resent = gql(
        client,
        """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
        { pipeline { config } errors { code message } } }""",
        {"id": created["pipeline"]["id"], "source": echoed},
        token,
    )["data"]["updatePipeline"]
    assert resent["errors"] == [] and resent["pipeline"]["config"]["source"] == echoed
    after = run(client, token, created["pipeline"]["id"])
    assert after["data"]["rows"] == [[True]]  # the stored (unmasked) header was sent
    configs = [edge["node"]["config"] for edge in after["runs"]["edges"]]
    assert "dataset" in configs[1]["source"] and "http" in configs[0]["source"]  # each run keeps its config
    deleted = gql(
        client,
        "mutation($id: ID!) { deletePipeline(input: {id: $id}) { deletedId errors { code } } }",
        {"id": created["pipeline"]["id"]},
        token,
    )["data"]["deletePipeline"]
    assert (
        deleted["errors"] == []
        and gql(client, PIPELINE, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"] is None
    )


def test_stored_configs_echo_the_shape_they_were_given_in(open_client, source_server):
    """`config` is rebuilt from the typed, stored form in the shape the client gave it, with the client's
    own keys (headers, params, column names) untouched. (Rows stored before the typed form: test_migrations.)"""
    client = open_client
    token = register(client)["accessToken"]
    dataset = ingest(client, token, b"a_b,c\n1,x\n,y\n")
    inputs = [
        {
            "source": {
                "http": {
                    "url": f"{source_server}/api/items",
                    "recordsPath": "data.items",
                    "nextPagePath": "next",
                    "maxPages": 3,
                    "headers": {"X-Api_Key": "sekret-token-123456"},
                    "params": {"page_size": 50},
                    "timeoutSeconds": 5,
                }
            },
            "sink": {"sqlite": {"table": "t", "mode": "upsert", "key": ["id"], "indexes": [["score"]]}},
        },
        {
            "source": {
                "scrape": {
                    "url": f"{source_server}/catalog/page1.html",
                    "rowSelector": "tr.row",
                    "nextPageSelector": "a.next",
                    "fields": [
                        {"name": "cell_text", "selector": "td"},
                        {"name": "link", "selector": "a", "attribute": "href"},
                    ],
                }
            },
            "sink": {"parquet": {"name": "p"}},
            "checks": [{"column": "cell_text", "notNull": True, "onFail": "DROP_ROWS"}],
        },
        {
            "source": {"dataset": {"datasetId": dataset["id"]}},
            "steps": [
                {"impute": {"columns": ["a_b"], "strategy": "MEDIAN"}},
                {"renameColumns": {"mapping": {"a_b": "ab_c"}}},
            ],
            "sink": {"dataset": {"name": "d"}},
        },
    ]
    for given in inputs:
        created = create(client, token, name="old", **given)
        assert created["errors"] == [], created
        pipeline_id = created["pipeline"]["id"]
        shown = gql(client, "query($id: ID!) { pipeline(id: $id) { config } }", {"id": pipeline_id}, token)
        assert shown["data"]["pipeline"]["config"] == created["pipeline"]["config"]


def test_updated_at_moves_when_the_pipeline_changes(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    created = create(
        client, token, name="t", source={"http": {"url": f"{source_server}/who.json"}}, sink={"dataset": {"name": "t"}}
    )
    query = "query($id: ID!) { pipeline(id: $id) { createdAt updatedAt } }"
    before = gql(client, query, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"]
    assert before["updatedAt"] >= before["createdAt"]
    time.sleep(0.01)
    gql(
        client,
        'mutation($id: ID!) { updatePipeline(input: {id: $id, name: "renamed"}) { errors { message } } }',
        {"id": created["pipeline"]["id"]},
        token,
    )
    after = gql(client, query, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"]
    assert after["createdAt"] == before["createdAt"] and after["updatedAt"] > before["updatedAt"]
