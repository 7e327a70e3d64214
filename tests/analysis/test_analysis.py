"""analyzeDataset, answerJob and generateReport end to end, including the report's content and safety."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.settings import ConfigurationError
from tests.support.graphql import gql, ingest, register, wait_for_job, wait_for_status
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="the analysis pipeline: target choice, training, reports")

ANALYZE = """mutation($input: AnalyzeDatasetInput!) { analyzeDataset(input: $input) {
  job { id status } errors { code message field } } }"""
ANSWER = (
    "mutation($id: ID!, $a: String!) { answerJob(input: {jobId: $id, answer: $a}) { job { status } errors { "
    "code message field } } }"
)
STATE = """query($id: ID!) { job(id: $id) { status question choices error timeline { stage }
  report { id url model { target task } dataset { id } } logs(last: 200) { level message } } }"""
# What a finished analysis leaves on its dataset: the report, the model, the profile.
LEFT_ON_THE_DATASET = (
    "query($id: ID!) { dataset(id: $id) { reports { id } models { totalCount } profile { rowCount } } }"
)
REPORT = """mutation($input: GenerateReportInput!) { generateReport(input: $input) {
  report { id url } job { id } errors { code message field } } }"""


def frame_with_label(rows: int = 300, label: str = "label", leak: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(0, 1, rows), rng.normal(0, 1, rows)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "group": rng.choice(["a", "b", "c"], rows)})
    frame[label] = np.where(x1 + 0.5 * x2 + rng.normal(0, 0.3, rows) > 0, "pos", "neg")
    if leak:
        frame["leaky"] = (frame[label] == "pos").astype(int) * 10.0
    return frame


def ambiguous_frame() -> pd.DataFrame:
    """Two equally plausible labels and a continuous last column: no heuristic is clearly ahead."""
    frame = frame_with_label(label="kind").assign(other=lambda f: np.where(f.x2 > 0, "u", "v"))
    return frame.assign(x3=np.linspace(0, 1, len(frame)))


def wait_for(client, token, job_id, statuses, timeout=120):
    """The job as STATE reads it (question, report, logs) once its status is one of `statuses`."""
    return wait_for_status(client, token, job_id, statuses, timeout, query=STATE)


def analyze(client, token, dataset_id: str, **input_fields) -> dict:
    """`analyzeDataset`'s payload for the dataset and these input fields."""
    return gql(client, ANALYZE, {"input": {"datasetId": dataset_id, **input_fields}}, token)["data"]["analyzeDataset"]


def generate_report(client, token, dataset_id: str, **input_fields) -> dict:
    """`generateReport`'s payload for the dataset and these input fields."""
    variables = {"input": {"datasetId": dataset_id, **input_fields}}
    return gql(client, REPORT, variables, token)["data"]["generateReport"]


@pytest.fixture
def fast_settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def fast_client(fast_settings):
    with TestClient(create_app(fast_settings)) as client:
        client.settings = fast_settings
        yield client


@pytest.mark.slow  # a whole analysis to its report (58 s loaded)
def test_clear_target_path_with_report(fast_client):
    client = fast_client
    token = register(client)["accessToken"]
    dataset = ingest(client, token, frame_with_label(leak=True).to_csv(index=False).encode(), "clear.csv")
    theme = {"primary": "#112233", "fontFamily": "Georgia, 'Times New Roman', serif"}
    started = analyze(client, token, dataset["id"], theme=theme)
    assert started["errors"] == []
    job = wait_for(client, token, started["job"]["id"], ("SUCCEEDED", "FAILED"))
    assert job["status"] == "SUCCEEDED", job
    stages = [t["stage"] for t in job["timeline"]]
    assert stages == ["ingest-check", "profile", "clarify", "modeling", "report", "qa", "done"]
    messages = [entry["message"] for entry in job["logs"]]
    assert any(m.startswith("Target: label, because its name says so") for m in messages)
    assert any("Possible leakage: leaky" in m for m in messages)
    report = job["report"]
    assert report["model"] == {"target": "label", "task": "CLASSIFICATION"} and report["dataset"]["id"] == dataset["id"]
    response = client.get(report["url"])
    assert response.status_code == 200 and "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    for section in (
        "Overview",
        "Alerts",
        "Columns",
        "Correlations",
        "Missing values",
        "Model",
        "Leaderboard",
        "Held-out metrics",
        "Confusion matrix",
        "Feature importances",
        "Signature",
        "Stage timings",
    ):
        assert f">{section}<" in html, section
    assert "Possible leakage: leaky" in html and "#112233" in html and "Georgia, 'Times New Roman', serif" in html
    assert html.count("data:image/png;base64,") >= 4
    assert not re.findall(r'(?:src|href)="(?!data:)', html)  # self-contained: no external URL at all
    listed = gql(client, LEFT_ON_THE_DATASET, {"id": dataset["id"]}, token)["data"]["dataset"]
    assert (
        listed["reports"] == [{"id": report["id"]}]
        and listed["models"]["totalCount"] == 1
        and listed["profile"]["rowCount"] == 300
    )


