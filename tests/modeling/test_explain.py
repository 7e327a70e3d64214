"""Why a model predicted what it did: per-row contributions through predict and predictDataset, for every
algorithm AUTO can choose, checked for additivity (base value + contributions = the model's output)."""

from __future__ import annotations

import io
import re

import joblib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.special import expit, softmax
from starlette.testclient import TestClient

from server.app import create_app
from services import files
from services.modeling.explain import MAX_SAMPLED_ROWS
from services.modeling.tasks import CLASSIFIERS, REGRESSORS
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="explanations computed from trained models")

TRAIN = """mutation($input: TrainModelInput!) { trainModel(input: $input) {
  model { id } job { id } errors { code message field } } }"""
MODEL = "query($id: ID!) { model(id: $id) { id algorithm classes features { name } } }"
EXPLAIN = """mutation($id: ID!, $rows: [JSON!]!, $explain: Boolean) {
  predict(input: {modelId: $id, rows: $rows, explain: $explain}) {
    predictions { value probabilities { label probability }
      explanation { method outputSpace exact evaluationsPerRow backgroundRows
        outputs { label baseValue output contributions { feature contribution } } } }
    errors { code message field } } }"""
PREDICT_DATASET = """mutation($m: ID!, $d: ID!, $explain: Boolean) {
  predictDataset(input: {modelId: $m, datasetId: $d, explain: $explain}) {
    dataset { id } job { id } errors { code message field } } }"""
TOLERANCE = 1e-6
EXPECTED_METHOD = {
    "RANDOM_FOREST": "TREE_SHAP",
    "EXTRA_TREES": "TREE_SHAP",
    "HIST_GRADIENT_BOOSTING": "TREE_SHAP",
    "LINEAR_REGRESSION": "LINEAR_EXACT",
    "RIDGE": "LINEAR_EXACT",
    "LOGISTIC_REGRESSION": "LINEAR_EXACT",
}


