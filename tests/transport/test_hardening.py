"""Issue 21's malformed inputs, each through /graphql: a typed error naming the field, or a job that succeeds.

Never an "Internal server error", never a job failed with "Internal error", nothing left half-made.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql, ingest, register, upload, wait_for_job
from tests.support.settings import make_settings

ROWS = 60
TABLE = (
    "n,x,when,day,label\n"
    + "".join(
        f"{i},{i * 2.5},2024-01-{i % 28 + 1:02d}T10:00:00+02:00,{'' if i % 7 == 0 else f'2024-02-{i % 3 + 1:02d}'},"
        f"{'x' if i % 3 else 'y'}\n"
        for i in range(ROWS)
    )
).encode()
TRAIN = """mutation($i: TrainModelInput!) { trainModel(input: $i) { model { id status } job { id }
  errors { code message field } } }"""
PREPROCESS = """mutation($i: PreprocessDatasetInput!) { preprocessDataset(input: $i) {
  dataset { id } job { id } errors { code message field } } }"""
ROWS_OF = "query($id: ID!) { dataset(id: $id) { columns { name dtype } rows(limit: 100) { columns rows } } }"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One server, one user, a table with a zone-aware time, a date with gaps, and a trained model."""
    # Numbers up to 500 characters pass the transport's limit here, so the services' own checks are what answer.
    settings = make_settings(tmp_path_factory.mktemp("hardening"), max_number_length=500)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        dataset = ingest(client, token, TABLE, "mixed.csv")
        assert dataset["status"] == "READY", dataset
        trained = gql(
            client,
            TRAIN,
            {"i": {"datasetId": dataset["id"], "target": "label", "algorithms": ["LOGISTIC_REGRESSION"]}},
            token,
        )["data"]["trainModel"]
        assert wait_for_job(client, token, trained["job"]["id"], timeout=120)["status"] == "SUCCEEDED"
        yield {
            "client": client,
            "token": token,
            "dataset": dataset,
            "model": trained["model"]["id"],
            "data_dir": Path(settings.resolved_data_dir),
        }


def ask(world, query: str, variables: dict | None = None) -> dict:
    return gql(world["client"], query, variables, world["token"])


def assert_field_error(result: dict, code: str, field: list[str]) -> None:
    """A GraphQL error (query fields) with a code and the field, never a masked one."""
    assert "Internal server error" not in str(result), result
    error = result["errors"][0]
    assert error["extensions"]["code"] == code and error["extensions"].get("field") == field, result


def assert_user_error(payload: dict, code: str, field: list[str]) -> None:
    assert payload["errors"] and payload["errors"][0]["code"] == code and payload["errors"][0]["field"] == field, (
        payload
    )


# ---- item 2: masked internal errors on ordinary requests ----

PREDICT = (
    """mutation($i: PredictInput!) { predict(input: $i) { predictions { value } errors { code message field } } }"""
)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"n": 10**400, "x": 1.0}, ["rows", "0", "n"]),
        ({"n": 1, "x": -(10**309)}, ["rows", "0", "x"]),
    ],
)
def test_predict_refuses_integers_too_large_for_a_float(world, row, field):
    result = ask(world, PREDICT, {"i": {"modelId": world["model"], "rows": [row]}})
    assert_user_error(result["data"]["predict"], "INVALID_INPUT", field)


def test_predict_takes_times_in_any_zone_mixed(world):
    rows = [
        {"n": 1, "x": 2.0, "when": "2024-01-05T10:00:00+02:00", "day": "2024-02-01"},
        {"n": 2, "x": 3.0, "when": "2024-01-05", "day": None},
    ]
    payload = ask(world, PREDICT, {"i": {"modelId": world["model"], "rows": rows}})["data"]["predict"]
    assert payload["errors"] == [] and len(payload["predictions"]) == 2


@pytest.mark.parametrize("lister", ["datasets", "models", "jobs", "pipelines"])
@pytest.mark.parametrize("cursor", [b"2024-01-01T00:00:00|abc", b"not a time|x", b"\xff\xfe", b"no separator"])
def test_foreign_cursors_are_invalid_input(world, lister, cursor):
    after = base64.urlsafe_b64encode(cursor).decode()
    assert_field_error(
        ask(world, f"query($a: String) {{ {lister}(first: 5, after: $a) {{ totalCount }} }}", {"a": after}),
        "INVALID_INPUT",
        ["after"],
    )


def test_a_search_longer_than_any_name_is_refused(world):
    result = ask(world, "query($s: String) { datasets(first: 5, search: $s) { totalCount } }", {"s": "x" * 50_001})
    assert_field_error(result, "INVALID_INPUT", ["search"])
    longest = ask(world, "query($s: String) { datasets(first: 5, search: $s) { totalCount } }", {"s": "m" * 255})
    assert longest["data"]["datasets"]["totalCount"] == 0


def test_histogram_over_a_zone_aware_column(world):
    result = ask(
        world,
        'query($id: ID!) { dataset(id: $id) { chart(input: {type: HISTOGRAM, x: "when", bins: 4}) { points { y } } } }',
        {"id": world["dataset"]["id"]},
    )
    assert sum(p["y"] for p in result["data"]["dataset"]["chart"]["points"]) == ROWS


