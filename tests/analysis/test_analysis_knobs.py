"""Seed 003's analysis knobs through analyzeDataset: stage time limits enforced while a stage runs (row 10), and
CV_FOLDS, EARLY_STOP_SAMPLE, HGB_MIN_ROWS, ALLOWED_EXTS, LARGE_FILE_MB as settings and options (row 11)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.settings import ConfigurationError
from tests.analysis.test_analysis import ANALYZE, frame_with_label, wait_for
from tests.support.graphql import gql, ingest, register
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="what the analysis options change")

ANALYSIS = """query($id: ID!) { job(id: $id) { status error stage timeline { stage durationMs }
  logs(last: 300) { level message }
  analysis { target sampledRows notes failure { stage code message limitSeconds }
             options { cvFolds earlyStopSample hgbMinRows allowedExts largeFileMb safeAutoActions } }
  model { id algorithm cvScores sampled trainingRows leaderboard { algorithm rows } }
  report { id } } }"""
COUNTS = "query($id: ID!) { dataset(id: $id) { models { totalCount } reports { id } } jobs { totalCount } }"


@contextmanager
def server(tmp_path, **overrides):
    settings = make_settings(tmp_path, **overrides)
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        yield client, register(client)["accessToken"]


def wide_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({f"f{i}": rng.normal(0, 1, rows) for i in range(8)})
    frame["label"] = np.where(frame.f0 + frame.f1 + rng.normal(0, 0.5, rows) > 0, "yes", "no")
    return frame


def analyze(client, token, dataset_id, **input_fields):
    return gql(client, ANALYZE, {"input": {"datasetId": dataset_id, **input_fields}}, token)["data"]["analyzeDataset"]


def test_a_stage_over_its_limit_is_stopped_while_it_runs(tmp_path):
    """The model stage gets 1 s while its training budget is 10 s: it is stopped at about 1 s, not when it ends,
    and the analysis fails with TIMEOUT naming the stage, leaving no model, no report and no files of either."""
    with server(tmp_path, analysis_model_budget_seconds=10, analysis_model_timeout_seconds=1) as (client, token):
        dataset = ingest(client, token, wide_frame(4000).to_csv(index=False).encode(), "wide.csv")
        started = analyze(client, token, dataset["id"], target="label")
        assert started["errors"] == []
        job = wait_for(client, token, started["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=300)
        job = gql(client, ANALYSIS, {"id": started["job"]["id"]}, token)["data"]["job"]
        assert job["status"] == "FAILED", job
        assert job["analysis"]["failure"] == {
            "stage": "modeling",
            "code": "TIMEOUT",
            "limitSeconds": 1.0,
            "message": "Stage modeling was stopped after 1 s, its limit (ASSAY_ANALYSIS_MODEL_TIMEOUT_SECONDS); "
            "nothing it was writing was kept",
        }
        assert "Stage modeling was stopped after 1 s" in job["error"]
        modeling = next(t for t in job["timeline"] if t["stage"] == "modeling")
        assert modeling["durationMs"] < 6000, modeling  # stopped during the stage, well before its 10 s budget
        assert job["model"] is None and job["report"] is None
        counts = gql(client, COUNTS, {"id": dataset["id"]}, token)["data"]
        assert counts["dataset"]["models"]["totalCount"] == 0 and counts["dataset"]["reports"] == []
        data_dir = client.settings.resolved_data_dir
        assert not any((data_dir / "models").glob("*")) if (data_dir / "models").exists() else True
        assert not any((data_dir / "reports").glob("*")) if (data_dir / "reports").exists() else True


def test_the_eda_limit_names_its_stage(tmp_path):
    with server(tmp_path, analysis_eda_timeout_seconds=0.001) as (client, token):
        dataset = ingest(client, token, frame_with_label().to_csv(index=False).encode(), "small.csv")
        job_id = analyze(client, token, dataset["id"])["job"]["id"]
        wait_for(client, token, job_id, ("SUCCEEDED", "FAILED"), timeout=300)
        job = gql(client, ANALYSIS, {"id": job_id}, token)["data"]["job"]
        assert job["status"] == "FAILED"
        assert job["analysis"]["failure"]["code"] == "TIMEOUT"
        assert job["analysis"]["failure"]["stage"] in ("ingest-check", "profile")
        assert "ASSAY_ANALYSIS_EDA_TIMEOUT_SECONDS" in job["error"]


def test_every_knob_changes_what_the_analysis_does(tmp_path):
    """cvFolds 3 -> three CV scores; earlyStopSample 200 -> candidates compared on 200 rows; hgbMinRows above the
    data -> no gradient boosting; largeFileMb under the file -> the model is fitted on a sample, and it says so."""
    with server(tmp_path) as (client, token):
        content = wide_frame(3000).to_csv(index=False).encode()
        dataset = ingest(client, token, content, "wide.csv")
        size_mb = dataset["sizeBytes"] / 2**20
        options = {"cvFolds": 3, "earlyStopSample": 200, "hgbMinRows": 100_000, "largeFileMb": size_mb / 3}
        started = analyze(client, token, dataset["id"], target="label", options=options)
        assert started["errors"] == []
        wait_for(client, token, started["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=300)
        job = gql(client, ANALYSIS, {"id": started["job"]["id"]}, token)["data"]["job"]
        assert job["status"] == "SUCCEEDED", job
        assert job["analysis"]["options"] == {
            "cvFolds": 3,
            "earlyStopSample": 200,
            "hgbMinRows": 100_000,
            "allowedExts": [],
            "largeFileMb": pytest.approx(size_mb / 3),
            "safeAutoActions": False,
        }
        model = job["model"]
        assert len(model["cvScores"]) == 3
        compared_on = {entry["rows"] for entry in model["leaderboard"]}
        # the first round on 200 rows, then at most the 4x second (fewer when the sampled training rows run out)
        assert min(compared_on) == 200 and max(compared_on) <= 800, compared_on
        assert "HIST_GRADIENT_BOOSTING" not in {entry["algorithm"] for entry in model["leaderboard"]}
        messages = [entry["message"] for entry in job["logs"]]
        assert any("HIST_GRADIENT_BOOSTING left out" in m for m in messages)
        sampled = job["analysis"]["sampledRows"]
        assert 500 <= sampled < 3000 and model["sampled"] and model["trainingRows"] < 0.8 * 3000
        assert any("over the" in note and "largeFileMb" in note for note in job["analysis"]["notes"])


def test_settings_are_the_defaults_and_options_win(tmp_path):
    with server(tmp_path, analysis_cv_folds=4, analysis_allowed_exts="parquet") as (client, token):
        dataset = ingest(client, token, frame_with_label().to_csv(index=False).encode(), "small.csv")
        refused = analyze(client, token, dataset["id"], target="label")
        assert refused["job"] is None
        assert refused["errors"][0]["code"] == "UNSUPPORTED_FILE" and refused["errors"][0]["field"] == ["datasetId"]
        assert "parquet" in refused["errors"][0]["message"]
        assert gql(client, COUNTS, {"id": dataset["id"]}, token)["data"]["jobs"]["totalCount"] == 1  # the ingest only
        started = analyze(client, token, dataset["id"], target="label", options={"allowedExts": [".CSV", "tsv"]})
        assert started["errors"] == []
        job = gql(client, ANALYSIS, {"id": started["job"]["id"]}, token)["data"]["job"]
        assert job["analysis"]["options"]["cvFolds"] == 4 and job["analysis"]["options"]["allowedExts"] == [
            "csv",
            "tsv",
        ]
        wait_for(client, token, started["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=300)
        job = gql(client, ANALYSIS, {"id": started["job"]["id"]}, token)["data"]["job"]
        assert job["status"] == "SUCCEEDED" and len(job["model"]["cvScores"]) == 4


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"cvFolds": 1}, "cvFolds"),
        ({"cvFolds": 50}, "cvFolds"),
        ({"earlyStopSample": 10}, "earlyStopSample"),
        ({"hgbMinRows": -1}, "hgbMinRows"),
        ({"allowedExts": ["c sv"]}, "allowedExts"),
        ({"largeFileMb": 0}, "largeFileMb"),
    ],
)
def test_bad_options_are_refused_naming_the_field(client, token, options, field):
    dataset = ingest(client, token, frame_with_label().to_csv(index=False).encode(), "small.csv")
    payload = analyze(client, token, dataset["id"], options=options)
    assert payload["job"] is None
    assert payload["errors"][0]["code"] == "INVALID_INPUT" and payload["errors"][0]["field"] == ["options", field]
    assert gql(client, COUNTS, {"id": dataset["id"]}, token)["data"]["jobs"]["totalCount"] == 1  # nothing started


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"analysis_cv_folds": 1}, "ASSAY_ANALYSIS_CV_FOLDS"),
        ({"analysis_allowed_exts": "csv,.x y"}, "ASSAY_ANALYSIS_ALLOWED_EXTS"),
        ({"analysis_large_file_mb": -5}, "ASSAY_ANALYSIS_LARGE_FILE_MB"),
        ({"analysis_model_timeout_seconds": 0}, "ASSAY_ANALYSIS_MODEL_TIMEOUT_SECONDS"),
    ],
)
def test_a_bad_knob_setting_stops_the_server_at_start_up(tmp_path, overrides, variable):
    with pytest.raises(ConfigurationError, match=variable):
        create_app(make_settings(tmp_path, **overrides))
