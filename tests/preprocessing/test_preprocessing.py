"""preprocessDataset: every step checked against pandas/scikit-learn, lineage, recipes, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.impute import KNNImputer
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from schema.common import raw_id
from services.preprocessing.steps import apply_recipe
from tests.support.graphql import DATASET, gql, ingest, register, wait_for_job
from tests.support.settings import run_sql
from tests.support.shared import shared_fixture

pytestmark = pytest.mark.one_database(reason="preprocessing steps and their numbers")

RUN = """mutation($input: PreprocessDatasetInput!) { preprocessDataset(input: $input) {
  dataset { id name status } job { id } errors { code message field } } }"""
VERSION = """query($id: ID!) { dataset(id: $id) { id name status error rowCount recipe
  parent { id } children { id } columns { name semanticType } } }"""


def source_frame(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-03-01", periods=rows, freq="D"),
            "city": rng.choice(["oslo", "rome", "lima"], rows),
            "size": rng.choice(["S", "M", "L", "XL"], rows),
            "price": rng.normal(100, 20, rows).round(3),
            "qty": rng.integers(1, 50, rows).astype(float),
            "score": rng.normal(0, 1, rows).round(4),
        }
    )
    frame.loc[[3, 10, 11, 40], "price"] = np.nan
    frame.loc[[5, 6, 30], "qty"] = np.nan
    frame.loc[[7, 21], "city"] = None
    frame.loc[2, "score"] = 40.0  # an outlier
    return frame


@pytest.fixture
def source(client, token):
    frame = source_frame()
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")
    return frame, dataset


# The shop table for the refusal cases, which must change nothing: one ingest for all of them.
source_to_refuse = shared_fixture(
    "source_to_refuse",
    lambda client, token: ingest(client, token, source_frame().to_csv(index=False).encode(), "shop.csv"),
)


def derive(client, token, dataset_id, steps, name=None):
    payload = gql(
        client, RUN, {"input": {"datasetId": dataset_id, "steps": steps, **({"name": name} if name else {})}}, token
    )["data"]["preprocessDataset"]
    assert payload["errors"] == [], payload
    job = wait_for_job(client, token, payload["job"]["id"])
    return payload, job


def result_frame(settings, dataset_id) -> pd.DataFrame:
    return pq.read_table(
        settings.resolved_data_dir / "datasets" / raw_id(dataset_id, "Dataset") / "data.parquet"
    ).to_pandas()


@pytest.fixture
def derived(client, token, settings):
    """derive(), whose job must succeed, then the new version's table: (payload, job, table)."""

    def derive_and_read(dataset_id, steps, name=None) -> tuple[dict, dict, pd.DataFrame]:
        payload, job = derive(client, token, dataset_id, steps, name)
        assert job["status"] == "SUCCEEDED", job
        return payload, job, result_frame(settings, payload["dataset"]["id"])

    return derive_and_read


