"""safeAutoActions (seed 003 row 13): conservative fixes with their reasons, on a new dataset version."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.analysis.test_analysis import ANALYZE, wait_for
from tests.support.graphql import gql, ingest, register
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="the analysis auto-actions")

ANALYSIS = """query($id: ID!) { job(id: $id) { status error
  analysis { autoActions { kind columns rows reason } notes failure { stage code }
             workingDataset { id name rowCount status parent { id } columns { name nullCount } } }
  model { features { name } dataset { id } }
  report { content { autoActions { kind columns rows reason } notes } } } }"""
DATASET = """query($id: ID!) { dataset(id: $id) { rowCount columns { name nullCount } children { id } } }"""
DATASETS = "{ datasets { totalCount } }"


def messy_frame(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "x1": rng.normal(0, 1, rows),
            "x2": rng.normal(0, 1, rows),
            "source": "web",
            "group": rng.choice(["a", "b"], rows),
        }
    )
    frame["label"] = np.where(frame.x1 + rng.normal(0, 0.3, rows) > 0, "pos", "neg")
    frame.loc[[5, 50, 150], "x2"] = np.nan  # 1% missing: imputed with the median
    frame.loc[[7], "label"] = None  # the target is never touched
    duplicates = frame.iloc[[10, 11, 12, 13]].copy()
    return pd.concat([frame, duplicates], ignore_index=True)  # four exact duplicate rows


def test_safe_auto_actions_fix_a_new_version_and_say_why(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        dataset = ingest(client, token, messy_frame().to_csv(index=False).encode(), "messy.csv")
        before = gql(client, DATASET, {"id": dataset["id"]}, token)["data"]["dataset"]
        started = gql(
            client, ANALYZE, {"input": {"datasetId": dataset["id"], "target": "label", "safeAutoActions": True}}, token
        )["data"]["analyzeDataset"]
        assert started["errors"] == []
        wait_for(client, token, started["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=300)
        job = gql(client, ANALYSIS, {"id": started["job"]["id"]}, token)["data"]["job"]
        assert job["status"] == "SUCCEEDED", job
        actions = {(a["kind"], tuple(a["columns"])): a for a in job["analysis"]["autoActions"]}
        assert set(actions) == {
            ("DROP_DUPLICATE_ROWS", ()),
            ("DROP_ID_COLUMN", ("customer_id",)),
            ("DROP_CONSTANT_COLUMN", ("source",)),
            ("IMPUTE_COLUMN", ("x2",)),
        }
        assert actions[("DROP_DUPLICATE_ROWS", ())]["rows"] == 4
        assert (
            actions[("IMPUTE_COLUMN", ("x2",))]["rows"] == 3
            and "median" in actions[("IMPUTE_COLUMN", ("x2",))]["reason"]
        )
        assert "identifier" in actions[("DROP_ID_COLUMN", ("customer_id",))]["reason"]
        working = job["analysis"]["workingDataset"]
        assert (
            working["parent"] == {"id": dataset["id"]} and working["status"] == "READY" and working["rowCount"] == 300
        )
        columns = {c["name"]: c["nullCount"] for c in working["columns"]}
        assert set(columns) == {"x1", "x2", "group", "label"} and columns["x2"] == 0 and columns["label"] == 1
        assert {f["name"] for f in job["model"]["features"]} <= {"x1", "x2", "group"}
        assert job["model"]["dataset"] == {"id": working["id"]}  # trained on the fixed version
        assert job["report"]["content"]["autoActions"] == job["analysis"]["autoActions"]
        # undoable: the analysed version is untouched, and the fixed one is a child of it
        after = gql(client, DATASET, {"id": dataset["id"]}, token)["data"]["dataset"]
        assert after["rowCount"] == before["rowCount"] == 304 and after["columns"] == before["columns"]
        assert after["children"] == [{"id": working["id"]}]
        other = register(client)["accessToken"]
        assert (
            gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": working["id"]}, other)["data"]["node"]
            is None
        )


def test_a_failed_analysis_leaves_no_fixed_version(tmp_path):
    settings = make_settings(tmp_path, analysis_model_timeout_seconds=0.5)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        dataset = ingest(client, token, messy_frame().to_csv(index=False).encode(), "messy.csv")
        started = gql(
            client, ANALYZE, {"input": {"datasetId": dataset["id"], "target": "label", "safeAutoActions": True}}, token
        )["data"]["analyzeDataset"]
        wait_for(client, token, started["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=300)
        job = gql(client, ANALYSIS, {"id": started["job"]["id"]}, token)["data"]["job"]
        assert job["status"] == "FAILED" and job["analysis"]["failure"] == {"stage": "modeling", "code": "TIMEOUT"}
        assert gql(client, DATASETS, None, token)["data"]["datasets"]["totalCount"] == 1
        assert gql(client, DATASET, {"id": dataset["id"]}, token)["data"]["dataset"]["children"] == []


def test_nothing_to_fix_keeps_no_new_version(client, token):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 120), "label": rng.choice(["a", "b"], 120)})
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "clean.csv")
    started = gql(
        client, ANALYZE, {"input": {"datasetId": dataset["id"], "target": "label", "safeAutoActions": True}}, token
    )["data"]["analyzeDataset"]
    wait_for(client, token, started["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=300)
    job = gql(client, ANALYSIS, {"id": started["job"]["id"]}, token)["data"]["job"]
    assert job["status"] == "SUCCEEDED", job
    assert job["analysis"]["autoActions"] == [] and job["analysis"]["workingDataset"] is None
    assert any("nothing to fix" in note for note in job["analysis"]["notes"])
    assert gql(client, DATASETS, None, token)["data"]["datasets"]["totalCount"] == 1
