"""Browsing, downloading and deleting datasets, and what another user can (not) see."""

from __future__ import annotations

import io

import pyarrow.parquet as pq

from schema.common import raw_id
from tests.support.graphql import gql, ingest, register

LIST = """query($first: Int, $after: String, $search: String) { datasets(first: $first, after: $after, search:
$search) {
  totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id name } } } }"""
DOWNLOAD = "query($id: ID!, $f: DataFormat) { dataset(id: $id) { downloadUrl(format: $f) } }"
DELETE = "mutation($id: ID!) { deleteDataset(input: {id: $id}) { deletedId errors { code message field } } }"


def test_pagination_newest_first_with_search(client, token):
    for index in range(5):
        ingest(
            client, token, f"a,b\n{index},2\n".encode(), name=f"sales {index}" if index % 2 == 0 else f"costs {index}"
        )
    first = gql(client, LIST, {"first": 2}, token)["data"]["datasets"]
    assert first["totalCount"] == 5 and [e["node"]["name"] for e in first["edges"]] == ["sales 4", "costs 3"]
    assert first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["hasPreviousPage"] is False
    second = gql(client, LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token)["data"]["datasets"]
    assert [e["node"]["name"] for e in second["edges"]] == ["sales 2", "costs 1"]
    third = gql(client, LIST, {"first": 2, "after": second["pageInfo"]["endCursor"]}, token)["data"]["datasets"]
    assert [e["node"]["name"] for e in third["edges"]] == ["sales 0"] and third["pageInfo"]["hasNextPage"] is False
    searched = gql(client, LIST, {"search": "SALES"}, token)["data"]["datasets"]
    assert searched["totalCount"] == 3 and all("sales" in e["node"]["name"] for e in searched["edges"])
    literal = gql(client, LIST, {"search": "%"}, token)["data"]["datasets"]
    assert literal["totalCount"] == 0


