"""A job memory budget far below the data: training samples (and says so), batch scoring still scores every row.

The budget here is 64 MB and the dataset's training frame would need several times that by the same estimate
the jobs use, so CI proves the out-of-core paths without gigabytes of data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from schema.common import from_global_id
from services import files
from services.modeling.sampling import bytes_per_row, rows_within
from tests.support.graphql import gql, ingest, wait_for_job
from tests.support.settings import make_settings

pytestmark = [
    pytest.mark.slow,  # large generated tables under a 64 MB budget (CI runs them)
    pytest.mark.one_database(reason="training within a memory budget"),
]

BUDGET_MB = 64
ROWS = 150_000

TRAIN = """mutation($input: TrainModelInput!) { trainModel(input: $input) { model { id } job { id } errors { code
message } } }"""
MODEL = """query($id: ID!) { model(id: $id) { status trainingRows sampled classes algorithm
  job { logs(last: 200) { message } } } }"""
PREDICT_DATASET = """mutation($m: ID!, $d: ID!) { predictDataset(input: {modelId: $m, datasetId: $d}) {
  dataset { id } job { id } errors { code message } } }"""
VERSION = """query($id: ID!) { dataset(id: $id) { status rowCount columns { name nullCount }
  job: jobs(first: 1) { edges { node { logs(last: 50) { message } } } }
  tail: rows(offset: 149990, limit: 10) { columns rows } } }"""


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, job_memory_mb=BUDGET_MB)


def orders(rows: int = ROWS) -> pd.DataFrame:
    """Six measurements, a region, and a label with a class too rare to thin."""
    rng = np.random.default_rng(11)
    values = rng.normal(0, 1, (rows, 6))
    region = rng.choice(["north", "south", "east", "west", "centre"], rows)
    label = np.where(values[:, 0] + 0.5 * values[:, 1] > 0, "keep", "drop").astype(object)
    label[rng.choice(rows, 30, replace=False)] = "audit"
    frame = pd.DataFrame(values.round(4), columns=[f"m{i}" for i in range(6)])
    frame["region"], frame["label"] = region, label
    return frame


def messages(entries) -> str:
    return "\n".join(entry["message"] for entry in entries)


def test_training_samples_to_the_budget_and_scoring_covers_every_row(client, token, settings):
    frame = orders()
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "orders.csv")
    payload = gql(
        client,
        TRAIN,
        {"input": {"datasetId": dataset["id"], "target": "label", "cvFolds": 3, "algorithms": ["LOGISTIC_REGRESSION"]}},
        token,
    )["data"]["trainModel"]
    assert payload["errors"] == [], payload
    assert wait_for_job(client, token, payload["job"]["id"], timeout=300)["status"] == "SUCCEEDED"
    model = gql(client, MODEL, {"id": payload["model"]["id"]}, token)["data"]["model"]

    # what the job can hold, by the estimate it uses, is far fewer rows than the training split
    path = files.parquet_path(settings.resolved_data_dir, from_global_id(dataset["id"])[1])
    described = [{"name": c["name"], "semantic_type": c["semanticType"]} for c in dataset["columns"]]
    per_row = bytes_per_row(path, list(frame.columns), described)
    assert ROWS * per_row > BUDGET_MB * 2**20  # the training frame alone would be bigger than the budget
    affordable = rows_within(BUDGET_MB, per_row)
    assert model["status"] == "READY" and model["sampled"] is True
    assert 0.5 * affordable < model["trainingRows"] <= affordable < 0.8 * ROWS
    assert "audit" in model["classes"]  # the rare class was kept whole, not thinned away
    log = messages(model["job"]["logs"])
    assert f"beyond the {BUDGET_MB} MB budget" in log and "stratified sample" in log

    scored = gql(client, PREDICT_DATASET, {"m": payload["model"]["id"], "d": dataset["id"]}, token)["data"][
        "predictDataset"
    ]
    assert scored["errors"] == []
    assert wait_for_job(client, token, scored["job"]["id"], timeout=300)["status"] == "SUCCEEDED"
    version = gql(client, VERSION, {"id": scored["dataset"]["id"]}, token)["data"]["dataset"]
    assert version["status"] == "READY" and version["rowCount"] == ROWS
    nulls = {c["name"]: c["nullCount"] for c in version["columns"]}
    assert nulls["prediction"] == 0 and nulls["probability_audit"] == 0
    batch_log = messages(version["job"]["edges"][0]["node"]["logs"])
    per_batch = int(batch_log.split(" rows per batch")[0].rsplit(", ", 1)[1].replace(",", ""))
    assert per_batch < ROWS / 2, batch_log  # scored in several batches, not read whole
    tail = [dict(zip(version["tail"]["columns"], row, strict=True)) for row in version["tail"]["rows"]]
    assert [row["m0"] for row in tail] == pytest.approx(frame.m0.iloc[-10:].tolist())
    assert all(row["prediction"] in ("keep", "drop", "audit") for row in tail)


@pytest.mark.parametrize(
    ("values", "semantic"),
    [
        ([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3], "NUMERIC"),
        ([1.0, 2.0, None, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0], "NUMERIC"),
        ([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5], "NUMERIC"),
        (list(range(40)), "NUMERIC"),
        (["a", "b", "a", "b", "a", "b", "a", "b", "a", "b", "c"], "CATEGORICAL"),
        ([True, False] * 6, "BOOLEAN"),
    ],
)
def test_the_target_check_decides_the_task_as_pandas_does_without_loading_it(tmp_path, values, semantic):
    """check_target summarises the target in DuckDB; its task and class sizes agree with the pandas rule."""
    import pyarrow as pa

    from services.ingest.parquet import write_parquet
    from services.modeling.checks import facts_task, target_facts
    from services.modeling.tasks import detect_task

    path = tmp_path / "t.parquet"
    write_parquet(pa.table({"y": values}), path)
    facts = target_facts(path, "y", memory_mb=64, scratch_dir=tmp_path / "scratch")
    series = pd.Series(values)
    assert facts_task(facts, semantic) == detect_task(series, semantic)
    counts = series.dropna().astype(str).value_counts()
    assert facts["present"] == series.notna().sum()
    assert (facts["levels"]["levels"], facts["levels"]["fewest"], facts["levels"]["most"]) == (
        len(counts),
        counts.min(),
        counts.max(),
    )
    assert not (tmp_path / "scratch").exists()
