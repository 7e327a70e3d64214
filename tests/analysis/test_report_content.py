"""JSON-first reports (report.content, typed sections, the deterministic fallback), the analysis's critique, and
every theme token (seed 003 rows 12 and 15)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from starlette.testclient import TestClient

from server.app import create_app
from server.settings import ConfigurationError
from tests.analysis.test_analysis import ANALYZE, REPORT, wait_for
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="what reports say")

CONTENT = """query($id: ID!) { job(id: $id) { status
  analysis { critique { kind severity message columns } }
  report { id url content { title renderer fallbackReason generatedAt
    overview { rows columns missingCells duplicateRows }
    alerts { kind message }
    columns { name semanticType mean histogram { edges counts } topValues { value count } }
    correlations { method columns values }
    model { task target algorithm metrics { name value } leaderboard { algorithm selected }
            confusionMatrix { labels values } signature { name required } }
    critique { kind severity columns }
    timings { stage seconds } } } } }"""

REPORT_NODE = """query($id: ID!) { node(id: $id) { ... on Report { id url
  content { renderer fallbackReason overview { rows } columns { name } } } } }"""


def critique_frame(rows: int = 400) -> pd.DataFrame:
    """A rare class (imbalance), a feature giving the label away (leakage) and one whose values differ between the
    training and held-out rows of the analysis's own split (seed 0, 20% held out, stratified): drift."""
    rng = np.random.default_rng(7)
    x1 = rng.normal(0, 1, rows)
    label = np.where(x1 > 1.6, "rare", "common")
    frame = pd.DataFrame({"x1": x1, "x2": rng.normal(0, 1, rows), "label": label})
    frame["leaky"] = (frame.label == "rare").astype(float) * 7
    _, held_out = train_test_split(np.arange(rows), test_size=0.2, random_state=0, stratify=frame.label.astype(str))
    shifted = np.zeros(rows)
    shifted[held_out] = 5.0
    frame["batch"] = shifted + rng.normal(0, 0.1, rows)
    return frame


