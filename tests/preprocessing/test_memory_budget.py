"""preprocessDataset and a dataset-sourced pipeline with a job budget far below the table: the steps stream,
the output is what the whole-table implementation gives, and a step that needs the whole table is refused."""
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

pytestmark = pytest.mark.slow  # large generated tables under a small budget (CI runs them)

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
    frame = pd.DataFrame({"city": rng.choice(["oslo", "rome", "lima", "kyiv"], ROWS),
                          "price": np.where(rng.random(ROWS) < 0.1, np.nan, rng.normal(100, 20, ROWS).round(2)),
                          "score": rng.normal(0, 1, ROWS).round(3), "qty": rng.integers(1, 5, ROWS)})
    frame = pd.concat([frame, frame.iloc[:500]], ignore_index=True)
    return ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")


def stored(settings, dataset_id) -> pd.DataFrame:
    return pq.read_table(settings.resolved_data_dir / "datasets" / raw_id(dataset_id, "Dataset") / "data.parquet").to_pandas()


def messages(job) -> str:
    return "\n".join(entry["message"] for entry in job["logs"])


def test_four_cleaning_steps_stream_to_the_whole_table_result(client, token, settings, shop):
    steps = [{"impute": {"columns": ["price"], "strategy": "MEDIAN"}}, {"encode": {"columns": ["city"], "strategy": "ONE_HOT"}},
             {"scale": {"columns": ["price"], "strategy": "STANDARD"}}, {"clipOutliers": {"columns": ["score"]}}]
    payload = gql(client, RUN, {"input": {"datasetId": shop["id"], "steps": steps}}, token)["data"]["preprocessDataset"]
    assert payload["errors"] == []
    job = wait_for_job(client, token, payload["job"]["id"], timeout=120)
    assert job["status"] == "SUCCEEDED", job
    assert f"would not fit the {BUDGET_MB} MB budget" in messages(job)
    got = stored(settings, payload["dataset"]["id"])
    expected, _ = fit_recipe(stored(settings, shop["id"]), [
        ("impute", {"columns": ["price"], "strategy": "MEDIAN"}), ("encode", {"columns": ["city"], "strategy": "ONE_HOT"}),
        ("scale", {"columns": ["price"], "strategy": "STANDARD"}), ("clipOutliers", {"columns": ["score"], "factor": 1.5})])
    assert list(got.columns) == list(expected.columns) and len(got) == ROWS + 500
    for name in expected.columns:
        np.testing.assert_allclose(got[name].astype(float), expected[name].astype(float), rtol=1e-9, atol=1e-9, err_msg=name)


def test_a_dataset_pipeline_streams_its_steps(client, token, settings, shop):
    created = create(client, token, name="dedupe", source={"dataset": {"datasetId": shop["id"]}},
                     steps=[{"dropDuplicates": {}}, {"impute": {"columns": ["price"], "strategy": "MEAN"}}],
                     sink={"dataset": {"name": "clean"}})
    assert created["errors"] == [], created
    result = run(client, token, created["pipeline"]["id"])
    assert result["lastRun"]["status"] == "SUCCEEDED", result
    source = stored(settings, shop["id"])
    assert result["lastRun"]["rowsIn"] == ROWS + 500 and result["lastRun"]["rowsOut"] == len(source.drop_duplicates())
    out = stored(settings, result["lastRun"]["dataset"]["id"])
    deduplicated = source.drop_duplicates()
    assert out.price.isna().sum() == 0
    assert out.price.mean() == pytest.approx(deduplicated.price.mean())


def test_a_fill_on_a_table_beyond_the_budget_fails_naming_it(client, token, settings, shop):
    payload = gql(client, RUN, {"input": {"datasetId": shop["id"], "steps": [
        {"impute": {"columns": ["price"], "strategy": "FFILL"}}]}}, token)["data"]["preprocessDataset"]
    job = wait_for_job(client, token, payload["job"]["id"], timeout=120)
    assert job["status"] == "FAILED" and f"{BUDGET_MB} MB budget" in job["error"], job
    version = gql(client, VERSION, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert version["status"] == "FAILED" and "impute FFILL" in version["error"]
    assert not (settings.resolved_data_dir / "datasets" / raw_id(payload["dataset"]["id"], "Dataset")).exists()