@pytest.mark.slow  # a whole analysis with a question (59 s loaded)
def test_ambiguous_target_asks_and_resumes(fast_client):
    client = fast_client
    token = register(client)["accessToken"]
    frame = ambiguous_frame()
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "ambiguous.csv")
    job_id = analyze(client, token, dataset["id"])["job"]["id"]
    waiting = wait_for(client, token, job_id, ("NEEDS_INPUT", "SUCCEEDED", "FAILED"))
    assert waiting["status"] == "NEEDS_INPUT", waiting
    assert waiting["question"] == "Which column should the analysis predict?" and "kind" in waiting["choices"]
    wrong = gql(client, ANSWER, {"id": job_id, "a": "nope"}, token)["data"]["answerJob"]
    assert wrong["errors"][0]["code"] == "INVALID_INPUT" and wrong["errors"][0]["field"] == ["answer"]
    assert gql(client, STATE, {"id": job_id}, token)["data"]["job"]["status"] == "NEEDS_INPUT"
    other = register(client)["accessToken"]
    assert (
        gql(client, ANSWER, {"id": job_id, "a": "kind"}, other)["data"]["answerJob"]["errors"][0]["code"] == "NOT_FOUND"
    )
    assert gql(client, ANSWER, {"id": job_id, "a": "kind"}, token)["data"]["answerJob"]["errors"] == []
    done = wait_for(client, token, job_id, ("SUCCEEDED", "FAILED"))
    assert done["status"] == "SUCCEEDED" and done["report"]["model"]["target"] == "kind"
    assert any("Stage profile already done" in entry["message"] for entry in done["logs"])  # resumed, not restarted


def test_waiting_too_long_ends_cancelled(tmp_path):
    settings = make_settings(tmp_path, needs_input_timeout_seconds=1, job_heartbeat_seconds=0.3)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        frame = ambiguous_frame()
        dataset = ingest(client, token, frame.to_csv(index=False).encode())
        job_id = analyze(client, token, dataset["id"])["job"]["id"]
        job = wait_for(client, token, job_id, ("CANCELLED", "SUCCEEDED", "FAILED"), timeout=60)
        assert job["status"] == "CANCELLED" and job["error"] == "No answer within 1 s"


