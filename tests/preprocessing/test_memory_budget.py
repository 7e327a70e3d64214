"""preprocessDataset and a dataset-sourced pipeline with a job budget far below the table: the steps stream,
the output is what the whole-table implementation gives, fills in row order included (DuckDB over a scratch copy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from schema.common import raw_id
from services.preprocessing.steps import fit_recipe
from tests.pipelines.operations import create, run
from tests.support.graphql import gql, ingest, wait_for_job
from tests.support.settings import make_settings

pytestmark = [
    pytest.mark.slow,  # large generated tables under a small budget (CI runs them)
    pytest.mark.one_database(reason="preprocessing within a memory budget"),
]

BUDGET_MB = 8
ROWS = 40_000
RUN = """mutation($input: PreprocessDatasetInput!) { preprocessDataset(input: $input) {
  dataset { id } job { id } errors { code message field } } }"""
VERSION = "query($id: ID!) { dataset(id: $id) { status error rowCount } }"


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, job_memory_mb=BUDGET_MB)


@pytest.fixture
def shop(client, token):
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["oslo", "rome", "lima", "kyiv"], ROWS),
            "price": np.where(rng.random(ROWS) < 0.1, np.nan, rng.normal(100, 20, ROWS).round(2)),
            "score": rng.normal(0, 1, ROWS).round(3),
            "qty": rng.integers(1, 5, ROWS),
        }
    )
    frame = pd.concat([frame, frame.iloc[:500]], ignore_index=True)
    return ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")


def stored(settings, dataset_id) -> pd.DataFrame:
    return pq.read_table(
        settings.resolved_data_dir / "datasets" / raw_id(dataset_id, "Dataset") / "data.parquet"
    ).to_pandas()


def messages(job) -> str:
    return "\n".join(entry["message"] for entry in job["logs"])


def test_four_cleaning_steps_stream_to_the_whole_table_result(client, token, settings, shop):
    steps = [
        {"impute": {"columns": ["price"], "strategy": "MEDIAN"}},
        {"encode": {"columns": ["city"], "strategy": "ONE_HOT"}},
        {"scale": {"columns": ["price"], "strategy": "STANDARD"}},
        {"clipOutliers": {"columns": ["score"]}},
    ]
    payload = gql(client, RUN, {"input": {"datasetId": shop["id"], "steps": steps}}, token)["data"]["preprocessDataset"]
    assert payload["errors"] == []
    job = wait_for_job(client, token, payload["job"]["id"], timeout=120)
    assert job["status"] == "SUCCEEDED", job
    assert f"would not fit the {BUDGET_MB} MB budget" in messages(job)
    got = stored(settings, payload["dataset"]["id"])
    expected, _ = fit_recipe(
        stored(settings, shop["id"]),
        [
            ("impute", {"columns": ["price"], "strategy": "MEDIAN"}),
            ("encode", {"columns": ["city"], "strategy": "ONE_HOT"}),
            ("scale", {"columns": ["price"], "strategy": "STANDARD"}),
            ("clipOutliers", {"columns": ["score"], "factor": 1.5}),
        ],
    )
    assert list(got.columns) == list(expected.columns) and len(got) == ROWS + 500
    for name in expected.columns:
        np.testing.assert_allclose(
            got[name].astype(float), expected[name].astype(float), rtol=1e-9, atol=1e-9, err_msg=name
        )


def test_a_dataset_pipeline_streams_its_steps(client, token, settings, shop):
    created = create(
        client,
        token,
        name="dedupe",
        source={"dataset": {"datasetId": shop["id"]}},
        steps=[{"dropDuplicates": {}}, {"impute": {"columns": ["price"], "strategy": "MEAN"}}],
        sink={"dataset": {"name": "clean"}},
    )
    assert created["errors"] == [], created
    result = run(client, token, created["pipeline"]["id"])
    assert result["lastRun"]["status"] == "SUCCEEDED", result
    source = stored(settings, shop["id"])
    assert result["lastRun"]["rowsIn"] == ROWS + 500 and result["lastRun"]["rowsOut"] == len(source.drop_duplicates())
    out = stored(settings, result["lastRun"]["dataset"]["id"])
    deduplicated = source.drop_duplicates()
    assert out.price.isna().sum() == 0
    assert out.price.mean() == pytest.approx(deduplicated.price.mean())


def test_fills_in_row_order_beyond_the_budget_equal_the_whole_table_result(client, token, settings):
    rng = np.random.default_rng(11)
    when = pd.Series(pd.date_range("2024-01-01", periods=ROWS, freq="min")).sample(frac=1, random_state=3)
    frame = pd.DataFrame(
        {
            "when": when.where(rng.random(ROWS) > 0.01).dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
            "price": np.where(rng.random(ROWS) < 0.2, np.nan, rng.normal(100, 20, ROWS).round(2)),
            "score": np.where(rng.random(ROWS) < 0.2, np.nan, rng.normal(0, 1, ROWS).round(3)),
            "level": np.where(rng.random(ROWS) < 0.2, np.nan, np.arange(ROWS, dtype=float)),
            "city": np.where(rng.random(ROWS) < 0.2, None, rng.choice(["oslo", "rome", "lima"], ROWS)),
        }
    )
    frame.loc[:3, "level"] = np.nan  # leading and trailing gaps: interpolation fills both ends
    frame.loc[ROWS - 3 :, "level"] = np.nan
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "series.csv")
    steps = [
        ("impute", {"columns": ["price"], "strategy": "FFILL", "order_by": "when"}),
        ("impute", {"columns": ["city"], "strategy": "BFILL"}),
        ("scale", {"columns": ["score"], "strategy": "STANDARD"}),
        ("impute", {"columns": ["level", "score"], "strategy": "INTERPOLATE"}),
        ("clipOutliers", {"columns": ["price"], "factor": 1.5}),
    ]
    given = [
        {"impute": {"columns": ["price"], "strategy": "FFILL", "orderBy": "when"}},
        {"impute": {"columns": ["city"], "strategy": "BFILL"}},
        {"scale": {"columns": ["score"], "strategy": "STANDARD"}},
        {"impute": {"columns": ["level", "score"], "strategy": "INTERPOLATE"}},
        {"clipOutliers": {"columns": ["price"]}},
    ]
    payload = gql(client, RUN, {"input": {"datasetId": dataset["id"], "steps": given}}, token)["data"][
        "preprocessDataset"
    ]
    assert payload["errors"] == [], payload
    job = wait_for_job(client, token, payload["job"]["id"], timeout=180)
    assert job["status"] == "SUCCEEDED", job
    assert f"would not fit the {BUDGET_MB} MB budget" in messages(job) and "filled in row order by DuckDB" in messages(
        job
    )
    got = stored(settings, payload["dataset"]["id"])
    expected, _ = fit_recipe(stored(settings, dataset["id"]), steps)
    assert list(got.columns) == list(expected.columns) and len(got) == ROWS
    assert got["city"].tolist() == expected["city"].tolist()
    for name in ("price", "score", "level"):
        assert got[name].isna().sum() == expected[name].isna().sum(), name
        np.testing.assert_allclose(
            got[name].astype(float), expected[name].astype(float), rtol=1e-9, atol=1e-9, err_msg=name
        )
    work = settings.resolved_data_dir / "scratch"
    assert not work.exists() or not any(work.iterdir())  # the scratch copies are gone
