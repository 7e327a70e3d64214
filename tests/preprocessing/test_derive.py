"""A derived column from the expression language, through preprocessDataset and a pipeline: values equal
what pandas computes, the new column gets a type later steps use, and anything outside the language is
refused up front with the position of the offending part."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.pipelines.operations import create, run
from tests.preprocessing.test_preprocessing import RUN, VERSION, derive, result_frame, source_frame
from tests.support.graphql import gql, ingest

pytestmark = pytest.mark.one_database(reason="derived columns")


def test_derived_columns_equal_pandas_and_feed_later_steps(client, token, settings, source):
    frame, dataset = source
    steps = [
        {"derive": {"name": "revenue", "expression": "price * qty"}},
        {
            "derive": {
                "name": "band",
                "expression": "CASE WHEN price >= 100 THEN 'high' "
                "WHEN price IS NULL THEN 'unknown' ELSE lower('LOW') END",
            }
        },
        {"derive": {"name": "month", "expression": "strftime(\"when\", '%Y-%m')"}},
        {"derive": {"name": "big_city", "expression": "city IN ('oslo', 'rome') AND qty > 10"}},
        {"scale": {"columns": ["revenue"], "strategy": "MINMAX"}},
    ]  # a later step uses the new NUMERIC column
    payload, job = derive(client, token, dataset["id"], steps)
    assert job["status"] == "SUCCEEDED", job
    result = result_frame(settings, payload["dataset"]["id"])
    revenue = frame["price"] * frame["qty"]
    expected = (revenue - revenue.min()) / (revenue.max() - revenue.min())
    np.testing.assert_allclose(result["revenue"].to_numpy(dtype=float), expected.to_numpy(), equal_nan=True)
    band = np.where(frame["price"] >= 100, "high", np.where(frame["price"].isna(), "unknown", "low"))
    assert result["band"].tolist() == band.tolist()
    assert result["month"].tolist() == frame["when"].dt.strftime("%Y-%m").tolist()
    assert [None if pd.isna(v) else bool(v) for v in result["big_city"]] == [
        sql_and(None if pd.isna(city) else city in ("oslo", "rome"), None if pd.isna(qty) else qty > 10)
        for city, qty in zip(frame["city"], frame["qty"], strict=True)
    ]
    columns = {
        c["name"]: c["semanticType"]
        for c in gql(client, VERSION, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]["columns"]
    }
    assert columns["revenue"] == "NUMERIC" and columns["big_city"] == "BOOLEAN"


@pytest.fixture
def source(client, token):
    frame = source_frame()
    return frame, ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")


def sql_and(left: bool | None, right: bool | None) -> bool | None:
    """SQL's three-valued AND: false wins over unknown (null)."""
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("price +", "does not parse"),
        ("nosuch * 2", "Unknown column 'nosuch' at position 1"),
        ("price + sum(qty)", "'sum' is not allowed at position 9"),
        ("(SELECT 1)", "subquery is not allowed"),
        ("read_parquet('/etc/passwd')", "'read_parquet' is not allowed"),
        ("price FROM x; DROP TABLE y; SELECT 1", "does not parse"),
        ("price -- the rest is a comment", "single value"),
        ("avg(price) OVER ()", "window is not allowed"),
        ("year(when)", 'write the column as "when"'),
    ],
)
def test_expressions_outside_the_language_are_refused_with_their_position(client, token, source, expression, message):
    _, dataset = source
    payload = gql(
        client,
        RUN,
        {"input": {"datasetId": dataset["id"], "steps": [{"derive": {"name": "x", "expression": expression}}]}},
        token,
    )["data"]["preprocessDataset"]
    assert payload["dataset"] is None and payload["job"] is None
    (error,) = payload["errors"]
    assert error["code"] == "INVALID_INPUT" and error["field"] == ["steps", "0", "derive", "expression"]
    assert message in error["message"], error


def test_a_pipeline_derives_a_column_on_every_run(client, token, source):
    frame, dataset = source
    created = create(
        client,
        token,
        name="derived",
        source={"dataset": {"datasetId": dataset["id"]}},
        steps=[{"derive": {"name": "label", "expression": "upper(coalesce(city, 'none')) || '-' || size"}}],
        sink={"dataset": {"name": "labelled"}},
    )
    assert created["errors"] == [], created
    result = run(client, token, created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result
    rows = result["data"]
    label = rows["columns"].index("label")
    expected = (frame["city"].fillna("none").str.upper() + "-" + frame["size"]).tolist()[:5]
    assert [row[label] for row in rows["rows"]] == expected