def test_the_report_is_a_typed_document_with_the_critique(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        dataset = ingest(client, token, critique_frame().to_csv(index=False).encode(), "critique.csv")
        started = gql(client, ANALYZE, {"input": {"datasetId": dataset["id"], "target": "label"}}, token)
        job_id = started["data"]["analyzeDataset"]["job"]["id"]
        wait_for(client, token, job_id, ("SUCCEEDED", "FAILED"), timeout=300)
        job = gql(client, CONTENT, {"id": job_id}, token)["data"]["job"]
        assert job["status"] == "SUCCEEDED", job
        critique = job["analysis"]["critique"]
        kinds = {finding["kind"]: finding for finding in critique}
        assert kinds["LEAKAGE"]["columns"] == ["leaky", "label"] and kinds["LEAKAGE"]["severity"] == "CRITICAL"
        assert kinds["CLASS_IMBALANCE"]["columns"] == ["label"] and "'rare'" in kinds["CLASS_IMBALANCE"]["message"]
        assert kinds["SMALL_DATA"]["severity"] == "WARNING" and "400 labelled rows" in kinds["SMALL_DATA"]["message"]
        drifted = [f for f in critique if f["kind"] == "DRIFT"]
        assert [f["columns"] for f in drifted] == [["batch"]], drifted  # only the shifted feature, not x1 or x2
        content = job["report"]["content"]
        assert content["renderer"] == "JSON_FIRST" and content["fallbackReason"] is None
        assert content["overview"]["rows"] == 400 and content["overview"]["columns"] == 5
        assert [c["name"] for c in content["columns"]] == ["x1", "x2", "label", "leaky", "batch"]
        x1 = content["columns"][0]
        assert (
            len(x1["histogram"]["edges"]) == len(x1["histogram"]["counts"]) + 1
            and sum(x1["histogram"]["counts"]) == 400
        )
        assert content["correlations"]["method"] == "PEARSON" and len(content["correlations"]["values"]) == 4
        model = content["model"]
        assert model["target"] == "label" and model["task"] == "CLASSIFICATION"
        assert sum(entry["selected"] for entry in model["leaderboard"]) == 1
        assert sorted(model["confusionMatrix"]["labels"]) == ["common", "rare"]
        assert any(metric["name"] == "accuracy" for metric in model["metrics"])
        assert [f["kind"] for f in content["critique"]] == [f["kind"] for f in critique]  # one critique, two views
        assert [t["stage"] for t in content["timings"]][:3] == ["ingest-check", "profile", "clarify"]
        html = client.get(job["report"]["url"]).text
        assert ">Critique<" in html and "Possible leakage: leaky" in html and "Drift between the training" in html
        assert 'class="alert CRITICAL"' in html and 'class="alert WARNING"' in html


def test_a_document_that_does_not_validate_falls_back_to_the_deterministic_renderer(client, token):
    """Values near the float limit overflow the column's mean to infinity, which JSON (and GraphQL) cannot carry: the
    document is refused, the HTML comes from the profile directly, and both say so."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0] * 4, "b": list("xyzxy") * 4, "huge": [1.5e308] * 20})
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "inf.csv")
    payload = gql(client, REPORT, {"input": {"datasetId": dataset["id"]}}, token)["data"]["generateReport"]
    job = wait_for_job(client, token, payload["job"]["id"], timeout=180)
    assert job["status"] == "SUCCEEDED", job
    report = gql(client, REPORT_NODE, {"id": payload["report"]["id"]}, token)
    content = report["data"]["node"]["content"]
    assert content["renderer"] == "DETERMINISTIC"
    assert content["fallbackReason"].startswith("The report document did not validate")
    assert "columns.2.mean" in content["fallbackReason"]
    assert content["overview"] is None and content["columns"] == []
    html = client.get(report["data"]["node"]["url"]).text
    assert "Deterministic renderer" in html and ">Columns<" in html  # the profile is still all there
    assert any("deterministic renderer wrote the report" in line["message"] for line in job["logs"])


def test_another_users_report_content_is_not_theirs(client, token):
    dataset = ingest(client, token, b"a,b\n1,2\n3,4\n5,6\n")
    payload = gql(client, REPORT, {"input": {"datasetId": dataset["id"]}}, token)["data"]["generateReport"]
    wait_for_job(client, token, payload["job"]["id"], timeout=180)
    query = "query($id: ID!) { node(id: $id) { ... on Report { content { renderer overview { rows } } } } }"
    mine = gql(client, query, {"id": payload["report"]["id"]}, token)["data"]["node"]
    assert mine["content"] == {"renderer": "JSON_FIRST", "overview": {"rows": 3}}
    other = register(client)["accessToken"]
    assert gql(client, query, {"id": payload["report"]["id"]}, other)["data"]["node"] is None


THEME_SETTINGS = {
    "report_surface": "#fafafa",
    "report_muted": "slategray",
    "report_ok": "rgb(0, 128, 0)",
    "report_warn": "#ffa500",
    "report_error": "hsl(0, 100%, 40%)",
    "report_logo_url": "https://example.com/brand.svg",
}


def test_every_theme_token_has_a_setting_and_an_input(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, **THEME_SETTINGS))) as client:
        token = register(client)["accessToken"]
        dataset = ingest(client, token, b"a,b\n1,2\n3,4\n5,6\n")
        payload = gql(client, REPORT, {"input": {"datasetId": dataset["id"]}}, token)["data"]["generateReport"]
        wait_for_job(client, token, payload["job"]["id"], timeout=180)
        html = client.get(payload["report"]["url"]).text
        for colour in ("#fafafa", "#708090", "#008000", "#ffa500", "#cc0000"):  # each in its one canonical spelling
            assert colour in html, colour
        assert 'src="https://example.com/brand.svg"' in html  # the default logo
        theme = {
            "surface": "#010203",
            "muted": "#040506",
            "ok": "#070809",
            "warn": "#0a0b0c",
            "error": "#0d0e0f",
            "logoUrl": "https://example.org/other.png",
        }
        payload = gql(client, REPORT, {"input": {"datasetId": dataset["id"], "theme": theme}}, token)["data"][
            "generateReport"
        ]
        wait_for_job(client, token, payload["job"]["id"], timeout=180)
        html = client.get(payload["report"]["url"]).text
        assert all(colour in html for colour in ("#010203", "#040506", "#070809", "#0a0b0c", "#0d0e0f"))
        assert "#fafafa" not in html and "example.com/brand.svg" not in html and "example.org/other.png" in html


@pytest.mark.parametrize(
    ("theme", "field"),
    [
        ({"surface": "url(x)"}, "surface"),
        ({"muted": "#12"}, "muted"),
        ({"ok": "rgb(300, 0, 0)"}, "ok"),
        ({"warn": "orange; x: y"}, "warn"),
        ({"error": "nocolour"}, "error"),
    ],
)
def test_bad_theme_tokens_are_refused(client, token, theme, field):
    dataset = ingest(client, token, b"a,b\n1,2\n3,4\n")
    for mutation, input_fields in ((REPORT, {}), (ANALYZE, {})):
        payload = gql(client, mutation, {"input": {"datasetId": dataset["id"], "theme": theme, **input_fields}}, token)
        errors = next(iter(payload["data"].values()))["errors"]
        assert errors[0]["code"] == "INVALID_INPUT" and errors[0]["field"] == ["theme", field]


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"report_surface": "rgb(256, 0, 0)"}, "ASSAY_REPORT_SURFACE"),
        ({"report_error": "not-a-colour"}, "ASSAY_REPORT_ERROR"),
        ({"report_logo_url": "javascript:alert(1)"}, "ASSAY_REPORT_LOGO_URL"),
    ],
)
def test_a_bad_theme_setting_stops_the_server_at_start_up(tmp_path, overrides, variable):
    with pytest.raises(ConfigurationError, match=variable):
        create_app(make_settings(tmp_path, **overrides))
