"""Pipeline outputs with ASSAY_STORAGE_URL=s3://: the new dataset version and the SQLite sink live in the bucket."""

from __future__ import annotations

import shutil

from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from tests.pipelines.operations import PIPELINE, create_from_dataset, run
from tests.support.graphql import gql, ingest, register
from tests.support.settings import make_settings


def test_a_pipeline_reads_a_stored_dataset_and_its_outputs_survive_the_cache(tmp_path, storage_url, s3_server):
    settings = make_settings(tmp_path, storage_url=storage_url)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        owner = raw_id(gql(client, "{ me { id } }", token=token)["data"]["me"]["id"], "User")
        source = ingest(
            client, token, b"city,people\nOslo,700\nLima,9000\nPerth,2100\n", "cities.csv", expect="SUCCEEDED"
        )
        shutil.rmtree(settings.resolved_data_dir / "datasets")  # the job fetches its source from the bucket
        versioned = create_from_dataset(client, token, source["id"], "v", {"dataset": {"name": "cities copy"}})
        assert versioned["errors"] == [], versioned
        result = run(client, token, versioned["pipeline"]["id"])
        assert result["job"]["status"] == "SUCCEEDED", result["job"]
        output = raw_id(result["lastRun"]["dataset"]["id"], "Dataset")
        tabled = create_from_dataset(client, token, source["id"], "t", {"sqlite": {"table": "cities"}})
        assert run(client, token, tabled["pipeline"]["id"])["job"]["status"] == "SUCCEEDED"

        keys = s3_server.keys(storage_url)
        assert f"datasets/{output}/data.parquet" in keys and f"users/{owner}/pipelines.sqlite" in keys
        for folder in ("datasets", "users"):
            shutil.rmtree(settings.resolved_data_dir / folder)
        for pipeline in (versioned, tabled):
            data = gql(client, PIPELINE, {"id": pipeline["pipeline"]["id"]}, token)["data"]["pipeline"]["data"]
            assert data["totalRows"] == 3 and sorted(row[0] for row in data["rows"]) == ["Lima", "Oslo", "Perth"]