BAD_URLS = [
    "http://[::1",
    "http://127.0.0.1:99999/",
    f"http://{'a' * 64}.example/",
    "http://exa mple.com/",
    "http://a..b/",
    "http://-bad.example/",
    "http://1.2.3.4.5/",
    "http://2130706433/",
    "http://[fe80::1%25eth0]/",
    "http://host:0/",
    "http://host:-1/",
    "http://\u0378.example/",
    f"http://{'a.' * 127}example/",
    "http://%00/",
    "http://[v1.x]/",
    "https://[::1]:65536/",
    "http://example.com/\x00",
]
CREATE = """mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { pipeline { id } errors { code
message field } } }"""
PREVIEW = """mutation($i: PreviewSourceInput!) { previewSource(input: $i) { preview { log } errors { code message
field } } }"""


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("kind", ["http", "scrape"])
def test_unusable_source_urls_are_refused_before_any_lookup(world, url, kind):
    source = (
        {"http": {"url": url}}
        if kind == "http"
        else {"scrape": {"url": url, "rowSelector": "tr", "fields": [{"name": "a", "selector": "td"}]}}
    )
    created = ask(world, CREATE, {"i": {"name": "p", "source": source, "sink": {"dataset": {"name": "out"}}}})
    assert_user_error(created["data"]["createPipeline"], "INVALID_INPUT", ["source", kind, "url"])
    assert "Cannot resolve" not in created["data"]["createPipeline"]["errors"][0]["message"]  # refused before DNS
    previewed = ask(world, PREVIEW, {"i": {"source": source}})
    assert_user_error(previewed["data"]["previewSource"], "INVALID_INPUT", ["source", kind, "url"])


def test_a_bad_logo_url_is_refused(world):
    payload = ask(
        world,
        """mutation($i: GenerateReportInput!) { generateReport(input: $i) { report { id }
        errors { code message field } } }""",
        {"i": {"datasetId": world["dataset"]["id"], "theme": {"logoUrl": "http://[::1"}}},
    )["data"]["generateReport"]
    assert_user_error(payload, "INVALID_INPUT", ["theme", "logoUrl"])


EXPORT = "query($id: ID!) { model(id: $id) { status exportUrl(format: %s) } }"


def failed_model(world) -> str:
    started = train(world, target="label")
    ask(world, "mutation($id: ID!) { cancelJob(input: {id: $id}) { errors { code } } }", {"id": started["job"]["id"]})
    wait_for_job(world["client"], world["token"], started["job"]["id"])
    return started["model"]["id"]


def test_exporting_a_model_without_a_file_is_not_found(world):
    model_id = failed_model(world)
    for fmt in ("ONNX", "JOBLIB", "SKOPS"):
        result = ask(world, EXPORT % fmt, {"id": model_id})
        assert_field_error(result, "NOT_FOUND", ["exportUrl"])
    ready = ask(world, EXPORT % "JOBLIB", {"id": world["model"]})["data"]["model"]["exportUrl"]
    assert world["client"].get(ready).status_code == 200


# ---- item 3: jobs must not fail with "Internal error" for want of a check ----


def finished(world, job_id: str) -> dict:
    job = wait_for_job(world["client"], world["token"], job_id, timeout=120)
    assert "Internal error" not in (job["error"] or ""), job
    return job


def preprocess(world, *steps: dict) -> dict:
    """`preprocessDataset`'s payload: the world's table through these steps."""
    variables = {"i": {"datasetId": world["dataset"]["id"], "steps": list(steps)}}
    return ask(world, PREPROCESS, variables)["data"]["preprocessDataset"]


def train(world, **input_fields) -> dict:
    """`trainModel`'s payload for the world's table and these input fields."""
    return ask(world, TRAIN, {"i": {"datasetId": world["dataset"]["id"], **input_fields}})["data"]["trainModel"]


def test_datetime_features_of_zone_aware_times(world):
    payload = preprocess(world, {"datetimeFeatures": {"columns": ["when"], "parts": ["year", "hour", "epoch"]}})
    assert finished(world, payload["job"]["id"])["status"] == "SUCCEEDED"
    table = ask(world, ROWS_OF, {"id": payload["dataset"]["id"]})["data"]["dataset"]["rows"]
    first = dict(zip(table["columns"], table["rows"][0], strict=True))
    assert first["when_year"] == 2024 and first["when_hour"] == 8  # 10:00+02:00 is 08:00 UTC


def test_a_model_with_a_zone_aware_feature_trains(world):
    payload = train(world, target="label", features=["when", "x"], algorithms=["RANDOM_FOREST"])
    assert payload["errors"] == [] and finished(world, payload["job"]["id"])["status"] == "SUCCEEDED"


def test_impute_mode_on_a_date_column(world):
    payload = preprocess(world, {"impute": {"columns": ["day"], "strategy": "MODE"}})
    assert payload["errors"] == [] and finished(world, payload["job"]["id"])["status"] == "SUCCEEDED"
    table = ask(world, ROWS_OF, {"id": payload["dataset"]["id"]})["data"]["dataset"]["rows"]
    assert None not in [row[table["columns"].index("day")] for row in table["rows"]]