def shop(rows: int = 300, seed: int = 1) -> pd.DataFrame:
    """Orders with a number, a category (one-hot for linear models), a date (six parts) and missing values."""
    rng = np.random.default_rng(seed)
    basket = rng.gamma(2, 20, rows)
    channel = rng.choice(["web", "app", "store", "phone_order"], rows)
    placed = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    visits = rng.poisson(4, rows).astype(float)
    spend = 2 * basket + 15 * (channel == "app") + 3 * visits + rng.normal(0, 5, rows)
    frame = pd.DataFrame(
        {
            "basket": basket,
            "channel": channel,
            "placed": placed,
            "visits": visits,
            "spend": spend,
            "returned": np.where(spend + rng.normal(0, 10, rows) > 100, "yes", "no"),
            "tier": np.select([spend < 70, spend < 110], ["bronze", "silver"], "gold"),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "visits"] = np.nan
    return frame


def json_rows(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if pd.isna(v) else v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def train(client, token, dataset_id, target, algorithm, features) -> dict:
    payload = gql(
        client,
        TRAIN,
        {
            "input": {
                "datasetId": dataset_id,
                "target": target,
                "algorithms": [algorithm],
                "features": features,
                "cvFolds": 2,
            }
        },
        token,
    )["data"]["trainModel"]
    assert payload["errors"] == [], payload
    job = wait_for_job(client, token, payload["job"]["id"], timeout=900)  # a loaded 2-core machine: minutes
    assert job["status"] == "SUCCEEDED", job
    return gql(client, MODEL, {"id": payload["model"]["id"]}, token)["data"]["model"]


def check_additive(prediction: dict, features: list[str]) -> dict:
    """base + contributions = output for every output, and the output is what the prediction says."""
    explanation = prediction["explanation"]
    for output in explanation["outputs"]:
        assert [c["feature"] for c in output["contributions"]] == features
        total = output["baseValue"] + sum(c["contribution"] for c in output["contributions"])
        assert total == pytest.approx(output["output"], abs=TOLERANCE)
    outputs = np.array([o["output"] for o in explanation["outputs"]])
    space = explanation["outputSpace"]
    if prediction["probabilities"] is None:
        assert space == "VALUE" and outputs[0] == pytest.approx(prediction["value"], abs=TOLERANCE)
        return explanation
    probabilities = np.array([p["probability"] for p in prediction["probabilities"]])
    assert [o["label"] for o in explanation["outputs"]] == [p["label"] for p in prediction["probabilities"]]
    implied = {"PROBABILITY": outputs, "LOG_ODDS": expit(outputs), "MULTICLASS_LOGIT": softmax(outputs)}[space]
    assert np.allclose(implied, probabilities, atol=TOLERANCE)
    return explanation


@pytest.mark.parametrize(
    ("target", "algorithms", "spaces"),
    [
        ("spend", REGRESSORS, {"VALUE"}),
        ("returned", CLASSIFIERS, {"PROBABILITY", "LOG_ODDS"}),
        ("tier", CLASSIFIERS, {"PROBABILITY", "MULTICLASS_LOGIT"}),
    ],
)
@pytest.mark.slow  # trains every AUTO algorithm (125 s loaded, 3 cases)
def test_every_auto_algorithm_explains_additively(client, token, target, algorithms, spaces):
    frame = shop()
    features = ["basket", "channel", "placed", "visits"]
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")
    rows = frame[features].iloc[[0, 1, 2, 5, 8]]
    rows.loc[rows.index[1], "channel"] = "carrier pigeon"  # a level never seen in training
    seen = set()
    for algorithm in algorithms:
        model = train(client, token, dataset["id"], target, algorithm, features)
        result = gql(client, EXPLAIN, {"id": model["id"], "rows": json_rows(rows), "explain": True}, token)["data"][
            "predict"
        ]
        assert result["errors"] == [] and len(result["predictions"]) == len(rows)
        for prediction in result["predictions"]:
            explanation = check_additive(prediction, features)
            assert explanation["method"] == EXPECTED_METHOD[algorithm] and explanation["exact"] is True
            assert explanation["evaluationsPerRow"] is None and len(explanation["outputs"]) == len(
                model["classes"] or [0]
            )
            seen.add(explanation["outputSpace"])
        contributions = np.array(
            [
                [c["contribution"] for c in p["explanation"]["outputs"][-1]["contributions"]]
                for p in result["predictions"]
            ]
        )
        assert np.abs(contributions[:, 0]).max() > 0  # basket drives every target: it gets credit
        plain = gql(client, EXPLAIN, {"id": model["id"], "rows": json_rows(rows)}, token)["data"]["predict"]
        assert all(p["explanation"] is None for p in plain["predictions"])
        assert [p["value"] for p in plain["predictions"]] == [p["value"] for p in result["predictions"]]
    assert seen == spaces


def test_binary_log_odds_are_mirrored_between_the_classes(client, token):
    frame = shop()
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")
    model = train(client, token, dataset["id"], "returned", "LOGISTIC_REGRESSION", ["basket", "channel"])
    prediction = gql(
        client,
        EXPLAIN,
        {"id": model["id"], "rows": json_rows(frame[["basket", "channel"]].head(1)), "explain": True},
        token,
    )["data"]["predict"]["predictions"][0]
    no, yes = prediction["explanation"]["outputs"]
    assert no["baseValue"] == pytest.approx(-yes["baseValue"]) and no["output"] == pytest.approx(-yes["output"])
    # exact linear contribution of the number: coefficient x (value - mean) over the scaled column; a bigger
    # basket means more spend, so more "yes"
    other = json_rows(frame[["basket", "channel"]].head(1).assign(basket=frame.basket.iloc[0] + 50))
    bigger = gql(client, EXPLAIN, {"id": model["id"], "rows": other, "explain": True}, token)["data"]["predict"][
        "predictions"
    ][0]["explanation"]["outputs"][1]
    assert bigger["contributions"][0]["contribution"] > yes["contributions"][0]["contribution"]
    assert bigger["contributions"][1]["contribution"] == pytest.approx(yes["contributions"][1]["contribution"])


def download_parquet(client, token, dataset_id) -> pd.DataFrame:
    url = gql(
        client, "query($id: ID!) { dataset(id: $id) { downloadUrl(format: PARQUET) } }", {"id": dataset_id}, token
    )["data"]["dataset"]["downloadUrl"]
    response = client.get(url)
    assert response.status_code == 200
    return pq.read_table(io.BytesIO(response.content)).to_pandas()


@pytest.mark.parametrize(("target", "algorithm"), [("tier", "RANDOM_FOREST"), ("spend", "RIDGE")])
def test_predict_dataset_writes_contribution_columns(client, token, target, algorithm):
    frame = shop()
    features = ["basket", "channel", "placed", "visits"]
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")
    model = train(client, token, dataset["id"], target, algorithm, features)
    payload = gql(client, PREDICT_DATASET, {"m": model["id"], "d": dataset["id"], "explain": True}, token)["data"][
        "predictDataset"
    ]
    assert payload["errors"] == []
    assert wait_for_job(client, token, payload["job"]["id"], timeout=600)["status"] == "SUCCEEDED"
    scored = download_parquet(client, token, payload["dataset"]["id"])
    assert len(scored) == len(frame)
    if target == "spend":
        contributions = scored[[f"contrib__{f}" for f in features]].to_numpy()
        assert np.allclose(scored["base_value"] + contributions.sum(axis=1), scored["prediction"], atol=TOLERANCE)
    else:
        for label in model["classes"]:
            contributions = scored[[f"contrib__{label}__{f}" for f in features]].to_numpy()
            total = scored[f"base_value__{label}"] + contributions.sum(axis=1)
            assert np.allclose(total, scored[f"probability_{label}"], atol=TOLERANCE)  # forests explain probabilities
    # without explain, none of those columns
    plain = gql(client, PREDICT_DATASET, {"m": model["id"], "d": dataset["id"]}, token)["data"]["predictDataset"]
    assert wait_for_job(client, token, plain["job"]["id"], timeout=600)["status"] == "SUCCEEDED"
    assert not [c for c in download_parquet(client, token, plain["dataset"]["id"]).columns if c.startswith("contrib__")]


def test_a_model_without_an_exact_method_gets_a_budgeted_approximation(client, token, settings):
    """A model whose estimator has no exact method (a nearest-neighbours model put in place of a trained one, as an
    algorithm outside AUTO's list would be): KernelSHAP with its budget named, or a typed refusal."""
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import Pipeline

    from schema.common import raw_id
    from services.modeling.estimators import load_model_artifact, preprocessor

    frame = shop()
    features = ["basket", "channel", "placed", "visits"]
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")
    model = train(client, token, dataset["id"], "spend", "RIDGE", features)
    path = files.model_path(settings.resolved_data_dir, raw_id(model["id"], "Model"))
    signature = [
        {"name": "basket", "semantic_type": "NUMERIC"},
        {"name": "channel", "semantic_type": "CATEGORICAL"},
        {"name": "placed", "semantic_type": "DATETIME"},
        {"name": "visits", "semantic_type": "NUMERIC"},
    ]
    neighbours = Pipeline([("prepare", preprocessor(signature, "RIDGE")), ("model", KNeighborsRegressor())])
    joblib.dump(neighbours.fit(frame[features], frame["spend"]), path)
    assert type(load_model_artifact(path)[-1]).__name__ == "KNeighborsRegressor"

    rows = frame[features].head(3)
    result = gql(client, EXPLAIN, {"id": model["id"], "rows": json_rows(rows), "explain": True}, token)["data"][
        "predict"
    ]
    assert result["errors"] == []
    for prediction in result["predictions"]:
        explanation = check_additive(prediction, features)
        assert explanation["method"] == "KERNEL_SHAP" and explanation["exact"] is False
        assert explanation["evaluationsPerRow"] == 2 ** len(features) - 2 and explanation["backgroundRows"] == 50

    too_many = json_rows(frame[features].head(MAX_SAMPLED_ROWS + 1))
    refused = gql(client, EXPLAIN, {"id": model["id"], "rows": too_many, "explain": True}, token)["data"]["predict"]
    assert refused["predictions"] == [] and refused["errors"][0]["code"] == "INVALID_INPUT"
    assert refused["errors"][0]["field"] == ["rows"] and "at most 50 rows" in refused["errors"][0]["message"]
    bulk = gql(client, PREDICT_DATASET, {"m": model["id"], "d": dataset["id"], "explain": True}, token)["data"][
        "predictDataset"
    ]
    assert bulk["dataset"] is None and bulk["errors"][0]["code"] == "INVALID_INPUT"
    assert bulk["errors"][0]["field"] == ["explain"] and "KERNEL_SHAP" in bulk["errors"][0]["message"]
    count = gql(client, "{ datasets { totalCount } }", token=token)["data"]["datasets"]["totalCount"]
    assert count == 1  # the refusal left no half-made version behind


def test_explanations_are_private(client, token):
    frame = shop(120)
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")
    model = train(client, token, dataset["id"], "spend", "RIDGE", ["basket"])
    other = register(client)["accessToken"]
    result = gql(client, EXPLAIN, {"id": model["id"], "rows": [{"basket": 3.0}], "explain": True}, other)["data"][
        "predict"
    ]
    assert result["predictions"] == [] and result["errors"][0]["code"] == "NOT_FOUND"
    bulk = gql(client, PREDICT_DATASET, {"m": model["id"], "d": dataset["id"], "explain": True}, other)
    assert bulk["data"]["predictDataset"]["errors"][0]["code"] == "NOT_FOUND"


ANALYZE = """mutation($input: AnalyzeDatasetInput!) { analyzeDataset(input: $input) {
  job { id } errors { code message field } } }"""
ANALYSIS = """query($id: ID!) { job(id: $id) { status error report { url model { id algorithm classes } } } }"""
GENERATE_REPORT = """mutation($input: GenerateReportInput!) { generateReport(input: $input) {
  report { url } job { id } errors { code message field } } }"""
WHY_ROW = re.compile(r"<tr><td>(typical|extreme)</td><td>(\d+)</td><td>([^<]*)</td><td>([^<]+)</td><td>([^<]+)</td>")


def why_rows(html: str) -> list[tuple[str, int, str, float, float]]:
    section = html.split("<h2>Why: predictions explained</h2>", 1)[1].split("<h2>", 1)[0]
    assert "data:image/png;base64," in section  # the small multiples, drawn
    return [
        (kind, int(row), label, float(output), float(base))
        for kind, row, label, output, base in WHY_ROW.findall(section)
    ]


@pytest.mark.slow  # a whole analysis, then explanations of its report (68 s loaded)
def test_the_analysis_report_explains_typical_and_extreme_rows(tmp_path):
    frame = shop().drop(columns=["returned"])  # yes/no is ingested as BOOLEAN: predict would want true/false
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        dataset = ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")
        started = gql(client, ANALYZE, {"input": {"datasetId": dataset["id"], "target": "tier"}}, token)["data"][
            "analyzeDataset"
        ]
        assert started["errors"] == []
        job = wait_for_job(client, token, started["job"]["id"], timeout=900)
        assert job["status"] == "SUCCEEDED", job
        report = gql(client, ANALYSIS, {"id": job["id"]}, token)["data"]["job"]["report"]
        rows = why_rows(client.get(report["url"]).text)
        assert [kind for kind, *_ in rows] == ["typical"] * 3 + ["extreme"] * 4
        # each row's numbers are what predict explains for the same row of the dataset
        model = report["model"]
        features = gql(client, MODEL, {"id": model["id"]}, token)["data"]["model"]["features"]
        names = [f["name"] for f in features]
        for _kind, index, label, output, base in rows:
            prediction = gql(
                client,
                EXPLAIN,
                {"id": model["id"], "rows": json_rows(frame[names].iloc[[index]]), "explain": True},
                token,
            )["data"]["predict"]
            assert prediction["errors"] == [], prediction
            prediction = prediction["predictions"][0]
            assert prediction["value"] == label
            explained = next(o for o in prediction["explanation"]["outputs"] if o["label"] == label)
            assert float(f"{explained['output']:.4g}") == output and float(f"{explained['baseValue']:.4g}") == base


def test_a_report_on_a_model_has_the_why_section(client, token):
    frame = shop()
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "shop.csv")
    model = train(client, token, dataset["id"], "spend", "HIST_GRADIENT_BOOSTING", ["basket", "channel", "visits"])
    payload = gql(client, GENERATE_REPORT, {"input": {"datasetId": dataset["id"], "modelId": model["id"]}}, token)[
        "data"
    ]["generateReport"]
    assert payload["errors"] == []
    assert wait_for_job(client, token, payload["job"]["id"], timeout=600)["status"] == "SUCCEEDED"
    rows = why_rows(client.get(payload["report"]["url"]).text)
    assert len(rows) == 7 and all(label == "" for _, _, label, _, _ in rows)  # regression: no class
    extremes = sorted(output for kind, _, _, output, _ in rows if kind == "extreme")
    typical = [output for kind, _, _, output, _ in rows if kind == "typical"]
    assert extremes[1] < min(typical) and max(typical) < extremes[2]  # two lowest and two highest around the middle


def test_one_hot_and_rare_levels_are_summed_to_their_feature():
    """Pure: a category with more levels than one-hot keeps (the rest share one column) is still one feature."""
    from services.modeling.estimators import MAX_ONE_HOT_LEVELS, build_pipeline
    from services.modeling.explain import Explainer

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "city": rng.choice([f"c{i}" for i in range(45)], 600),
            "x": rng.normal(size=600),
            "tag": rng.choice(["a", "b"], 600),
        }
    )
    y = 2 * frame.x + 5 * (frame.city == "c3") + rng.normal(size=600)
    signature = [
        {"name": "city", "semantic_type": "CATEGORICAL"},
        {"name": "x", "semantic_type": "NUMERIC"},
        {"name": "tag", "semantic_type": "CATEGORICAL"},
    ]
    pipeline = build_pipeline("RIDGE", "REGRESSION", signature, 0, 600).fit(frame, y)
    explainer = Explainer(pipeline, task="REGRESSION", features=["city", "x", "tag"], background=frame.head(200))
    assert explainer.groups.sum(axis=0).tolist() == [MAX_ONE_HOT_LEVELS, 1, 2]
    rows = frame.head(5).assign(city=["never seen", "c3", "c3", "c1", "c44"])
    explained = explainer.explain_frame(rows)
    assert np.allclose(explained.base + explained.contributions.sum(axis=-1), explained.outputs, atol=TOLERANCE)
    assert np.allclose(explained.outputs[:, 0], pipeline.predict(rows), atol=TOLERANCE)
    assert explained.contributions[1, 0, 0] > 3  # c3 is worth about +5
