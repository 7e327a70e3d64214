"""One server with ASSAY_STORAGE_URL=s3://…: the bucket holds every file, the data dir is only a cache."""

from __future__ import annotations

import io
import shutil

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from schema.common import from_global_id
from server.app import create_app
from tests.modeling.test_models import PREDICT, customers, train
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import make_settings

DOWNLOAD = "query($id: ID!, $f: DataFormat) { dataset(id: $id) { downloadUrl(format: $f) } }"
ROWS = "query($id: ID!) { dataset(id: $id) { rowCount rows(offset: 0, limit: 3) { rows totalRows } } }"
PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id}) { job { id } errors { code message } } }"
PROFILE_READ = "query($id: ID!) { dataset(id: $id) { profile { rowCount columns { name } } } }"
DELETE = "mutation($id: ID!) { deleteDataset(input: {id: $id}) { deletedId errors { code } } }"


def lose_the_cache(settings) -> None:
    """What a replica or worker losing its disk loses: every object folder of the data dir."""
    for folder in ("datasets", "models", "reports"):
        shutil.rmtree(settings.resolved_data_dir / folder, ignore_errors=True)


@pytest.fixture
def s3_client_and_settings(tmp_path, storage_url):
    settings = make_settings(tmp_path, storage_url=storage_url, storage_downloads="presigned")
    with TestClient(create_app(settings)) as client:
        yield client, settings


def test_upload_profile_train_predict_download_with_the_bucket_as_the_only_store(
    s3_client_and_settings, s3_server, storage_url
):
    client, settings = s3_client_and_settings
    token = register(client)["accessToken"]
    frame = customers(300)
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "churn.csv", expect="SUCCEEDED")
    dataset_id, raw = dataset["id"], from_global_id(dataset["id"])[1]
    stored = s3_server.keys(storage_url)
    assert f"datasets/{raw}/original" in stored and f"datasets/{raw}/data.parquet" in stored

    lose_the_cache(settings)  # a page of rows is read from the bucket's copy in place (range requests)
    rows = gql(client, ROWS, {"id": dataset_id}, token)["data"]["dataset"]
    assert rows["rowCount"] == 300 and rows["rows"]["totalRows"] == 300 and len(rows["rows"]["rows"]) == 3
    assert not (settings.resolved_data_dir / "datasets" / raw / "data.parquet").exists()  # read in place, not fetched

    lose_the_cache(settings)  # the PROFILE job fetches its input from the bucket and publishes its output there
    started = gql(client, PROFILE, {"id": dataset_id}, token)["data"]["profileDataset"]
    assert started["errors"] == [], started
    assert wait_for_job(client, token, started["job"]["id"])["status"] == "SUCCEEDED"
    assert f"datasets/{raw}/profile.json" in s3_server.keys(storage_url)
    lose_the_cache(settings)
    profile = gql(client, PROFILE_READ, {"id": dataset_id}, token)["data"]["dataset"]["profile"]
    assert profile["rowCount"] == 300 and "churned" in [c["name"] for c in profile["columns"]]

    lose_the_cache(settings)
    model, _ = train(client, token, dataset_id, target="churned", algorithms=["LOGISTIC_REGRESSION"], cvFolds=2)
    raw_model = from_global_id(model["id"])[1]
    assert f"models/{raw_model}/model.joblib" in s3_server.keys(storage_url)
    lose_the_cache(settings)
    rows_in = [
        {"age": 70, "plan": "pro", "usage": 3.5, "signup": "2024-02-01"},
        {"age": 20, "plan": "basic", "usage": 1.0, "signup": "2023-05-01"},
    ]
    predicted = gql(client, PREDICT, {"id": model["id"], "rows": rows_in}, token)["data"]["predict"]
    assert predicted["errors"] == [] and len(predicted["predictions"]) == 2

    lose_the_cache(settings)  # downloadUrl: the replica checks the token, then sends the client to the bucket
    url = gql(client, DOWNLOAD, {"id": dataset_id, "f": "PARQUET"}, token)["data"]["dataset"]["downloadUrl"]
    redirect = client.get(url, follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"].startswith(s3_server.endpoint)
    body = httpx.get(redirect.headers["location"]).content
    assert pq.read_table(io.BytesIO(body)).num_rows == 300
    csv_url = gql(client, DOWNLOAD, {"id": dataset_id, "f": "CSV"}, token)["data"]["dataset"]["downloadUrl"]
    redirect = client.get(csv_url, follow_redirects=False)
    assert redirect.status_code == 307  # the CSV export is written once and stored for every replica
    assert len(pd.read_csv(io.BytesIO(httpx.get(redirect.headers["location"]).content))) == 300
    assert client.get(url.replace("token=", "token=x"), follow_redirects=False).status_code == 403
    model_url = gql(
        client, "query($id: ID!) { model(id: $id) { exportUrl(format: JOBLIB) } }", {"id": model["id"]}, token
    )["data"]["model"]["exportUrl"]
    assert client.get(model_url, follow_redirects=False).status_code == 307

    deleted = gql(client, DELETE, {"id": dataset_id}, token)["data"]["deleteDataset"]
    assert deleted["errors"] == []
    assert not [key for key in s3_server.keys(storage_url) if raw in key or raw_model in key]


def test_proxy_downloads_stream_through_the_replica_from_the_bucket(tmp_path, storage_url, s3_server):
    settings = make_settings(tmp_path, storage_url=storage_url, storage_downloads="proxy")
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        other = register(client)["accessToken"]
        dataset = ingest(client, token, b"a,b\n1,x\n2,y\n", "small.csv", expect="SUCCEEDED")
        lose_the_cache(settings)
        url = gql(client, DOWNLOAD, {"id": dataset["id"], "f": "PARQUET"}, token)["data"]["dataset"]["downloadUrl"]
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 200 and pq.read_table(io.BytesIO(answer.content)).num_rows == 2
        # another user cannot get a link to it, nor read it
        assert gql(client, DOWNLOAD, {"id": dataset["id"], "f": "PARQUET"}, other)["data"]["dataset"] is None
