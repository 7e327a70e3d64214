"""Pipelines whose output is beyond the job's memory budget: checks and sinks read it batch by batch from a
Parquet file (collected rows are spilled to scratch first), and the run stores what a generous budget stores.

The HTTP source is served locally; the data is made here."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from tests.pipelines.operations import create, run
from tests.support.graphql import gql, ingest, register
from tests.support.http_fixtures import serve, text_reply
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow  # generated tables under a small budget (CI runs them)

SMALL_MB = 8
ROWS = 30_000
CHECKS_RUN = """query($id: ID!) { pipeline(id: $id) { lastRun { status rowsIn rowsOut error
  dataset { id } checks { column rule passed failingRows examples onFail } }
  outputSchema { name semanticType dtype } data(limit: 3) { rows totalRows } } }"""
CHECKS = [
    {"column": "id", "unique": True, "onFail": "DROP_ROWS"},
    {"column": "amount", "min": 0, "onFail": "DROP_ROWS"},
    {"column": "email", "notNull": True, "onFail": "WARN"},
    {"column": "status", "allowedValues": ["paid", "refunded"], "onFail": "WARN"},
    {"column": "amount", "maxNullRatio": 0.5},
    {"minRows": 100},
]


def records() -> list[dict]:
    rng = np.random.default_rng(4)
    ids = rng.integers(0, ROWS * 0.9, ROWS)  # about a tenth repeat an earlier id
    amounts = np.where(rng.random(ROWS) < 0.05, -1.0, rng.normal(50, 10, ROWS).round(2))
    return [
        {
            "id": int(i),
            "email": None if n % 17 == 0 else f"user{n}@x.org",
            "amount": float(a),
            "status": ["paid", "refunded", "lost"][n % 3 if n % 50 == 0 else n % 2],
        }
        for n, (i, a) in enumerate(zip(ids, amounts, strict=False))
    ]


@pytest.fixture(scope="module")
def big_source() -> Iterator[str]:
    body = json.dumps(records()).encode()

    yield from serve({"/export.json": lambda request: text_reply(body, "application/json")})


def app(tmp_path, name: str, memory_mb: int) -> TestClient:
    settings = make_settings(tmp_path / name, allowed_source_hosts="127.0.0.1", job_memory_mb=memory_mb)
    client = TestClient(create_app(settings))
    client.settings = settings
    return client


def stored(client, dataset_id: str) -> pd.DataFrame:
    path = client.settings.resolved_data_dir / "datasets" / raw_id(dataset_id, "Dataset") / "data.parquet"
    return pq.read_table(path).to_pandas()


def run_export(client, url: str, sink: dict) -> tuple[dict, dict]:
    token = register(client)["accessToken"]
    created = create(client, token, name="export", source={"http": {"url": url}}, sink=sink, checks=CHECKS)
    assert created["errors"] == [], created
    result = run(client, token, created["pipeline"]["id"])
    shown = gql(client, CHECKS_RUN, {"id": created["pipeline"]["id"]}, token)["data"]["pipeline"]
    return result, shown


def test_collected_rows_beyond_the_budget_are_checked_and_stored_as_with_a_generous_one(tmp_path, big_source):
    with app(tmp_path, "small", SMALL_MB) as small:  # one app at a time: on PostgreSQL they share the database
        streamed, streamed_shown = run_export(small, f"{big_source}/export.json", {"dataset": {"name": "export"}})
        out_small = stored(small, streamed_shown["lastRun"]["dataset"]["id"])
        scratch_left = list(small.settings.scratch_dir.glob("*/*"))
    with app(tmp_path, "large", 2048) as large:
        whole, whole_shown = run_export(large, f"{big_source}/export.json", {"dataset": {"name": "export"}})
        out_large = stored(large, whole_shown["lastRun"]["dataset"]["id"])
    log = "\n".join(entry["message"] for entry in streamed["job"]["logs"])
    assert streamed["job"]["status"] == "SUCCEEDED", log
    assert f"its {SMALL_MB:,} MB memory budget: the source spilled to disk" in log and "scratch file" in log
    assert whole["job"]["status"] == "SUCCEEDED"
    assert "would not fit" not in "\n".join(entry["message"] for entry in whole["job"]["logs"])
    assert streamed_shown["lastRun"]["checks"] == whole_shown["lastRun"]["checks"]
    assert streamed_shown["outputSchema"] == whole_shown["outputSchema"]
    expected = pd.DataFrame(records())
    kept = ~expected.id.duplicated() & (expected.amount >= 0)
    assert streamed_shown["lastRun"]["rowsOut"] == int(kept.sum()) == whole_shown["lastRun"]["rowsOut"]
    by_rule = {(c["column"], c["rule"]): c for c in streamed_shown["lastRun"]["checks"]}
    assert by_rule[("id", "UNIQUE")]["failingRows"] == int(expected.id.duplicated().sum())
    assert by_rule[("email", "NOT_NULL")]["failingRows"] == int(expected.email.isna().sum())
    assert by_rule[("status", "ALLOWED_VALUES")]["examples"] == ["lost"]
    pd.testing.assert_frame_equal(out_small, out_large)
    assert out_small.id.tolist() == expected.id[kept].tolist()
    assert scratch_left == []  # the scratch copies went with the job


def test_a_dataset_beyond_the_budget_goes_to_sqlite_batch_by_batch(tmp_path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "key": np.arange(40_000) % 39_000,
            "value": rng.normal(0, 1, 40_000).round(4),
            "label": rng.choice(["a", "b", "c"], 40_000),
        }
    )
    with app(tmp_path, "small", SMALL_MB) as client:
        token = register(client)["accessToken"]
        source = ingest(client, token, frame.to_csv(index=False).encode(), "big.csv")
        created = create(
            client,
            token,
            name="to sqlite",
            source={"dataset": {"datasetId": source["id"]}},
            checks=[
                {"column": "key", "unique": True, "onFail": "DROP_ROWS"},
                {"column": "value", "max": 2.5, "onFail": "DROP_ROWS"},
            ],
            sink={"sqlite": {"table": "big", "mode": "replace"}},
        )
        assert created["errors"] == [], created
        result = run(client, token, created["pipeline"]["id"])
        log = "\n".join(entry["message"] for entry in result["job"]["logs"])
        assert result["job"]["status"] == "SUCCEEDED", log
        assert f"beyond the {SMALL_MB:,} MB budget: they are read batch by batch" in log
        kept = frame[~frame.key.duplicated() & (frame.value <= 2.5)]
        assert result["lastRun"]["rowsIn"] == 40_000 and result["lastRun"]["rowsOut"] == len(kept)
        assert result["data"]["totalRows"] == len(kept)
        import sqlite3

        owner = next((client.settings.resolved_data_dir / "users").iterdir())
        with sqlite3.connect(owner / "pipelines.sqlite") as connection:
            rows = connection.execute("SELECT key, value, label FROM big ORDER BY rowid").fetchall()
        assert rows == list(kept.itertuples(index=False, name=None))
