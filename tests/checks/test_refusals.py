"""Bad input to check suites: a typed error naming the field, and nothing stored."""

from __future__ import annotations

import pytest

from tests.checks.operations import SUGGEST, VALIDATE, create_suite, orders_csv, ready_dataset
from tests.support.graphql import gql

SUITES = "query { checkSuites { totalCount } validations { totalCount } }"


@pytest.fixture
def march(client, token):
    return ready_dataset(client, token, orders_csv(), "march.csv")


@pytest.mark.parametrize(
    ("checks", "code", "field"),
    [
        (
            [{"column": "amount", "min": 0}, {"column": "amonut", "notNull": True}],
            "INVALID_INPUT",
            ["checks", "1", "column"],
        ),
        ([{"column": "amount", "maxNullRatio": 1.5}], "INVALID_INPUT", ["checks", "0", "maxNullRatio"]),
        ([{"column": "amount", "drift": {"threshold": 0}}], "INVALID_INPUT", ["checks", "0", "drift", "threshold"]),
        (
            [{"column": "amount", "drift": {"method": "KS", "threshold": 2}}],
            "INVALID_INPUT",
            ["checks", "0", "drift", "threshold"],
        ),
        ([{"column": "status", "drift": {"method": "KS"}}], "INVALID_INPUT", ["checks", "0", "drift", "method"]),
        ([{"column": "status", "min": 0}], "INVALID_INPUT", ["checks", "0", "min"]),
        ([{"column": "amount", "min": 5, "max": 1}], "INVALID_INPUT", ["checks", "0", "min"]),
        ([{"minRows": -1}], "INVALID_INPUT", ["checks", "0", "minRows"]),
        ([{"column": "amount"}], "INVALID_INPUT", ["checks", "0"]),
        (
            [{"column": "amount", "maxNullRatio": 0.1, "onFail": "DROP_ROWS"}],
            "INVALID_INPUT",
            ["checks", "0", "onFail"],
        ),
        ([], "INVALID_INPUT", ["checks"]),
    ],
)
def test_a_suite_with_bad_checks_is_refused_and_not_stored(client, token, march, checks, code, field):
    refused = create_suite(client, token, march, checks)
    assert refused["suite"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [(code, field)], refused
    assert gql(client, SUITES, {}, token)["data"]["checkSuites"]["totalCount"] == 0


def test_nested_suites_a_missing_dataset_and_an_empty_name_are_refused(client, token, march):
    suite = create_suite(client, token, march, [{"column": "amount", "min": 0}])["suite"]
    nested = create_suite(client, token, march, [{"suiteId": suite["id"]}])
    assert [(e["code"], e["field"]) for e in nested["errors"]] == [("INVALID_INPUT", ["checks", "0", "suiteId"])]
    unnamed = create_suite(client, token, march, [{"column": "amount", "min": 0}], name=" ")
    assert [(e["code"], e["field"]) for e in unnamed["errors"]] == [("INVALID_INPUT", ["name"])]
    nowhere = create_suite(client, token, "RGF0YXNldDpub3BlCg==", [{"column": "amount", "min": 0}])
    assert [(e["code"], e["field"]) for e in nowhere["errors"]] == [("NOT_FOUND", ["datasetId"])]
    bad_update = gql(
        client,
        """mutation($id: ID!) { updateCheckSuite(input: {id: $id, checks: [{column: "nope", notNull: true}]}) {
        suite { id } errors { code field } } }""",
        {"id": suite["id"]},
        token,
    )["data"]["updateCheckSuite"]
    assert bad_update == {"suite": None, "errors": [{"code": "INVALID_INPUT", "field": ["checks", "0", "column"]}]}
    shown = gql(client, "query($id: ID!) { checkSuite(id: $id) { checks { column min } } }", {"id": suite["id"]}, token)
    assert shown["data"]["checkSuite"]["checks"] == [{"column": "amount", "min": 0.0}]  # unchanged
    assert gql(client, SUITES, {}, token)["data"]["checkSuites"]["totalCount"] == 1


def test_suggesting_before_profiling_says_to_profile_first(client, token):
    unprofiled = ready_dataset(client, token, orders_csv(), "march.csv", profiled=False)
    answer = gql(client, SUGGEST, {"id": unprofiled}, token)
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"] == {"code": "CONFLICT", "field": ["datasetId"]}
    assert "profile it first" in answer["errors"][0]["message"]


def test_validating_a_dataset_without_the_suites_columns_is_refused(client, token, march):
    suite = create_suite(client, token, march, [{"column": "amount", "min": 0}, {"column": "status", "notNull": True}])
    other = ready_dataset(client, token, b"city,population\nOslo,700000\nBergen,290000\n", "cities.csv", profiled=False)
    refused = gql(client, VALIDATE, {"dataset": other, "suite": suite["suite"]["id"]}, token)["data"]["validateDataset"]
    assert refused["validation"] is None and refused["job"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_INPUT", ["datasetId"])]
    assert "amount, status" in refused["errors"][0]["message"]
    missing = gql(client, VALIDATE, {"dataset": march, "suite": "Q2hlY2tTdWl0ZTpub3Bl"}, token)["data"][
        "validateDataset"
    ]
    assert [(e["code"], e["field"]) for e in missing["errors"]] == [("NOT_FOUND", ["suiteId"])]
    counts = gql(client, SUITES, {}, token)["data"]
    assert counts["validations"]["totalCount"] == 0
    jobs = gql(client, "query { jobs { edges { node { kind } } } }", {}, token)["data"]["jobs"]["edges"]
    assert "VALIDATE" not in [edge["node"]["kind"] for edge in jobs]
