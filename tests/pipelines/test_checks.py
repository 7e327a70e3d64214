"""Checks on a run's output: failing the run with every problem, dropping rows, warning, and refusals when saved.

The sources are local: tests/pipelines/fake_sources.py, served by the source_server fixture."""

from __future__ import annotations

import pytest

CHECKS_RUN = """query($id: ID!) { pipeline(id: $id) { config lastRun { status rowsIn rowsOut error
  checks { column rule expected passed failingRows examples onFail } } data(limit: 10) { rows } } }"""


def test_checks_fail_the_run_with_every_problem_and_store_nothing(author, source_server):
    checks = [
        {"column": "id", "unique": True, "notNull": True},
        {"column": "amount", "min": 0, "max": 1000},
        {"column": "email", "pattern": "[^@ ]+@[^@ ]+", "onFail": "WARN"},
        {"column": "status", "allowedValues": ["paid", "refunded"]},
        {"column": "amount", "semanticType": "NUMERIC"},
        {"minRows": 10},
    ]
    result = author.create_and_run(
        name="orders",
        source={"http": {"url": f"{source_server}/orders.json"}},
        sink={"dataset": {"name": "orders"}},
        checks=checks,
    )
    assert result["job"]["status"] == "FAILED"
    shown = author.gql(CHECKS_RUN, {"id": result["id"]})["data"]["pipeline"]
    by_rule = {(c["column"], c["rule"]): c for c in shown["lastRun"]["checks"]}
    assert [(c["column"], c["rule"]) for c in shown["lastRun"]["checks"]] == [
        ("id", "NOT_NULL"),
        ("id", "UNIQUE"),
        ("amount", "MIN"),
        ("amount", "MAX"),
        ("email", "PATTERN"),
        ("status", "ALLOWED_VALUES"),
        ("amount", "SEMANTIC_TYPE"),
        (None, "MIN_ROWS"),
    ]
    assert by_rule[("id", "NOT_NULL")]["passed"] is True
    assert by_rule[("id", "UNIQUE")] | {} == {
        "column": "id",
        "rule": "UNIQUE",
        "expected": "no repeated values",
        "passed": False,
        "failingRows": 1,
        "examples": [2],
        "onFail": "FAIL_RUN",
    }
    assert by_rule[("amount", "MIN")]["examples"] == [-5.0] and by_rule[("amount", "MAX")]["examples"] == [1000000.0]
    assert by_rule[("email", "PATTERN")]["failingRows"] == 1 and by_rule[("email", "PATTERN")]["onFail"] == "WARN"
    assert by_rule[("status", "ALLOWED_VALUES")]["examples"] == ["lost"]
    assert by_rule[("amount", "SEMANTIC_TYPE")]["passed"] is True
    assert by_rule[(None, "MIN_ROWS")] | {} == {
        "column": None,
        "rule": "MIN_ROWS",
        "expected": "at least 10 rows",
        "passed": False,
        "failingRows": 0,
        "examples": [4],
        "onFail": "FAIL_RUN",
    }
    error = shown["lastRun"]["error"]
    assert (
        error.startswith("5 check(s) failed, so nothing was stored")
        and "amount: 1 row(s) not >= 0 (e.g. -5.0)" in error
    )
    assert shown["data"] is None  # no output was written
    logs = [e["message"] for e in result["job"]["logs"]]
    assert any("Check failed: email: 1 row(s) not matches" in m and "warning only" in m for m in logs)
    assert [t["stage"] for t in result["job"]["timeline"]] == ["collect", "process", "validate"]
    # the checks are echoed as given, and can be replaced
    assert shown["config"]["checks"][1] == {"column": "amount", "min": 0.0, "max": 1000.0, "onFail": "FAIL_RUN"}


def test_drop_rows_and_warn_checks_let_the_run_store_what_passes(author, source_server):
    result = author.create_and_run(
        name="orders",
        source={"http": {"url": f"{source_server}/orders.json"}},
        sink={"parquet": {"name": "orders"}},
        checks=[
            {"column": "amount", "min": 0, "onFail": "DROP_ROWS"},
            {"column": "email", "notNull": True, "onFail": "DROP_ROWS"},
            {"column": "id", "unique": True, "onFail": "WARN"},
        ],
    )
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    shown = author.gql(CHECKS_RUN, {"id": result["id"]})["data"]["pipeline"]
    assert shown["lastRun"]["rowsIn"] == 4 and shown["lastRun"]["rowsOut"] == 2
    assert [row[0] for row in shown["data"]["rows"]] == [1, 4]
    assert [c["passed"] for c in shown["lastRun"]["checks"]] == [False, False, False]
    assert any("Dropped 2 row(s) failing DROP_ROWS checks; 2 remain" in e["message"] for e in result["job"]["logs"])
    # removing the checks: the next run keeps every row
    removed = author.gql(
        """mutation($id: ID!) { updatePipeline(input: {id: $id, checks: []}) { pipeline { config }
        errors { message } } }""",
        {"id": result["id"]},
    )["data"]["updatePipeline"]
    assert removed["errors"] == [] and removed["pipeline"]["config"]["checks"] == []
    again = author.run(result["id"])
    assert again["lastRun"]["rowsOut"] == 4 and again["lastRun"]["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("check", "field"),
    [
        ({"notNull": True}, ["checks", "0", "column"]),
        ({"column": "a"}, ["checks", "0"]),
        ({"column": "a", "notNull": False}, ["checks", "0"]),
        ({"column": "a", "min": 5, "max": 1}, ["checks", "0", "min"]),
        ({"column": "a", "pattern": "(unclosed"}, ["checks", "0", "pattern"]),
        ({"column": "a", "semanticType": "NUMERIC", "onFail": "DROP_ROWS"}, ["checks", "0", "onFail"]),
        ({"minRows": -1}, ["checks", "0", "minRows"]),
        ({"column": "a", "allowedValues": []}, ["checks", "0", "allowedValues"]),
    ],
)
def test_checks_that_could_never_run_are_refused_when_saved(author, source_server, check, field):
    refused = author.refusal(
        name="x",
        source={"http": {"url": f"{source_server}/orders.json"}},
        sink={"dataset": {"name": "x"}},
        checks=[check],
    )
    assert refused["field"] == field, refused


def test_a_check_on_a_missing_column_fails_the_run_by_name(author, source_server):
    ran = author.create_and_run(
        name="x",
        source={"http": {"url": f"{source_server}/orders.json"}},
        sink={"dataset": {"name": "x"}},
        checks=[{"column": "price", "min": 0, "onFail": "DROP_ROWS"}],
    )
    shown = author.gql(CHECKS_RUN, {"id": ran["id"]})["data"]["pipeline"]["lastRun"]
    assert shown["status"] == "FAILED" and "price: expected the column exists" in shown["error"]
    assert shown["checks"][0]["rule"] == "COLUMN_EXISTS" and shown["checks"][0]["onFail"] == "FAIL_RUN"