def test_simple_imputations_match_pandas(client, token, derived, source):
    frame, dataset = source
    payload, job, result = derived(
        dataset["id"],
        [
            {"impute": {"columns": ["price"], "strategy": "MEAN"}},
            {"impute": {"columns": ["qty"], "strategy": "MEDIAN"}},
            {"impute": {"columns": ["city"], "strategy": "MODE"}},
        ],
    )
    assert np.allclose(result.price, frame.price.fillna(frame.price.mean()))
    assert np.allclose(result.qty, frame.qty.fillna(frame.qty.median()))
    assert (result.city == frame.city.fillna(frame.city.mode()[0])).all()
    messages = [entry["message"] for entry in job["logs"]]
    assert any("impute MEAN: nulls price 4 -> 0" in m for m in messages)
    version = gql(client, VERSION, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert version["recipe"][0]["fitted"]["fill"]["price"] == pytest.approx(frame.price.mean())
    assert version["recipe"][1]["fitted"]["fill"]["qty"] == frame.qty.median()


def test_constant_ffill_bfill_interpolate_and_drop_rows(derived, source):
    frame, dataset = source
    cases = [
        ({"impute": {"columns": ["qty"], "strategy": "CONSTANT", "value": 0}}, lambda f: f.qty.fillna(0)),
        ({"impute": {"columns": ["price"], "strategy": "FFILL"}}, lambda f: f.price.ffill()),
        ({"impute": {"columns": ["price"], "strategy": "BFILL", "orderBy": "when"}}, lambda f: f.price.bfill()),
        (
            {"impute": {"columns": ["price"], "strategy": "INTERPOLATE"}},
            lambda f: f.price.interpolate(limit_direction="both"),
        ),
    ]
    for step, expected in cases:
        _, _, result = derived(dataset["id"], [step])
        column = step["impute"]["columns"][0]
        assert np.allclose(result[column], expected(frame)), step
    _, _, result = derived(dataset["id"], [{"impute": {"columns": ["price", "qty"], "strategy": "DROP_ROWS"}}])
    assert len(result) == len(frame.dropna(subset=["price", "qty"]))


def test_knn_and_iterative_imputation(client, token, derived, source):
    frame, dataset = source
    _, _, result = derived(dataset["id"], [{"impute": {"columns": ["price", "qty"], "strategy": "KNN"}}])
    complete = frame[["price", "qty"]].dropna()
    expected = KNNImputer(n_neighbors=5).fit(complete).transform(frame[["price", "qty"]])
    assert np.allclose(result[["price", "qty"]].to_numpy(), expected)
    payload, job, result = derived(dataset["id"], [{"impute": {"columns": ["price", "qty"], "strategy": "ITERATIVE"}}])
    assert result[["price", "qty"]].notna().all().all() and job["status"] == "SUCCEEDED"
    recipe = gql(client, VERSION, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]["recipe"]
    assert recipe[0]["fitted"]["estimator"] == "IterativeImputer" and "_state" not in recipe[0]["fitted"]


def test_encoders_scalers_and_the_rest(client, token, derived, source):
    frame, dataset = source
    payload, _, result = derived(
        dataset["id"],
        [
            {"encode": {"columns": ["size"], "strategy": "ORDINAL"}},
            {"encode": {"columns": ["city"], "strategy": "ONE_HOT"}},
            {"scale": {"columns": ["price"], "strategy": "STANDARD"}},
            {"scale": {"columns": ["qty"], "strategy": "MINMAX"}},
            {"scale": {"columns": ["score"], "strategy": "ROBUST"}},
            {"datetimeFeatures": {"columns": ["when"], "parts": ["year", "month", "weekday", "is_weekend", "quarter"]}},
            {"renameColumns": {"mapping": {"size": "size_code"}}},
            {"dropColumns": {"columns": ["when"]}},
        ],
        name="model-ready",
    )
    levels = sorted(frame["size"].unique())
    assert (result.size_code == frame["size"].map({level: i for i, level in enumerate(levels)})).all()
    assert list(result.filter(like="city_").columns) == ["city_lima", "city_oslo", "city_rome", "city_other"]
    assert (result.city_oslo == (frame.city == "oslo").astype(int)).all()
    assert np.allclose(result.price.dropna(), StandardScaler().fit_transform(frame[["price"]].dropna()).ravel())
    assert np.allclose(result.qty.dropna(), MinMaxScaler().fit_transform(frame[["qty"]].dropna()).ravel())
    assert np.allclose(result.score, RobustScaler().fit_transform(frame[["score"]]).ravel())
    assert (result.when_month == frame.when.dt.month).all() and (result.when_quarter == frame.when.dt.quarter).all()
    assert (result.when_is_weekend == (frame.when.dt.weekday >= 5)).all() and "when" not in result
    version = gql(client, VERSION, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert version["name"] == "model-ready"
    assert version["recipe"][0]["fitted"]["levels"]["size"] == levels
    assert version["recipe"][2]["fitted"]["center"]["price"] == pytest.approx(frame.price.mean())


def test_cast_duplicates_and_clipping(client, token, settings, derived):
    frame = pd.DataFrame(
        {
            "code": ["1", "2", "x", "4", "4"],
            "day": ["01/02/2024", "02/02/2024", "bad", "04/02/2024", "04/02/2024"],
            "v": [1.0, 2.0, 3.0, 100.0, 100.0],
        }
    )
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "c.csv")
    refused, job = derive(client, token, dataset["id"], [{"cast": {"column": "code", "to": "NUMERIC"}}])
    assert job["status"] == "FAILED" and "1 value(s) of code cannot be cast" in job["error"] and "'x'" in job["error"]
    version = gql(client, VERSION, {"id": refused["dataset"]["id"]}, token)["data"]["dataset"]
    assert (
        version["status"] == "FAILED"
        and not (settings.resolved_data_dir / "datasets" / raw_id(version["id"], "Dataset")).exists()
    )
    _, _, result = derived(
        dataset["id"],
        [
            {"cast": {"column": "code", "to": "NUMERIC", "onError": "NULL"}},
            {"cast": {"column": "day", "to": "DATETIME", "format": "%d/%m/%Y", "onError": "NULL"}},
            {"dropDuplicates": {}},
            {"clipOutliers": {"columns": ["v"], "factor": 1.5}},
        ],
    )
    assert result.code.tolist()[:2] == [1.0, 2.0] and pd.isna(result.code[2]) and len(result) == 4
    assert result.day[0] == pd.Timestamp("2024-02-01") and pd.isna(result.day[2])
    q1, q3 = frame.drop_duplicates().v.quantile([0.25, 0.75])
    assert result.v.max() == pytest.approx(q3 + 1.5 * (q3 - q1))


def test_lineage_and_an_unchanged_source(client, token, settings, source):
    frame, dataset = source
    before = (settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset") / "data.parquet").read_bytes()
    payload, _ = derive(client, token, dataset["id"], [{"impute": {"strategy": "MEDIAN"}}])
    again, _ = derive(client, token, payload["dataset"]["id"], [{"scale": {"strategy": "STANDARD"}}])
    first = gql(client, VERSION, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert first["parent"] == {"id": dataset["id"]} and first["children"] == [{"id": again["dataset"]["id"]}]
    assert [c["id"] for c in gql(client, VERSION, {"id": dataset["id"]}, token)["data"]["dataset"]["children"]] == [
        first["id"]
    ]
    assert (
        settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset") / "data.parquet"
    ).read_bytes() == before
    assert gql(client, DATASET, {"id": dataset["id"]}, token)["data"]["dataset"]["rowCount"] == len(frame)
    assert {s["params"]["columns"][0] for s in first["recipe"]} <= {
        "price",
        "qty",
        "score",
    }  # absent columns: all numeric


def test_a_recipe_reapplied_to_new_rows_gives_the_same_numbers(client, token, source):
    frame, dataset = source
    steps = [
        {"impute": {"columns": ["price"], "strategy": "MEAN"}},
        {"encode": {"columns": ["city"], "strategy": "ONE_HOT"}},
        {"scale": {"columns": ["qty"], "strategy": "STANDARD"}},
        {"encode": {"columns": ["size"], "strategy": "LABEL"}},
    ]
    payload, _ = derive(client, token, dataset["id"], steps)
    import json

    # the full stored recipe, as model training will read it
    stored = run_sql(
        client.app.state.assay.settings,
        "select recipe from dataset where id = :id",
        id=raw_id(payload["dataset"]["id"], "Dataset"),
    )[0][0]
    recipe = json.loads(stored) if isinstance(stored, str) else stored  # asyncpg decodes json columns itself
    new_rows = pd.DataFrame(
        {
            "when": pd.to_datetime(["2025-01-01", "2025-01-02"]),
            "city": ["rome", "paris"],
            "size": ["M", "XXL"],
            "price": [np.nan, 10.0],
            "qty": [5.0, np.nan],
            "score": [0.1, 0.2],
        }
    )
    applied = apply_recipe(new_rows, recipe)
    assert applied.price[0] == pytest.approx(frame.price.mean())  # the training mean, not the new rows' mean
    assert applied.qty[0] == pytest.approx((5.0 - frame.qty.mean()) / frame.qty.std(ddof=0))
    assert applied.city_rome.tolist() == [1, 0] and applied.city_other.tolist() == [0, 1]  # an unknown level
    assert applied["size"][0] == sorted(frame["size"].unique()).index("M") and pd.isna(applied["size"][1])


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([], ["steps"]),
        ([{"impute": {"columns": ["nope"], "strategy": "MEAN"}}], ["steps", "0", "impute", "columns"]),
        (
            [{"scale": {"strategy": "STANDARD"}}, {"impute": {"columns": ["city"], "strategy": "MEAN"}}],
            ["steps", "1", "impute", "columns"],
        ),
        (
            [{"impute": {"columns": ["qty"], "strategy": "CONSTANT", "value": "zero"}}],
            ["steps", "0", "impute", "value"],
        ),
        ([{"impute": {"columns": ["qty"], "strategy": "CONSTANT"}}], ["steps", "0", "impute", "value"]),
        ([{"encode": {"columns": ["when"], "strategy": "LABEL"}}], ["steps", "0", "encode", "columns"]),
        (
            [{"dropColumns": {"columns": ["price"]}}, {"scale": {"columns": ["price"], "strategy": "MINMAX"}}],
            ["steps", "1", "scale", "columns"],
        ),
        ([{"renameColumns": {"mapping": {"price": "qty"}}}], ["steps", "0", "renameColumns", "mapping"]),
        ([{"renameColumns": {"mapping": ["price"]}}], ["steps", "0", "renameColumns", "mapping"]),
        (
            [{"datetimeFeatures": {"columns": ["when"], "parts": ["century"]}}],
            ["steps", "0", "datetimeFeatures", "parts"],
        ),
        ([{"cast": {"column": "price", "to": "NUMERIC", "format": "%Y"}}], ["steps", "0", "cast", "format"]),
        ([{"clipOutliers": {"columns": ["price"], "factor": -1}}], ["steps", "0", "clipOutliers", "factor"]),
        (
            [{"impute": {"columns": ["price"], "strategy": "MEAN", "orderBy": "when"}}],
            ["steps", "0", "impute", "orderBy"],
        ),
    ],
)
def test_bad_steps_are_refused_up_front(source_to_refuse, steps, field):
    client, token, dataset = source_to_refuse
    payload = gql(client, RUN, {"input": {"datasetId": dataset["id"], "steps": steps}}, token)["data"][
        "preprocessDataset"
    ]
    assert payload["dataset"] is None and payload["job"] is None
    assert payload["errors"][0]["code"] == "INVALID_INPUT" and payload["errors"][0]["field"] == field
    assert gql(client, "{ datasets { totalCount } jobs(kind: [PREPROCESS]) { totalCount } }", token=token)["data"] == {
        "datasets": {"totalCount": 1},
        "jobs": {"totalCount": 0},
    }


def test_two_operations_in_one_step_is_a_graphql_error(client, token, source):
    _, dataset = source
    result = gql(
        client,
        RUN,
        {
            "input": {
                "datasetId": dataset["id"],
                "steps": [{"dropColumns": {"columns": ["price"]}, "dropDuplicates": {}}],
            }
        },
        token,
    )
    assert result.get("errors") and result.get("data") is None


def test_another_user_cannot_derive_from_your_dataset(client, token, source):
    _, dataset = source
    other = register(client)["accessToken"]
    payload = gql(client, RUN, {"input": {"datasetId": dataset["id"], "steps": [{"dropDuplicates": {}}]}}, other)
    assert payload["data"]["preprocessDataset"]["errors"][0]["code"] == "NOT_FOUND"
    assert gql(client, "{ datasets { totalCount } }", token=other)["data"]["datasets"]["totalCount"] == 0
