"""Whatever a job returns or logs, however large, arrives or is refused with the limit named (issue 21 item 4)."""

from __future__ import annotations

from starlette.testclient import TestClient

from server.app import create_app
from tests.preprocessing.test_preprocessing import RUN
from tests.support.graphql import DATASET, gql, ingest, register, upload, wait_for_job
from tests.support.settings import make_settings

COLUMNS = 2000


def wide_csv(first_name: str = "column_0") -> bytes:
    header = ",".join([first_name] + [f"column_{i}" for i in range(1, COLUMNS)])
    return (
        header
        + "\n"
        + ",".join(map(str, range(COLUMNS)))
        + "\n"
        + ",".join(map(str, range(COLUMNS, 2 * COLUMNS)))
        + "\n"
    ).encode()


def test_a_wide_table_and_a_huge_column_name_arrive(tmp_path):
    # A server that takes 1 MB strings in variables (the default stops at 100,000 characters before any job).
    with TestClient(create_app(make_settings(tmp_path, max_string_length=2_000_000))) as client:
        check_wide_table_and_huge_name(client, register(client)["accessToken"])


def check_wide_table_and_huge_name(client, token):
    dataset = ingest(client, token, wide_csv())
    assert dataset["job"]["status"] == "SUCCEEDED" and (dataset["rowCount"], dataset["columnCount"]) == (2, COLUMNS)
    huge = "n" * 1_000_000
    payload = gql(
        client,
        RUN,
        {"input": {"datasetId": dataset["id"], "steps": [{"renameColumns": {"mapping": {"column_1": huge}}}]}},
        token,
    )["data"]["preprocessDataset"]
    assert payload["errors"] == []
    job = wait_for_job(client, token, payload["job"]["id"])
    assert job["status"] == "SUCCEEDED", job
    renamed = gql(client, DATASET, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert renamed["columns"][1]["name"] == huge and renamed["columnCount"] == COLUMNS


def test_an_overlong_log_line_is_cut_saying_so(client, token):
    dataset = ingest(client, token, wide_csv(first_name="x" * 1_000_000))
    assert dataset["job"]["status"] == "SUCCEEDED"
    longest = max(dataset["job"]["logs"], key=lambda entry: len(entry["message"]))["message"]
    assert len(longest) < 17_000 and "(cut: " in longest and "the limit is 16,384)" in longest


def test_a_result_over_the_limit_is_refused_with_the_limit_named(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, max_job_result_mb=0.05))) as client:
        token = register(client)["accessToken"]
        started = upload(client, token, wide_csv())["data"]["uploadDataset"]
        job = wait_for_job(client, token, started["job"]["id"])
        assert job["status"] == "FAILED" and "over the 0.05 MB limit" in job["error"], job
        dataset = gql(client, DATASET, {"id": started["dataset"]["id"]}, token)["data"]["dataset"]
        assert dataset["status"] == "FAILED"
