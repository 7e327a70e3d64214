"""OVER_BUDGET through /graphql: a query that needs more memory than its budget gets the code with the budget
and the estimated need, and a failed job says its code in `errorCode` (null while it has not failed)."""

from __future__ import annotations

import pytest

from tests.pipelines.operations import create_from_dataset, run
from tests.support.graphql import gql, ingest
from tests.support.settings import make_settings

QUERY = "query($sql: String!) { query(sql: $sql) { rows } }"
JOB = "query($id: ID!) { job(id: $id) { status error errorCode attempts { outcome errorCode } } }"


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, sql_memory_mb=64)


def test_a_query_beyond_its_memory_budget_is_over_budget_with_the_need(client, token):
    ingest(client, token, b"n\n1\n2\n", "numbers.csv")
    answer = gql(client, QUERY, {"sql": "SELECT list(i) AS every FROM range(40000000) t(i)"}, token)
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "OVER_BUDGET", answer
    assert error["path"] == ["query"] and "budget of 64 MB (ASSAY_SQL_MEMORY_MB)" in error["message"]
    assert "it would need about" in error["message"]
    fine = gql(client, QUERY, {"sql": 'SELECT sum(n) AS total FROM "numbers.csv"'}, token)
    assert fine["data"]["query"]["rows"] == [[3]]


def test_a_failed_job_carries_its_error_code(client, token):
    dataset = ingest(client, token, b"id,amount\n1,5\n2,-3\n", "orders.csv")
    failing = create_from_dataset(
        client, token, dataset["id"], "strict", {"dataset": {"name": "out"}}, checks=[{"column": "amount", "min": 0}]
    )
    result = run(client, token, failing["pipeline"]["id"])
    job = gql(client, JOB, {"id": result["job"]["id"]}, token)["data"]["job"]
    assert job["status"] == "FAILED" and job["errorCode"] == "INVALID_INPUT", job
    assert job["attempts"][-1] == {"outcome": "FAILED", "errorCode": "INVALID_INPUT"}
    passing = create_from_dataset(client, token, dataset["id"], "lenient", {"dataset": {"name": "out"}})
    result = run(client, token, passing["pipeline"]["id"])
    job = gql(client, JOB, {"id": result["job"]["id"]}, token)["data"]["job"]
    assert job["status"] == "SUCCEEDED" and job["errorCode"] is None and job["attempts"][-1]["errorCode"] is None