def test_page_size_and_cursor_are_checked(client, token):
    too_many = gql(client, LIST, {"first": 101}, token)
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert gql(client, LIST, {"first": 100}, token)["data"]["datasets"]["totalCount"] == 0
    bad_cursor = gql(client, LIST, {"after": "!!!"}, token)
    assert bad_cursor["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


def test_rows_paging_and_limit_cap(client, token):
    body = "n\n" + "".join(f"{i}\n" for i in range(200_000))
    query = "query($id: ID!) { dataset(id: $id) { id rows(offset: 131070, limit: 4) { rows offset totalRows } } }"
    dataset = ingest(client, token, body.encode(), query=query)
    page = dataset["rows"]
    assert page == {"rows": [[131070], [131071], [131072], [131073]], "offset": 131070, "totalRows": 200_000}
    capped = gql(
        client, "query($id: ID!) { dataset(id: $id) { rows(limit: 5000) { totalRows } } }", {"id": dataset["id"]}, token
    )
    assert capped["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    past_end = gql(
        client, "query($id: ID!) { dataset(id: $id) { rows(offset: 999999) { rows } } }", {"id": dataset["id"]}, token
    )
    assert past_end["data"]["dataset"]["rows"]["rows"] == []


def test_node_lookup_by_global_id(client, token):
    dataset = ingest(client, token, b"a\n1\n")
    node = gql(
        client, "query($id: ID!) { node(id: $id) { id ... on Dataset { name status } } }", {"id": dataset["id"]}, token
    )
    assert node["data"]["node"] == {"id": dataset["id"], "name": "data.csv", "status": "READY"}
    job = gql(
        client, "query($id: ID!) { node(id: $id) { ... on Job { kind status } } }", {"id": dataset["job"]["id"]}, token
    )
    assert job["data"]["node"] == {"kind": "INGEST", "status": "SUCCEEDED"}
    assert gql(client, '{ node(id: "garbage") { id } }', token=token)["data"]["node"] is None


def test_download_csv_and_parquet(client, token):
    dataset = ingest(client, token, b"city;temp\nOslo;-3,5\nRome;14,25\n")
    csv_url = gql(client, DOWNLOAD, {"id": dataset["id"], "f": "CSV"}, token)["data"]["dataset"]["downloadUrl"]
    response = client.get(csv_url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines() == ['"city","temp"', '"Oslo",-3.5', '"Rome",14.25']
    parquet_url = gql(client, DOWNLOAD, {"id": dataset["id"], "f": "PARQUET"}, token)["data"]["dataset"]["downloadUrl"]
    table = pq.read_table(io.BytesIO(client.get(parquet_url).content))
    assert table.column("temp").to_pylist() == [-3.5, 14.25]


def test_download_url_refuses_tampering_and_expiry(client, token, settings):
    dataset = ingest(client, token, b"a\n1\n")
    url = gql(client, DOWNLOAD, {"id": dataset["id"]}, token)["data"]["dataset"]["downloadUrl"]
    assert client.get(url.replace("token=", "token=x")).status_code == 403
    assert client.get(url.replace(".csv?", ".parquet?")).status_code == 403
    assert client.get(url.split("?")[0]).status_code == 403
    from services.files import sign_download

    expired = sign_download(
        secret=settings.resolved_secret_key,
        owner_id="x",
        kind="dataset",
        object_id=raw_id(dataset["id"], "Dataset"),
        fmt="CSV",
        minutes=-1,
    )
    assert client.get(url.split("?")[0] + "?token=" + expired).status_code == 403


def test_delete_removes_rows_and_files(client, token, settings):
    dataset = ingest(client, token, b"a\n1\n")
    folder = settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset")
    url = gql(client, DOWNLOAD, {"id": dataset["id"]}, token)["data"]["dataset"]["downloadUrl"]
    assert folder.exists()
    deleted = gql(client, DELETE, {"id": dataset["id"]}, token)["data"]["deleteDataset"]
    assert deleted == {"deletedId": dataset["id"], "errors": []}
    assert not folder.exists()
    assert (
        gql(client, "query($id: ID!) { dataset(id: $id) { id } }", {"id": dataset["id"]}, token)["data"]["dataset"]
        is None
    )
    assert client.get(url).status_code == 404
    again = gql(client, DELETE, {"id": dataset["id"]}, token)["data"]["deleteDataset"]
    assert again["errors"][0]["code"] == "NOT_FOUND"


def test_another_users_dataset_behaves_like_a_missing_one(client, token):
    mine = ingest(client, token, b"secret,value\nx,1\n", name="private")
    url = gql(client, DOWNLOAD, {"id": mine["id"]}, token)["data"]["dataset"]["downloadUrl"]
    other = register(client)["accessToken"]
    assert (
        gql(client, "query($id: ID!) { dataset(id: $id) { id } }", {"id": mine["id"]}, other)["data"]["dataset"] is None
    )
    assert gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": mine["id"]}, other)["data"]["node"] is None
    assert (
        gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": mine["job"]["id"]}, other)["data"]["node"]
        is None
    )
    assert (
        gql(client, "query($id: ID!) { job(id: $id) { id } }", {"id": mine["job"]["id"]}, other)["data"]["job"] is None
    )
    assert gql(client, LIST, {}, other)["data"]["datasets"]["totalCount"] == 0
    assert gql(client, "{ jobs { totalCount } }", token=other)["data"]["jobs"]["totalCount"] == 0
    deleted = gql(client, DELETE, {"id": mine["id"]}, other)["data"]["deleteDataset"]
    assert deleted["errors"][0]["code"] == "NOT_FOUND"
    # A link minted for the owner keeps working only for what it names; the other user cannot mint one.
    other_dataset = ingest(client, other, b"a\n1\n")
    other_url = gql(client, DOWNLOAD, {"id": other_dataset["id"]}, other)["data"]["dataset"]["downloadUrl"]
    swapped = url.split("?")[0] + "?" + other_url.split("?")[1]
    assert client.get(swapped).status_code == 403
    assert client.get(url).status_code == 200


def test_dataset_lists_its_jobs(client, token):
    query = (
        "query($id: ID!) { dataset(id: $id) { id jobs { totalCount edges { node { kind status dataset { id } } } } } }"
    )
    dataset = ingest(client, token, b"a\n1\n", query=query)  # read once its INGEST job has finished
    jobs = dataset["jobs"]
    assert jobs["totalCount"] == 1
    assert jobs["edges"][0]["node"] == {"kind": "INGEST", "status": "SUCCEEDED", "dataset": {"id": dataset["id"]}}