@pytest.mark.slow  # a real server killed mid-analysis and restarted: 4.5 min on the loaded shared machine
def test_resume_after_a_crash_mid_analysis(tmp_path):
    """A real server killed during the modeling stage; the restarted one resumes at the first unfinished stage."""
    from tests.support.live_server import LiveServer

    server = LiveServer(tmp_path / "data", ASSAY_ANALYSIS_MODEL_BUDGET_SECONDS="60").start()
    token = server.gql(
        'mutation { register(input: {email: "a@example.com", password: "analysis pw"}) { accessToken } }'
    )["data"]["register"]["accessToken"]
    rng = np.random.default_rng(0)
    big = pd.DataFrame({f"f{i}": rng.normal(0, 1, 30_000) for i in range(12)})
    big["label"] = np.where(big.f0 + big.f1 > 0, "yes_", "no_")
    uploaded = server.upload(token, big.to_csv(index=False).encode(), "big.csv")
    server.wait_for(token, uploaded["job"]["id"], ("SUCCEEDED",))
    started = server.gql(ANALYZE, {"input": {"datasetId": uploaded["dataset"]["id"]}}, token)["data"]["analyzeDataset"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = server.gql("query($id: ID!) { job(id: $id) { stage } }", {"id": started["job"]["id"]}, token)["data"][
            "job"
        ]
        if state["stage"] in ("modeling", "compare", "refit", "prepare"):
            break
        time.sleep(0.05)
    server.kill()
    server.start()
    token = server.gql('mutation { login(input: {email: "a@example.com", password: "analysis pw"}) { accessToken } }')[
        "data"
    ]["login"]["accessToken"]
    job = server.wait_for(token, started["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=180)
    server.terminate()
    assert job["status"] == "SUCCEEDED" and job["attempt"] == 2, job
    messages = [entry["message"] for entry in job["logs"]]
    assert any("Stage profile already done" in m for m in messages)
    assert any("Stage clarify already done" in m for m in messages)


def test_generate_report_escapes_and_themes(client, token):
    frame = pd.DataFrame(
        {"<script>alert(1)</script>": ["<b>x</b>", "y", "<img src=x onerror=alert(2)>"] * 5, "n": range(15)}
    )
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "evil.csv")
    theme = {"accent": "rebeccapurple", "logoUrl": "https://example.com/logo.png"}
    payload = generate_report(client, token, dataset["id"], theme=theme)
    assert payload["errors"] == []
    assert wait_for_job(client, token, payload["job"]["id"])["status"] == "SUCCEEDED"
    html = client.get(payload["report"]["url"]).text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "#663399" in html and 'src="https://example.com/logo.png"' in html  # rebeccapurple, one spelling
    external = re.findall(r'(?:src|href)="(?!data:)([^"]+)"', html)
    assert external == ["https://example.com/logo.png"]  # the optional logo is the only external URL
    job = gql(client, STATE, {"id": payload["job"]["id"]}, token)["data"]["job"]
    assert job["report"]["id"] == payload["report"]["id"]


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("primary", "red; background: url(x)"),
        ("background", "#12"),
        ("fontFamily", "Arial; } body { display:none"),
        ("logoUrl", "javascript:alert(1)"),
        ("text", "notacolour"),
        ("primary", "rgb(99999999999999999999,0,0)"),  # matched the old pattern, failed the job
        ("accent", "rgb(256, 0, 0)"),
        ("background", "hsl(400, 10%, 10%)"),
        ("text", "rgba(0, 0, 0, 1.5)"),
        ("primary", "rgb(10%, 20, 30)"),
    ],
)
def test_bad_themes_are_refused(client, token, part, value):
    dataset = ingest(client, token, b"a,b\n1,2\n3,4\n")
    payload = generate_report(client, token, dataset["id"], theme={part: value})
    assert payload["report"] is None and payload["errors"][0]["code"] == "INVALID_INPUT"
    assert payload["errors"][0]["field"] == ["theme", part]


def test_every_css_colour_form_draws_a_report(client, token):
    """rgb(), hsl() and short hex reach matplotlib as #rrggbb: matplotlib reads neither rgb() nor hsl(),
    so such a theme used to pass the mutation and fail the job."""
    dataset = ingest(client, token, b"a,b\n1,2\n3,4\n5,6\n")
    theme = {
        "primary": "rgb(10, 20, 30)",
        "accent": "hsl(120, 100%, 25%)",
        "background": "#fFf",
        "text": "rgba(0,0,0,0.8)",
    }
    payload = generate_report(client, token, dataset["id"], theme=theme)
    assert payload["errors"] == []
    job = wait_for_job(client, token, payload["job"]["id"])
    assert job["status"] == "SUCCEEDED", job
    html = client.get(payload["report"]["url"]).text
    assert all(colour in html for colour in ("#0a141e", "#008000", "#ffffff", "#000000cc"))


def test_a_bad_report_colour_setting_stops_the_server_at_start_up(tmp_path):
    with pytest.raises(ConfigurationError, match="ASSAY_REPORT_ACCENT"):
        create_app(make_settings(tmp_path, report_accent="rgb(300, 0, 0)"))


def test_reports_and_analyses_are_private(client, token):
    dataset = ingest(client, token, b"a,b\n1,2\n3,4\n")
    payload = generate_report(client, token, dataset["id"])
    wait_for_job(client, token, payload["job"]["id"])
    other = register(client)["accessToken"]
    assert (
        gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": payload["report"]["id"]}, other)["data"]["node"]
        is None
    )
    assert generate_report(client, other, dataset["id"])["errors"][0]["code"] == "NOT_FOUND"
    assert analyze(client, other, dataset["id"])["errors"][0]["code"] == "NOT_FOUND"
    url = payload["report"]["url"]
    assert client.get(url).status_code == 200 and client.get(url.replace("token=", "token=x")).status_code == 403