def test_the_same_steps_run_in_a_pipeline(world):
    created = ask(
        world,
        CREATE,
        {
            "i": {
                "name": "steps",
                "source": {"dataset": {"datasetId": world["dataset"]["id"]}},
                "steps": [
                    {"impute": {"columns": ["day"], "strategy": "MODE"}},
                    {"datetimeFeatures": {"columns": ["when"]}},
                ],
                "sink": {"dataset": {"name": "cleaned"}},
            }
        },
    )["data"]["createPipeline"]
    assert created["errors"] == []
    run = ask(
        world,
        "mutation($id: ID!) { runPipeline(input: {id: $id}) { job { id } errors { code } } }",
        {"id": created["pipeline"]["id"]},
    )["data"]["runPipeline"]
    assert finished(world, run["job"]["id"])["status"] == "SUCCEEDED"


JOB_COUNT = "{ jobs(first: 1) { totalCount } models(first: 1) { totalCount } }"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"seed": -1}, ["seed"]),
        ({"seed": -(2**31)}, ["seed"]),
        ({"testSize": 0.999}, ["testSize"]),
        ({"testSize": 0.001}, ["testSize"]),
        ({"cvFolds": 20, "testSize": 0.6}, ["cvFolds"]),  # 24 training rows, but the larger class has only 16
        ({"timeBudgetSeconds": 0}, ["timeBudgetSeconds"]),
    ],
)
def test_train_model_checks_numbers_before_a_job(world, spec, field):
    before = ask(world, JOB_COUNT)["data"]
    assert_user_error(train(world, target="label", **spec), "INVALID_INPUT", field)
    assert ask(world, JOB_COUNT)["data"] == before  # no job, no model row


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_non_finite_numbers_are_refused_while_coercing(world, number):
    """JSON parsers accept Infinity and NaN; GraphQL's Float does not, so no resolver ever sees them."""
    body = (
        '{"query": "mutation($i: TrainModelInput!) { trainModel(input: $i) { errors { code } } }", '
        f'"variables": {{"i": {{"datasetId": "{world["dataset"]["id"]}", "target": "label", "testSize": {number}}}}}}}'
    )
    response = world["client"].post(
        "/graphql",
        content=body,
        headers={"authorization": f"Bearer {world['token']}", "content-type": "application/json"},
    )
    assert response.status_code < 500 and "Float cannot represent" in response.json()["errors"][0]["message"]


ANALYZE = (
    """mutation($i: AnalyzeDatasetInput!) { analyzeDataset(input: $i) { job { id } errors { code message field } } }"""
)


def test_analyze_refuses_an_identifier_target_as_train_model_does(world):
    ids = ingest(
        world["client"], world["token"], b"code,x,y\n" + b"".join(f"c{i:03d},{i},{i % 2}\n".encode() for i in range(80))
    )
    assert ids["columns"][0]["semanticType"] == "IDENTIFIER"
    before = ask(world, JOB_COUNT)["data"]
    analyzed = ask(world, ANALYZE, {"i": {"datasetId": ids["id"], "target": "code"}})["data"]["analyzeDataset"]
    trained = ask(world, TRAIN, {"i": {"datasetId": ids["id"], "target": "code"}})["data"]["trainModel"]
    assert_user_error(analyzed, "INVALID_INPUT", ["target"])
    assert_user_error(trained, "INVALID_INPUT", ["target"])
    assert analyzed["errors"][0]["message"] == trained["errors"][0]["message"]  # one rule, one message
    assert ask(world, JOB_COUNT)["data"] == before


UNUSABLE_ENCODINGS = ("rot13", "base64", "zlib", "idna", "utf-16", "utf-32")


@pytest.mark.parametrize(
    ("option", "value"),
    [*(("encoding", name) for name in UNUSABLE_ENCODINGS), ("delimiter", "é"), ("delimiter", "\x00")],
)
def test_csv_options_ingest_cannot_use_are_refused_before_a_job(world, option, value):
    before = ask(world, "{ datasets(first: 1) { totalCount } jobs(first: 1) { totalCount } }")["data"]
    payload = upload(world["client"], world["token"], b"a,b\n1,2\n3,4\n", csv={option: value})["data"]["uploadDataset"]
    assert_user_error(payload, "INVALID_INPUT", ["csv", option])
    assert ask(world, "{ datasets(first: 1) { totalCount } jobs(first: 1) { totalCount } }")["data"] == before
    assert not any((world["data_dir"] / "uploads").glob("*")) if (world["data_dir"] / "uploads").exists() else True


def test_utf16_with_its_byte_order_mark_is_read(world):
    content = "a;b\n1;é\n2;ü\n".encode("utf-16")  # Python writes the BOM
    dataset = ingest(world["client"], world["token"], content, csv={"encoding": "utf-16", "delimiter": ";"})
    assert dataset["status"] == "READY" and dataset["rows"]["rows"] == [[1, "é"], [2, "ü"]]
