"""exportDataset: an EXPORT job writes a dataset as CSV, Parquet or JSON Lines; its owner (only) downloads the file
through `Job.output`; refused requests and failed jobs leave nothing behind."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from schema.common import raw_id, to_global_id
from services import files
from tests.support.graphql import gql, ingest, register, wait_for_job

pytestmark = pytest.mark.one_database(reason="exported files")

EXPORT = """mutation($i: ExportDatasetInput!) { exportDataset(input: $i) {
  job { id kind status } errors { code message field } } }"""
OUTPUT = """query($id: ID!) { job(id: $id) { kind status error
  output { __typename ... on DatasetExport { format rows bytes url } } } }"""
CSV = 'city,temp,when\nOslo,-3.5,2024-01-02\n"Lyon, FR",7,2024-01-03\nCairo,,2024-01-04\n'


def export(client, token, dataset_id: str, fmt: str | None = None) -> dict:
    given = {"datasetId": dataset_id, **({"format": fmt} if fmt else {})}
    return gql(client, EXPORT, {"i": given}, token)["data"]["exportDataset"]


def exported(client, token, dataset_id: str, fmt: str | None = None) -> dict:
    payload = export(client, token, dataset_id, fmt)
    assert payload["errors"] == [] and payload["job"]["kind"] == "EXPORT", payload
    job = wait_for_job(client, token, payload["job"]["id"])
    assert job["status"] == "SUCCEEDED", job
    return gql(client, OUTPUT, {"id": job["id"]}, token)["data"]["job"]["output"] | {"job": job["id"]}


def export_folder(settings, dataset_id: str):
    return files.dataset_dir(settings.resolved_data_dir, raw_id(dataset_id, "Dataset")) / "exports"


def test_each_format_downloads_the_rows_in_order(client, token):
    dataset = ingest(client, token, CSV.encode(), "weather.csv")
    as_csv = exported(client, token, dataset["id"])  # CSV by default
    assert as_csv["__typename"] == "DatasetExport" and as_csv["format"] == "CSV" and as_csv["rows"] == 3
    response = client.get(as_csv["url"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "weather.csv" in response.headers["content-disposition"] and len(response.content) == as_csv["bytes"]
    lines = response.text.splitlines()
    assert lines[0] == "city,temp,when" and lines[2].startswith('"Lyon, FR",7') and len(lines) == 4

    as_parquet = exported(client, token, dataset["id"], "PARQUET")
    table = pq.read_table(io.BytesIO(client.get(as_parquet["url"]).content))
    assert table.column("city").to_pylist() == ["Oslo", "Lyon, FR", "Cairo"]
    assert table.column("temp").to_pylist() == [-3.5, 7.0, None]

    as_jsonl = exported(client, token, dataset["id"], "JSONL")
    records = [json.loads(line) for line in client.get(as_jsonl["url"]).text.splitlines()]
    assert [r["city"] for r in records] == ["Oslo", "Lyon, FR", "Cairo"] and records[2]["temp"] is None


def test_bad_input_gets_a_typed_error_and_starts_nothing(client, token):
    dataset = ingest(client, token, CSV.encode())
    missing = export(client, token, to_global_id("Dataset", "nope"))
    assert missing["job"] is None and missing["errors"][0]["code"] == "NOT_FOUND"
    assert missing["errors"][0]["field"] == ["datasetId"]
    unknown = gql(client, EXPORT, {"i": {"datasetId": dataset["id"], "format": "XLSX"}}, token)
    assert unknown["errors"] and "XLSX" in unknown["errors"][0]["message"]
    kinds = gql(client, "{ jobs(first: 50) { edges { node { kind } } } }", token=token)["data"]["jobs"]["edges"]
    assert [e["node"]["kind"] for e in kinds] == ["INGEST"]


def test_another_users_dataset_and_file_are_refused(client, token):
    mine = ingest(client, token, CSV.encode())
    made = exported(client, token, mine["id"])
    other = register(client)["accessToken"]
    refused = export(client, other, mine["id"])
    assert refused["job"] is None and refused["errors"][0]["code"] == "NOT_FOUND"
    assert gql(client, OUTPUT, {"id": made["job"]}, other)["data"]["job"] is None
    # The other user's own link opens their file only: a token is for exactly one job and its owner
    theirs = exported(client, other, ingest(client, other, b"a\n1\n")["id"])
    swapped = made["url"].split("?")[0] + "?" + theirs["url"].split("?")[1]
    assert client.get(swapped).status_code == 403
    assert client.get(made["url"].split("?")[0]).status_code == 403
    assert client.get(made["url"]).status_code == 200


def test_a_failed_export_leaves_no_file(client, token, settings):
    dataset = ingest(client, token, CSV.encode())
    parquet = files.parquet_path(settings.resolved_data_dir, raw_id(dataset["id"], "Dataset"))
    parquet.write_bytes(parquet.read_bytes()[: parquet.stat().st_size // 2])  # a copy damaged on disk
    payload = export(client, token, dataset["id"], "PARQUET")
    job = wait_for_job(client, token, payload["job"]["id"])
    assert job["status"] == "FAILED", job
    assert gql(client, OUTPUT, {"id": job["id"]}, token)["data"]["job"]["output"] is None
    folder = export_folder(settings, dataset["id"])
    assert not folder.exists() or list(folder.iterdir()) == []
