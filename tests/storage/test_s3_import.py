"""importDataset from s3://: any bucket the server's credentials read, never Assay's own storage bucket."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import DATASET, gql, register, wait_for_job
from tests.support.settings import make_settings

IMPORT = """mutation($url: String!) { importDataset(input: {url: $url}) {
  dataset { id name status } job { id } errors { code message field } } }"""


@pytest.fixture
def source_bucket(s3_server):
    client = s3_server.client()
    name = "partner-exports"
    if name not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="2026/sales.csv", Body=b"region,amount\nnorth,10\nsouth,20\neast,30\n")
    return name


def test_import_an_object_the_servers_credentials_read_and_refuse_the_storage_bucket(
    tmp_path, storage_url, source_bucket, s3_server
):
    settings = make_settings(tmp_path, storage_url=storage_url)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        started = gql(client, IMPORT, {"url": f"s3://{source_bucket}/2026/sales.csv"}, token)["data"]["importDataset"]
        assert started["errors"] == [] and started["dataset"]["name"] == "sales.csv", started
        job = wait_for_job(client, token, started["job"]["id"])
        assert job["status"] == "SUCCEEDED", job
        dataset = gql(client, DATASET, {"id": started["dataset"]["id"]}, token)["data"]["dataset"]
        assert dataset["rowCount"] == 3 and dataset["rows"]["rows"][0] == ["north", 10]

        missing = gql(client, IMPORT, {"url": f"s3://{source_bucket}/nothing.csv"}, token)["data"]["importDataset"]
        failed = wait_for_job(client, token, missing["job"]["id"])
        assert failed["status"] == "FAILED" and "No object at" in failed["error"]

        # Another user's upload lives in the storage bucket: never importable, whatever its key
        own = gql(client, IMPORT, {"url": f"{storage_url}/datasets/x/original"}, token)["data"]["importDataset"]
        assert own["dataset"] is None and own["errors"][0]["code"] == "INVALID_INPUT"
        assert "own storage bucket" in own["errors"][0]["message"]
        bare = gql(client, IMPORT, {"url": f"s3://{source_bucket}/"}, token)["data"]["importDataset"]
        assert bare["errors"][0]["code"] == "INVALID_INPUT"


def test_an_operator_can_narrow_the_buckets_imports_read(tmp_path, storage_url, source_bucket):
    settings = make_settings(tmp_path, storage_url=storage_url, import_s3_buckets="approved-only")
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        refused = gql(client, IMPORT, {"url": f"s3://{source_bucket}/2026/sales.csv"}, token)["data"]["importDataset"]
        assert (
            refused["errors"][0]["code"] == "INVALID_INPUT"
            and "ASSAY_IMPORT_S3_BUCKETS" in refused["errors"][0]["message"]
        )
