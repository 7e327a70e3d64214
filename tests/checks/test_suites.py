"""A suite drafted from a profile, saved, and run on the profiled month and on a broken next month, through
/graphql: the results a user reads (observed values, expected, failing rows) and the verdict."""

from __future__ import annotations

from tests.checks.operations import (
    DELETE,
    SUGGEST,
    UPDATE,
    VALIDATION,
    as_input,
    create_suite,
    march_and_broken_april,
    orders_csv,
    ready_dataset,
    validate,
)
from tests.support.graphql import delete_dataset, gql, register

VALIDATIONS = """query($dataset: ID, $suite: ID) { validations(datasetId: $dataset, suiteId: $suite) {
  totalCount edges { node { id status passed } } } }"""
SUITES = "query { checkSuites { totalCount edges { node { id name } } } }"
SUITE = "query($id: ID!) { checkSuite(id: $id) { name dataset { id } checks { column } } }"


def test_suggested_suite_passes_its_month_and_fails_a_broken_one(client, token):
    march = ready_dataset(client, token, orders_csv(), "march.csv")
    draft = gql(client, SUGGEST, {"id": march}, token)["data"]["suggestChecks"]
    checks = {check["column"]: check for check in draft["checks"]}
    assert draft["dataset"]["id"] == march
    assert checks[None]["minRows"] == 150 and checks[None]["maxRows"] == 450  # 300 rows, +-50%
    assert checks["id"]["unique"] is True and checks["id"]["notNull"] is True
    assert checks["amount"]["semanticType"] == "NUMERIC" and checks["amount"]["drift"] == {
        "method": None,
        "threshold": None,
    }
    assert checks["amount"]["min"] < 60 and checks["amount"]["max"] > 140
    assert checks["status"]["allowedValues"] == ["paid", "pending", "refunded"]
    assert checks["channel"]["notNull"] is None and 0.05 < checks["channel"]["maxNullRatio"] <= 0.1  # 5% missing now
    assert checks["channel"]["allowedValues"] == ["store", "web"]

    saved = create_suite(client, token, march, [as_input(c) for c in draft["checks"]])
    assert saved["errors"] == [], saved
    suite = saved["suite"]
    assert suite["dataset"]["id"] == march and suite["checks"] == draft["checks"]

    same = validate(client, token, march, suite["id"])
    assert same["status"] == "PASSED" and same["passed"] is True and same["failedCount"] == 0, same["results"]
    assert same["job"]["kind"] == "VALIDATE" and any(line.startswith("Verdict: PASSED") for line in same["log"])
    drift = next(r for r in same["results"] if r["rule"] == "DRIFT" and r["column"] == "amount")
    assert drift["drift"]["method"] == "KS" and drift["drift"]["pValue"] == 1.0 and drift["drift"]["currentRows"] == 300

    april = ready_dataset(client, token, orders_csv(seed=8, broken=True), "april.csv", profiled=False)
    broken = validate(client, token, april, suite["id"])
    assert broken["job_status"] == "SUCCEEDED"  # the job did its work; the data failed
    assert broken["status"] == "FAILED" and broken["passed"] is False
    by_rule = {(r["column"], r["rule"]): r for r in broken["results"]}
    repeated = by_rule[("id", "UNIQUE")]
    assert repeated["passed"] is False and repeated["observed"] == 1 and repeated["examples"] == [1]
    assert sorted(row["_row"] for row in repeated["failingSample"]) == [0, 1]
    low = by_rule[("amount", "MIN")]
    assert low["passed"] is False and low["observed"] == -5 and low["examples"] == [-5]
    assert low["failingSample"] == [{"_row": 1, "id": 1, "amount": -5, "status": "lost", "channel": "web"}]
    assert by_rule[("amount", "MAX")]["observed"] == 1_000_000
    unknown = by_rule[("status", "ALLOWED_VALUES")]
    assert unknown["examples"] == ["lost"] and unknown["failingRows"] == 1
    moved = by_rule[("amount", "DRIFT")]
    assert moved["passed"] is False and moved["drift"]["drifted"] is True and moved["drift"]["pValue"] < 0.05
    assert by_rule[("channel", "MAX_NULL_RATIO")]["passed"] is True
    assert by_rule[(None, "MIN_ROWS")]["passed"] is True and by_rule[(None, "MIN_ROWS")]["observed"] == 300
    assert any(line.startswith("Check failed: amount: expected >= ") for line in broken["log"])
    assert broken["suite"]["id"] == suite["id"] and broken["dataset"]["id"] == april

    listed = gql(client, VALIDATIONS, {"dataset": april}, token)["data"]["validations"]
    assert listed["totalCount"] == 1 and listed["edges"][0]["node"]["status"] == "FAILED"
    assert gql(client, VALIDATIONS, {"suite": suite["id"]}, token)["data"]["validations"]["totalCount"] == 2


