"""compareDatasets end to end: statistics equal numpy's and scipy's on the same values, schema differences,
the report and overlays behind signed links, a preprocessed child, sampling, refusals and ownership."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="comparing two datasets")

COMPARE = """mutation($input: CompareDatasetsInput!) { compareDatasets(input: $input) {
  job { id kind status } errors { code message field } } }"""
SIDE = (
    "rows count nulls nullRatio distinct distinctExact mean std min p5 q1 median q3 p95 max top { value count ratio }"
)
COMPARISON = f"""id createdAt driftShare datasetDrift shareThreshold driftedColumns testedColumns reportUrl
  reference {{ id }} current {{ id }} job {{ id kind }}
  schemaDifference {{ added {{ name dtype semanticType }} dropped {{ name dtype }}
    typeChanged {{ name referenceDtype currentDtype }} }}
  sampling {{ sampleRows sampled referenceRows currentRows referenceTestRows currentTestRows method quantilesExact }}
  columns {{ name kind referenceDtype currentDtype note plotUrl reference {{ {SIDE} }} current {{ {SIDE} }}
    drift {{ method statistic pValue threshold score drifted referenceCount currentCount chosenBy }} }}"""
JOB = f"""query($id: ID!) {{ job(id: $id) {{ status error kind logs(last: 100) {{ message }}
  comparison {{ {COMPARISON} }} }} }}"""
PREPROCESS = """mutation($input: PreprocessDatasetInput!) { preprocessDataset(input: $input) {
  dataset { id } job { id } errors { code message field } } }"""
READ_BACK = """query($d: ID, $id: ID!) { comparisons(first: 5, datasetId: $d) { totalCount edges { node { id } } }
  comparison(id: $id) { id datasetDrift } node(id: $id) { ... on Comparison { testedColumns } } }"""


def frames(rows: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    reference = pd.DataFrame(
        {
            "x": rng.normal(0, 1, rows).round(6),
            "y": rng.normal(5, 2, rows).round(6),
            "city": rng.choice(["oslo", "rome", "lima"], rows, p=[0.5, 0.3, 0.2]),
            "code": rng.integers(1, 9, rows),
            "old": rng.normal(0, 1, rows).round(3),
        }
    )
    reference.loc[[3, 50, rows - 1], "y"] = np.nan
    reference.loc[[5, 9], "city"] = None
    current = pd.DataFrame(
        {
            "x": rng.normal(0, 1, rows).round(6),
            "y": rng.normal(6.5, 2, rows).round(6),
            "city": rng.choice(["oslo", "rome", "lima", "kyiv"], rows, p=[0.2, 0.3, 0.2, 0.3]),
            "code": [f"c{v}" for v in rng.integers(1, 9, rows)],
            "new": rng.integers(0, 5, rows),
        }
    )
    return reference, current


def upload_frame(client, token, frame: pd.DataFrame, name: str) -> tuple[dict, pd.DataFrame]:
    content = frame.to_csv(index=False).encode()
    dataset = ingest(client, token, content, name)
    return dataset, pd.read_csv(io.BytesIO(content))  # the values as the server parsed them


def compare(client, token, input_: dict) -> dict:
    payload = gql(client, COMPARE, {"input": input_}, token)["data"]["compareDatasets"]
    assert payload["errors"] == [], payload
    assert payload["job"]["kind"] == "COMPARE"
    wait_for_job(client, token, payload["job"]["id"], timeout=120)
    job = gql(client, JOB, {"id": payload["job"]["id"]}, token)["data"]["job"]
    assert job["status"] == "SUCCEEDED", job
    return job


def column(comparison: dict, name: str) -> dict:
    return next(c for c in comparison["columns"] if c["name"] == name)


@pytest.fixture
def versions(client, token):
    reference, current = frames()
    ref, ref_values = upload_frame(client, token, reference, "january.csv")
    cur, cur_values = upload_frame(client, token, current, "february.csv")
    return ref, cur, ref_values, cur_values


def test_two_versions_compared_with_statistics_equal_to_numpy_and_scipy(client, token, versions):
    ref, cur, ref_values, cur_values = versions
    job = compare(client, token, {"referenceId": ref["id"], "currentId": cur["id"]})
    comparison = job["comparison"]
    assert comparison["reference"]["id"] == ref["id"] and comparison["current"]["id"] == cur["id"]
    assert comparison["job"] == {"id": comparison["job"]["id"], "kind": "COMPARE"}
    messages = [line["message"] for line in job["logs"]]
    assert any(m.startswith("Verdict: ") for m in messages) and any(m.startswith("y: WASSERSTEIN") for m in messages)

    schema = comparison["schemaDifference"]
    assert [c["name"] for c in schema["added"]] == ["new"] and [c["name"] for c in schema["dropped"]] == ["old"]
    assert schema["typeChanged"] == [{"name": "code", "referenceDtype": "int64", "currentDtype": "string"}]
    assert [c["name"] for c in comparison["columns"]] == ["x", "y", "city", "code"]

    y = column(comparison, "y")
    assert y["kind"] == "NUMERIC"
    for side, values in (("reference", ref_values["y"]), ("current", cur_values["y"])):
        got, present = y[side], values.dropna().to_numpy()
        assert got["count"] == present.size and got["nulls"] == values.isna().sum() and got["rows"] == len(values)
        assert got["mean"] == pytest.approx(present.mean()) and got["std"] == pytest.approx(present.std(ddof=1))
        assert got["min"] == present.min() and got["max"] == present.max()
        for key, q in (("p5", 0.05), ("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("p95", 0.95)):
            assert got[key] == pytest.approx(np.quantile(present, q)), key
        distinct = len(np.unique(present))  # ~2,000: a HyperLogLog estimate, said so
        assert got["distinctExact"] is False and abs(got["distinct"] - distinct) <= 0.08 * distinct
    # 2,000 reference rows: a distance, as Evidently chooses; scipy's Wasserstein over the reference's std
    ref_y, cur_y = ref_values["y"].dropna().to_numpy(), cur_values["y"].dropna().to_numpy()
    expected = stats.wasserstein_distance(ref_y, cur_y) / np.std(ref_y)
    assert y["drift"]["method"] == "WASSERSTEIN" and y["drift"]["chosenBy"] == "DEFAULT"
    assert y["drift"]["statistic"] == pytest.approx(expected) and y["drift"]["drifted"] and y["drift"]["pValue"] is None

    city = column(comparison, "city")
    assert city["kind"] == "CATEGORICAL" and city["reference"]["nulls"] == 2
    assert city["reference"]["distinct"] == 3 and city["current"]["distinct"] == 4 and city["current"]["distinctExact"]
    counts = ref_values["city"].value_counts()
    assert [(t["value"], t["count"]) for t in city["reference"]["top"]] == list(
        zip(counts.index, counts.tolist(), strict=True)
    )
    keys = sorted(set(ref_values["city"].dropna()) | set(cur_values["city"].dropna()))
    shares = next(cur_values["city"].value_counts().reindex(keys, fill_value=0) for _ in (0,))
    ref_shares = counts.reindex(keys, fill_value=0)
    assert city["drift"]["method"] == "JENSEN_SHANNON"
    assert city["drift"]["statistic"] == pytest.approx(
        distance.jensenshannon(ref_shares / ref_shares.sum(), shares / shares.sum())
    )
    assert column(comparison, "x")["drift"]["drifted"] is False
    drifted = [c["name"] for c in comparison["columns"] if c["drift"]["drifted"]]
    assert comparison["driftedColumns"] == drifted and "y" in drifted and "city" in drifted
    assert comparison["testedColumns"] == 4 and comparison["driftShare"] == pytest.approx(len(drifted) / 4)
    assert comparison["datasetDrift"] is (len(drifted) / 4 >= 0.5) and comparison["shareThreshold"] == 0.5
    assert comparison["sampling"] == {
        "sampleRows": 100_000,
        "sampled": False,
        "referenceRows": 2000,
        "currentRows": 2000,
        "referenceTestRows": 2000,
        "currentTestRows": 2000,
        "method": "ALL_ROWS",
        "quantilesExact": True,
    }


def test_forced_tests_equal_scipy(client, token, versions):
    ref, cur, ref_values, cur_values = versions
    job = compare(
        client,
        token,
        {
            "referenceId": ref["id"],
            "currentId": cur["id"],
            "columns": ["x", "y", "city"],
            "tests": [
                {"method": "KS", "threshold": 0.01},
                {"column": "city", "method": "CHI_SQUARE"},
                {"column": "x", "method": "PSI", "threshold": 0.2},
            ],
        },
    )
    comparison = job["comparison"]
    assert [c["name"] for c in comparison["columns"]] == ["x", "y", "city"]
    y = column(comparison, "y")["drift"]
    ks = stats.ks_2samp(ref_values["y"].dropna(), cur_values["y"].dropna())
    assert y["method"] == "KS" and y["chosenBy"] == "USER" and y["threshold"] == 0.01
    assert y["statistic"] == pytest.approx(ks.statistic) and y["pValue"] == pytest.approx(
        ks.pvalue, rel=1e-6, abs=1e-300
    )
    assert y["score"] == y["pValue"] and y["drifted"] is True
    city = column(comparison, "city")["drift"]
    keys = sorted(set(ref_values["city"].dropna()) | set(cur_values["city"].dropna()))
    table = np.vstack(
        [
            ref_values["city"].value_counts().reindex(keys, fill_value=0),
            cur_values["city"].value_counts().reindex(keys, fill_value=0),
        ]
    )
    chi2, p_value, _, _ = stats.chi2_contingency(table)
    assert city["method"] == "CHI_SQUARE" and city["statistic"] == pytest.approx(chi2)
    assert city["pValue"] == pytest.approx(p_value, abs=1e-300) and city["threshold"] == 0.05
    x = column(comparison, "x")["drift"]
    assert x["method"] == "PSI" and x["threshold"] == 0.2 and x["pValue"] is None and x["drifted"] is False


def test_report_and_overlays_download_through_signed_links(client, token, versions):
    ref, cur, _, _ = versions
    comparison = compare(client, token, {"referenceId": ref["id"], "currentId": cur["id"]})["comparison"]
    report = client.get(comparison["reportUrl"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    html = report.text
    for section in ("Verdict", "Schema", "Drift by column", "Columns"):
        assert f">{section}<" in html, section
    assert "february.csv" in html and html.count("data:image/png;base64,") == 4
    for entry in comparison["columns"]:
        png = client.get(entry["plotUrl"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG")
    # A link names exactly one file: another comparison's or another plot's path refuses its token
    plot_url = column(comparison, "x")["plotUrl"]
    assert client.get(plot_url.replace("overlay_0.png", "overlay_1.png")).status_code == 403
    assert client.get(comparison["reportUrl"].split("?")[0]).status_code == 403
    # The comparison read back three ways: listed under its reference dataset, by id, and as a node
    read = gql(client, READ_BACK, {"d": ref["id"], "id": comparison["id"]}, token)["data"]
    listed = read["comparisons"]
    assert listed["totalCount"] == 1 and listed["edges"][0]["node"]["id"] == comparison["id"]
    assert read["comparison"] == {"id": comparison["id"], "datasetDrift": comparison["datasetDrift"]}
    assert read["node"] == {"testedColumns": 4}


def test_a_dataset_against_its_preprocessed_child(client, token, versions):
    ref, _, _ref_values, _ = versions
    payload = gql(
        client,
        PREPROCESS,
        {
            "input": {
                "datasetId": ref["id"],
                "steps": [{"scale": {"columns": ["y"], "strategy": "STANDARD"}}, {"dropColumns": {"columns": ["old"]}}],
            }
        },
        token,
    )["data"]["preprocessDataset"]
    assert payload["errors"] == [], payload
    assert wait_for_job(client, token, payload["job"]["id"])["status"] == "SUCCEEDED"
    comparison = compare(client, token, {"referenceId": ref["id"], "currentId": payload["dataset"]["id"]})["comparison"]
    assert [c["name"] for c in comparison["schemaDifference"]["dropped"]] == ["old"]
    assert comparison["schemaDifference"]["added"] == []
    y = column(comparison, "y")
    assert y["drift"]["drifted"] and y["current"]["mean"] == pytest.approx(0, abs=1e-9)
    assert y["current"]["std"] == pytest.approx(1, rel=1e-3)  # scaled with the population std
    for unchanged in ("x", "city", "code"):
        assert column(comparison, unchanged)["drift"]["drifted"] is False
        assert column(comparison, unchanged)["drift"]["statistic"] == pytest.approx(0, abs=1e-12)
    assert comparison["driftedColumns"] == ["y"] and comparison["datasetDrift"] is False


def test_large_versions_are_sampled_and_say_so(tmp_path):
    settings = make_settings(tmp_path, comparison_sample_rows=1000)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        reference, current = frames(rows=3000)
        ref, _ = upload_frame(client, token, reference, "big1.csv")
        cur, _ = upload_frame(client, token, current, "big2.csv")
        job = compare(client, token, {"referenceId": ref["id"], "currentId": cur["id"], "columns": ["y"]})
        comparison = job["comparison"]
        assert comparison["sampling"] == {
            "sampleRows": 1000,
            "sampled": True,
            "referenceRows": 3000,
            "currentRows": 3000,
            "referenceTestRows": 1000,
            "currentTestRows": 1000,
            "method": "RESERVOIR",
            "quantilesExact": True,
        }
        y = column(comparison, "y")
        assert y["reference"]["count"] == 2997  # statistics still cover every row
        assert y["drift"]["referenceCount"] + y["drift"]["currentCount"] <= 2000
        assert y["drift"]["method"] == "WASSERSTEIN"  # chosen by the whole reference's size, not the sample's
        assert any("reservoir sample of at most 1,000 rows" in line["message"] for line in job["logs"])


ERRORS = [
    ({"columns": ["nope"]}, "INVALID_INPUT", ["columns", "0"]),
    ({"columns": ["x", "old"]}, "INVALID_INPUT", ["columns", "1"]),
    ({"columns": []}, "INVALID_INPUT", ["columns"]),
    ({"tests": [{"column": "city", "method": "KS"}]}, "INVALID_INPUT", ["tests", "0", "method"]),
    ({"tests": [{"method": "WASSERSTEIN"}]}, "INVALID_INPUT", ["tests", "0", "method"]),
    ({"tests": [{"column": "x", "method": "KS", "threshold": 1.5}]}, "INVALID_INPUT", ["tests", "0", "threshold"]),
    ({"tests": [{"threshold": 0}]}, "INVALID_INPUT", ["tests", "0", "threshold"]),
    ({"tests": [{"column": "old"}]}, "INVALID_INPUT", ["tests", "0", "column"]),
    ({"tests": [{"column": "x"}, {"column": "x", "method": "PSI"}]}, "INVALID_INPUT", ["tests", "1", "column"]),
]


def test_bad_requests_are_refused_naming_the_field_and_store_nothing(client, token, versions):
    ref, cur, _, _ = versions
    for extra, code, field in ERRORS:
        payload = gql(client, COMPARE, {"input": {"referenceId": ref["id"], "currentId": cur["id"], **extra}}, token)[
            "data"
        ]["compareDatasets"]
        assert payload["job"] is None and payload["errors"][0]["code"] == code, (extra, payload)
        assert payload["errors"][0]["field"] == field, (extra, payload)
    assert gql(
        client,
        COMPARE,
        {"input": {"referenceId": ref["id"], "currentId": cur["id"], "tests": [{"method": "NOPE"}]}},
        token,
    )["errors"]  # not an enum value
    unrelated = ingest(client, token, b"a,b\n1,2\n3,4\n", "unrelated.csv")
    payload = gql(client, COMPARE, {"input": {"referenceId": ref["id"], "currentId": unrelated["id"]}}, token)["data"][
        "compareDatasets"
    ]
    assert payload["errors"][0]["field"] == ["currentId"] and "no column in common" in payload["errors"][0]["message"]
    jobs = gql(client, "{ jobs(kind: [COMPARE]) { totalCount } comparisons { totalCount } }", {}, token)["data"]
    assert jobs == {"jobs": {"totalCount": 0}, "comparisons": {"totalCount": 0}}


def test_another_users_datasets_and_comparisons_are_not_found(client, token, versions):
    ref, cur, _, _ = versions
    comparison = compare(client, token, {"referenceId": ref["id"], "currentId": cur["id"], "columns": ["x"]})[
        "comparison"
    ]
    other = register(client)["accessToken"]
    mine = ingest(client, other, b"x\n1\n2\n3\n", "mine.csv")
    for input_, field in (
        ({"referenceId": ref["id"], "currentId": mine["id"]}, ["referenceId"]),
        ({"referenceId": mine["id"], "currentId": cur["id"]}, ["currentId"]),
    ):
        payload = gql(client, COMPARE, {"input": input_}, other)["data"]["compareDatasets"]
        assert payload["errors"] == [{"code": "NOT_FOUND", "message": "Dataset not found", "field": field}]
    seen = gql(
        client,
        "query($id: ID!) { comparison(id: $id) { id } comparisons { totalCount } }",
        {"id": comparison["id"]},
        other,
    )["data"]
    assert seen == {"comparison": None, "comparisons": {"totalCount": 0}}
    assert (
        gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": comparison["id"]}, other)["data"]["node"] is None
    )
    job = gql(client, "query($id: ID!) { job(id: $id) { id } }", {"id": comparison["job"]["id"]}, other)["data"]["job"]
    assert job is None
    # a signed link is the owner's: the other user's token cannot be swapped in, and the link itself still works
    assert client.get(comparison["reportUrl"]).status_code == 200
