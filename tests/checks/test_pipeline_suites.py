"""A pipeline names a saved suite among its checks: its failures follow the pipeline's on-failure rule."""

from __future__ import annotations

from tests.checks.operations import create_suite, march_and_broken_april, orders_csv, ready_dataset
from tests.pipelines.operations import create_from_dataset, run
from tests.support.graphql import gql, register

RUN_CHECKS = """query($id: ID!) { pipeline(id: $id) { config lastRun { status error rowsOut
  checks { column rule passed observed onFail suite failingRows examples } } } }"""


def checked_copy(client, token, dataset_id: str, name: str, checks: list[dict]) -> dict:
    """createPipeline's payload: the dataset, checked, into a Parquet file named as the pipeline."""
    return create_from_dataset(client, token, dataset_id, name, {"parquet": {"name": name}}, checks=checks)


def test_a_failing_suite_fails_the_run_or_only_warns_as_the_pipeline_says(client, token):
    march, april = march_and_broken_april(client, token)
    checks = [{"column": "amount", "min": 0}, {"minRows": 10}, {"column": "amount", "drift": {"method": "KS"}}]
    suite = create_suite(client, token, march, checks, name="orders")["suite"]
    strict = checked_copy(client, token, april, "april", [{"suiteId": suite["id"]}])
    assert strict["errors"] == [], strict
    assert strict["pipeline"]["config"]["checks"] == [{"suiteId": suite["id"], "onFail": "FAIL_RUN"}]
    failed = run(client, token, strict["pipeline"]["id"])
    assert failed["job"]["status"] == "FAILED"
    shown = gql(client, RUN_CHECKS, {"id": strict["pipeline"]["id"]}, token)["data"]["pipeline"]["lastRun"]
    assert shown["status"] == "FAILED" and shown["error"].startswith("2 check(s) failed, so nothing was stored")
    assert [(c["column"], c["rule"], c["passed"], c["suite"]) for c in shown["checks"]] == [
        ("amount", "MIN", False, "orders"),
        (None, "MIN_ROWS", True, "orders"),
        ("amount", "DRIFT", False, "orders"),
    ]
    assert shown["checks"][0]["observed"] == -5 and shown["checks"][0]["examples"] == [-5]

    lenient = checked_copy(
        client,
        token,
        april,
        "april-warn",
        [{"suiteId": suite["id"], "onFail": "WARN"}, {"column": "channel", "maxNullRatio": 0.5}],
    )
    stored = run(client, token, lenient["pipeline"]["id"])
    assert stored["job"]["status"] == "SUCCEEDED" and stored["lastRun"]["rowsOut"] == 300
    checks = gql(client, RUN_CHECKS, {"id": lenient["pipeline"]["id"]}, token)["data"]["pipeline"]["lastRun"]["checks"]
    assert [(c["rule"], c["passed"], c["onFail"]) for c in checks] == [
        ("MIN", False, "WARN"),
        ("MIN_ROWS", True, "WARN"),
        ("DRIFT", False, "WARN"),
        ("MAX_NULL_RATIO", True, "FAIL_RUN"),
    ]
    assert any(
        "Check failed: amount: 1 row(s) not >= 0 (e.g. -5" in e["message"] and "warning only" in e["message"]
        for e in stored["job"]["logs"]
    )


def test_a_pipeline_cannot_name_another_users_suite_or_drop_rows_by_a_suite(client, token):
    march = ready_dataset(client, token, orders_csv(), "march.csv", profiled=False)
    suite = create_suite(client, token, march, [{"column": "amount", "min": 0}])["suite"]
    other = register(client)["accessToken"]
    theirs = ready_dataset(client, other, orders_csv(), "theirs.csv", profiled=False)
    refused = checked_copy(client, other, theirs, "p", [{"suiteId": suite["id"]}])
    assert refused["pipeline"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("NOT_FOUND", ["checks", "0", "suiteId"])]
    dropping = checked_copy(client, token, march, "p", [{"suiteId": suite["id"], "onFail": "DROP_ROWS"}])
    assert [(e["code"], e["field"]) for e in dropping["errors"]] == [("INVALID_INPUT", ["checks", "0", "suiteId"])] or [
        (e["code"], e["field"]) for e in dropping["errors"]
    ] == [("INVALID_INPUT", ["checks", "0", "onFail"])]
    inline_drift = checked_copy(client, token, march, "p", [{"column": "amount", "drift": {}}])
    assert [(e["code"], e["field"]) for e in inline_drift["errors"]] == [("INVALID_INPUT", ["checks", "0", "drift"])]
    assert gql(client, "query { pipelines { totalCount } }", {}, token)["data"]["pipelines"]["totalCount"] == 0
