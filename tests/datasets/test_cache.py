"""The answer cache through /graphql, in-process and on a real Redis: a repeated chart, rows page and profile are
served from the cache (shown by removing the files under them: the repeat still answers, a new question does
not), another user is refused before any cache is read, and deleting the dataset forgets its answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from devtools.redis_local import LocalRedis
from schema.common import raw_id
from server.app import create_app
from services import files
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import make_settings

CHART = """query($id: ID!, $input: ChartInput!) { dataset(id: $id) { chart(input: $input) {
  type totalRows points { x y x2 group } } } }"""
ROWS = "query($id: ID!) { dataset(id: $id) { rows(offset: 1, limit: 3) { columns rows totalRows } } }"
PROFILE = "query($id: ID!) { dataset(id: $id) { profile { rowCount columns { name } } } }"
START_PROFILE = """mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: false}) {
  job { id } errors { code } } }"""
DELETE = "mutation($id: ID!) { deleteDataset(input: {id: $id}) { deletedId errors { code } } }"
CSV = b"city,amount\n" + b"".join(b"%s,%d\n" % ([b"Oslo", b"Lima", b"Pune"][i % 3], i) for i in range(300))


@pytest.fixture(params=["memory", "redis"])
def cache_client(request, tmp_path) -> Iterator[TestClient]:
    if request.param == "memory":
        with TestClient(create_app(make_settings(tmp_path))) as client:
            client.redis = None
            yield client
        return
    with LocalRedis() as server, TestClient(create_app(make_settings(tmp_path, redis_url=server.url))) as client:
        client.redis = redis.Redis.from_url(server.url)
        yield client


def test_repeated_answers_come_from_the_cache_and_a_delete_forgets_them(cache_client):
    client = cache_client
    token = register(client)["accessToken"]
    dataset_id = ingest(client, token, CSV, "sales.csv")["id"]
    profiled = gql(client, START_PROFILE, {"id": dataset_id}, token)["data"]["profileDataset"]
    assert wait_for_job(client, token, profiled["job"]["id"])["status"] == "SUCCEEDED"
    spec = {"type": "BAR", "x": "city", "y": "amount", "aggregate": "SUM"}
    first = gql(client, CHART, {"id": dataset_id, "input": spec}, token)["data"]["dataset"]["chart"]
    rows = gql(client, ROWS, {"id": dataset_id}, token)["data"]["dataset"]["rows"]
    profile = gql(client, PROFILE, {"id": dataset_id}, token)["data"]["dataset"]["profile"]
    assert first["totalRows"] == 300 and rows["rows"][0] == ["Lima", 1] and profile["rowCount"] == 300

    data_dir = client.app.state.assay.settings.resolved_data_dir
    files.parquet_path(data_dir, raw_id(dataset_id, "Dataset")).unlink()  # nothing left to compute from
    again = gql(client, CHART, {"id": dataset_id, "input": spec}, token)
    assert again["data"]["dataset"]["chart"] == first  # the cached answer, in JSON and back, equal
    assert gql(client, ROWS, {"id": dataset_id}, token)["data"]["dataset"]["rows"] == rows
    new_question = gql(client, CHART, {"id": dataset_id, "input": {**spec, "aggregate": "MEAN"}}, token)
    assert new_question["errors"], "a chart never asked before must be computed, and the data is gone"

    other = register(client)["accessToken"]  # the same question from someone else: refused before the cache
    assert gql(client, CHART, {"id": dataset_id, "input": spec}, other)["data"]["dataset"] is None

    if client.redis is not None:
        keys = list(client.redis.scan_iter(f"assay:cache:{raw_id(dataset_id, 'Dataset')}:*"))
        assert len(keys) == 5  # two rows pages (ingest() read one), the chart, the profile, the dataset's key list
        assert all(client.redis.ttl(k) > 0 for k in keys)
    assert gql(client, DELETE, {"id": dataset_id}, token)["data"]["deleteDataset"]["errors"] == []
    if client.redis is not None:
        assert list(client.redis.scan_iter("assay:cache:*")) == []
    else:
        assert len(client.app.state.assay.cache._entries) == 0
    assert gql(client, CHART, {"id": dataset_id, "input": spec}, token)["data"]["dataset"] is None