def test_edited_suite_warns_instead_of_failing_and_validations_outlive_it(client, token):
    march, april = march_and_broken_april(client, token)
    checks = [{"column": "status", "allowedValues": ["paid", "pending", "refunded"]}, {"column": "amount", "min": 0}]
    suite = create_suite(client, token, march, checks)["suite"]
    assert validate(client, token, april, suite["id"])["passed"] is False
    edited = gql(
        client,
        UPDATE,
        {
            "input": {
                "id": suite["id"],
                "name": "lenient",
                "checks": [
                    {"column": "status", "allowedValues": ["paid", "pending", "refunded"], "onFail": "WARN"},
                    {"column": "amount", "min": -10},
                ],
            }
        },
        token,
    )["data"]["updateCheckSuite"]
    assert edited["errors"] == [] and edited["suite"]["name"] == "lenient"
    lenient = validate(client, token, april, suite["id"])
    assert lenient["status"] == "PASSED" and lenient["failedCount"] == 1  # the WARN check failed, the verdict passed
    assert [r["passed"] for r in lenient["results"]] == [False, True]

    deleted = gql(client, DELETE, {"id": suite["id"]}, token)["data"]["deleteCheckSuite"]
    assert deleted == {"deletedId": suite["id"], "errors": []}
    kept = gql(client, VALIDATION, {"id": lenient["id"]}, token)["data"]["validation"]
    assert kept["suite"] is None and [c["column"] for c in kept["checks"]] == ["status", "amount"]
    assert gql(client, SUITES, {}, token)["data"]["checkSuites"]["totalCount"] == 0


def test_another_user_sees_nothing_and_cannot_use_the_ids(client, token):
    march = ready_dataset(client, token, orders_csv(), "march.csv")
    suite = create_suite(client, token, march, [{"column": "amount", "min": 0}])["suite"]
    validation = validate(client, token, march, suite["id"])
    other = register(client)["accessToken"]
    assert gql(client, SUITES, {}, other)["data"]["checkSuites"]["totalCount"] == 0
    assert gql(client, VALIDATIONS, {}, other)["data"]["validations"]["totalCount"] == 0
    assert gql(client, SUITE, {"id": suite["id"]}, other)["data"] == {"checkSuite": None}
    assert gql(client, VALIDATION, {"id": validation["id"]}, other)["data"] == {"validation": None}
    suggested = gql(client, SUGGEST, {"id": march}, other)
    assert suggested["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": ["datasetId"]}
    mine = ready_dataset(client, other, orders_csv(), "mine.csv", profiled=False)
    refused = gql(
        client,
        """mutation($d: ID!, $s: ID!) { validateDataset(input: {datasetId: $d, suiteId: $s}) {
        validation { id } errors { code field } } }""",
        {"d": mine, "s": suite["id"]},
        other,
    )["data"]["validateDataset"]
    assert refused == {"validation": None, "errors": [{"code": "NOT_FOUND", "field": ["suiteId"]}]}
    for changed in (
        UPDATE,
        "mutation($input: DeleteInput!) { deleteCheckSuite(input: $input) { errors { code field } } }",
    ):
        field = "updateCheckSuite" if changed == UPDATE else "deleteCheckSuite"
        answer = gql(
            client, changed, {"input": {"id": suite["id"], **({"name": "mine"} if changed == UPDATE else {})}}, other
        )["data"][field]
        assert answer["errors"] == [
            {"code": "NOT_FOUND", "message": "Check suite not found", "field": ["id"]}
        ] or answer["errors"] == [{"code": "NOT_FOUND", "field": ["id"]}]
    mine = gql(client, SUITE, {"id": suite["id"]}, token)["data"]["checkSuite"]
    assert mine["name"] == "orders"  # their update changed nothing
    assert gql(client, VALIDATIONS, {}, other)["data"]["validations"]["totalCount"] == 0


def test_deleting_the_reference_keeps_the_suite_but_its_drift_checks_cannot_run(client, token):
    march = ready_dataset(client, token, orders_csv(), "march.csv", profiled=False)
    april = ready_dataset(client, token, orders_csv(seed=8), "april.csv", profiled=False)
    suite = create_suite(client, token, march, [{"column": "amount", "drift": {}}, {"column": "amount", "min": 0}])[
        "suite"
    ]
    assert validate(client, token, april, suite["id"])["status"] == "PASSED"
    mar_validation = validate(client, token, march, suite["id"])
    assert delete_dataset(client, token, march)["errors"] == []
    shown = gql(client, SUITE, {"id": suite["id"]}, token)["data"]["checkSuite"]
    assert shown == {"name": "orders", "dataset": None, "checks": [{"column": "amount"}, {"column": "amount"}]}
    assert gql(client, VALIDATION, {"id": mar_validation["id"]}, token)["data"]["validation"] is None  # went with it
    refused = gql(
        client,
        """mutation($d: ID!, $s: ID!) { validateDataset(input: {datasetId: $d, suiteId: $s}) {
        validation { id } errors { code message field } } }""",
        {"d": april, "s": suite["id"]},
        token,
    )["data"]
    assert refused["validateDataset"]["validation"] is None
    assert [(e["code"], e["field"]) for e in refused["validateDataset"]["errors"]] == [("INVALID_INPUT", ["suiteId"])]
    assert "reference dataset was deleted" in refused["validateDataset"]["errors"][0]["message"]
    edited = gql(client, UPDATE, {"input": {"id": suite["id"], "checks": [{"column": "amount", "min": 0}]}}, token)[
        "data"
    ]["updateCheckSuite"]
    assert edited["errors"] == []
    assert validate(client, token, april, suite["id"])["status"] == "PASSED"
