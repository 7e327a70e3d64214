"""Profiles through the API, checked against pandas and scipy on the same data."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.support.graphql import gql, ingest, register, wait_for_job

pytestmark = pytest.mark.one_database(reason="profile statistics")

PROFILE = (
    "mutation($id: ID!, $plots: Boolean!) { profileDataset(input: {datasetId: $id, plots: $plots}) { job { "
    "id } errors { code message field } } }"
)
READ = """query($id: ID!) { dataset(id: $id) { profile {
  rowCount columnCount missingCells missingCellsRatio duplicateRows memoryBytes generatedAt durationMs sampling
  columns { name semanticType dtype count nullCount nullRatio distinctCount isUnique
    numeric { min max mean std p5 q1 median q3 p95 iqr mad skewness kurtosis sum zeros negatives infinite
    outliers monotonic }
    datetime { min max rangeSeconds inferredFrequency } text { minLength maxLength meanLength }
    histogram { edges counts } topValues(limit: 3) { value count ratio } }
  pearson: correlations(method: PEARSON) { columns values }
  spearman: correlations(method: SPEARMAN) { columns values }
  kendall: correlations(method: KENDALL) { columns values }
  cramers: correlations(method: CRAMERS_V) { columns values }
  missingPatterns(limit: 5) { columns count ratio }
  alerts { kind column columns message value }
  timeSeries { column frequency monotonic gaps } }
  plots { kind column url } } }"""


def real_looking_frame(rows: int = 2000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.8, rows)
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "region": rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1]),
            "tier": rng.choice(["gold", "silver"], rows),
            "income": income,
            "spend": income * 0.3 + rng.normal(0, 500, rows),
            "age": rng.integers(18, 90, rows).astype(float),
            "visits": rng.poisson(0.5, rows),
            "comment": [f"note number {i} about this customer" for i in range(rows)],
        }
    )
    frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.05, ["age", "spend"]] = np.nan
    return frame


def run_profile(client, token, dataset_id, plots=False) -> dict:
    started = gql(client, PROFILE, {"id": dataset_id, "plots": plots}, token)["data"]["profileDataset"]
    assert started["errors"] == [], started
    job = wait_for_job(client, token, started["job"]["id"])
    assert job["status"] == "SUCCEEDED", job
    return gql(client, READ, {"id": dataset_id}, token)["data"]["dataset"]


@pytest.fixture
def profiled(client, token):
    frame = real_looking_frame()
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    dataset = ingest(client, token, buffer.getvalue().encode(), "customers.csv")
    result = run_profile(client, token, dataset["id"], plots=True)
    return frame, result, dataset


def close(a, b, tolerance=1e-9):
    return (a is None and (b is None or (isinstance(b, float) and math.isnan(b)))) or math.isclose(
        a, b, rel_tol=tolerance, abs_tol=tolerance
    )


def test_numeric_stats_match_pandas_and_scipy(profiled):
    frame, result, _ = profiled
    columns = {c["name"]: c for c in result["profile"]["columns"]}
    for name in ("income", "spend", "age"):
        series = frame[name].dropna()
        got = columns[name]["numeric"]
        assert close(got["mean"], series.mean()) and close(got["std"], series.std())
        assert close(got["min"], series.min()) and close(got["max"], series.max()) and close(got["sum"], series.sum())
        assert close(got["median"], series.median()) and close(got["q1"], series.quantile(0.25))
        assert close(got["p5"], series.quantile(0.05)) and close(got["p95"], series.quantile(0.95))
        assert close(got["skewness"], series.skew()) and close(got["kurtosis"], series.kurt())
        assert close(got["mad"], stats.median_abs_deviation(series))
        iqr = series.quantile(0.75) - series.quantile(0.25)
        outliers = ((series < series.quantile(0.25) - 1.5 * iqr) | (series > series.quantile(0.75) + 1.5 * iqr)).sum()
        assert got["outliers"] == outliers
        assert columns[name]["nullCount"] == frame[name].isna().sum()
        assert columns[name]["distinctCount"] == series.nunique()
    assert columns["visits"]["numeric"]["zeros"] == (frame["visits"] == 0).sum()
    hist = columns["income"]["histogram"]
    assert sum(hist["counts"]) == len(frame) and len(hist["edges"]) == len(hist["counts"]) + 1


def test_correlations_match_pandas_and_scipy(profiled):
    frame, result, _ = profiled
    profile = result["profile"]
    pearson = profile["pearson"]
    numeric = pearson["columns"]
    assert set(numeric) == {"income", "spend", "age", "visits"}
    expected = frame[numeric].corr(method="pearson").to_numpy()
    assert np.allclose(np.array(pearson["values"], dtype=float), expected)
    assert np.allclose(
        np.array(profile["spearman"]["values"], dtype=float), frame[numeric].corr(method="spearman").to_numpy()
    )
    i, j = numeric.index("income"), numeric.index("spend")
    pair = frame[["income", "spend"]].dropna()
    assert math.isclose(
        profile["kendall"]["values"][i][j], stats.kendalltau(pair.income, pair.spend).statistic, rel_tol=1e-9
    )
    assert set(profile["cramers"]["columns"]) == {"region", "tier"}


def test_cramers_v_is_bias_corrected():
    from services.profiling.statistics import cramers_v

    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 5000)
    independent = rng.integers(0, 3, 5000)
    assert cramers_v(a, 4, independent, 3) < 0.05
    assert math.isclose(cramers_v(a, 4, a, 4), 1.0)
    # The same figure as scipy's contingency association without correction is larger than ours on noise.
    table = pd.crosstab(a, independent).to_numpy()
    assert stats.contingency.association(table, method="cramer") >= cramers_v(a, 4, independent, 3)


def test_table_level_counts_missing_patterns_and_time_series(profiled):
    frame, result, _ = profiled
    profile = result["profile"]
    assert profile["rowCount"] == len(frame) and profile["columnCount"] == frame.shape[1]
    assert profile["missingCells"] == int(frame.isna().sum().sum())
    patterns = frame[["spend", "age"]].isna()
    both = int((patterns.spend & patterns.age).sum())
    age_only = int((~patterns.spend & patterns.age).sum())
    got = {tuple(p["columns"]): p["count"] for p in profile["missingPatterns"]}
    assert got[("spend", "age")] == both and got[("age",)] == age_only
    assert profile["timeSeries"] == {"column": "when", "frequency": "h", "monotonic": True, "gaps": 0}
    when = next(c for c in profile["columns"] if c["name"] == "when")
    assert when["datetime"]["inferredFrequency"] == "h" and when["datetime"]["rangeSeconds"] == (len(frame) - 1) * 3600
    comment = next(c for c in profile["columns"] if c["name"] == "comment")
    assert comment["text"]["minLength"] == frame.comment.str.len().min()
    region = next(c for c in profile["columns"] if c["name"] == "region")
    assert region["topValues"][0] == {
        "value": "north",
        "count": int((frame.region == "north").sum()),
        "ratio": float((frame.region == "north").mean()),
    }
    assert profile["sampling"]["kendall_rows"] == len(frame)


def test_alerts_on_crafted_columns(client, token):
    rows = 400
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, rows)
    frame = pd.DataFrame(
        {
            "constant": ["same"] * rows,
            "mostly_missing": [None if i % 3 else float(i) for i in range(rows)],
            "skewed": rng.exponential(1, rows) ** 3,
            "zeros": [0] * 300 + list(range(1, 101)),
            "imbalanced": ["a"] * 390 + ["b"] * 10,
            "uniform": np.arange(rows, dtype=float) / 7.0,
            "twin_a": base,
            "twin_b": base * 2 + 0.001 * rng.normal(0, 1, rows),
            "mixed": [str(i) if i % 2 else f"word{i}" for i in range(rows)],
            "code": [f"id{i:05d}" for i in range(rows)],
        }
    )
    frame = pd.concat([frame, frame.iloc[:5]], ignore_index=True)
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "crafted.csv")
    alerts = run_profile(client, token, dataset["id"])["profile"]["alerts"]
    kinds = {(a["kind"], a["column"]) for a in alerts}
    for expected in [
        ("CONSTANT", "constant"),
        ("MISSING", "mostly_missing"),
        ("SKEWED", "skewed"),
        ("ZEROS", "zeros"),
        ("IMBALANCED", "imbalanced"),
        ("UNIFORM", "uniform"),
        ("MIXED_TYPES", "mixed"),
        ("OUTLIERS", "skewed"),
        ("DUPLICATES", None),
    ]:
        assert expected in kinds, (expected, kinds)
    assert any(a["kind"] == "HIGH_CORRELATION" and set(a["columns"]) == {"twin_a", "twin_b"} for a in alerts)
    assert ("UNIQUE", "uniform") not in kinds  # the duplicated rows make it non-unique
    assert all(a["message"] for a in alerts)


def test_plots_serve_png_only_to_signed_links(profiled, client, token, settings):
    _, result, dataset = profiled
    plots = result["plots"]
    kinds = {p["kind"] for p in plots}
    assert {"HISTOGRAM", "BOX", "CORRELATION_HEATMAP", "MISSING_MATRIX"} <= kinds
    histogram = next(p for p in plots if p["kind"] == "HISTOGRAM" and p["column"] == "income")
    response = client.get(histogram["url"])
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert client.get(histogram["url"].replace("token=", "token=x")).status_code == 403
    other = next(p for p in plots if p["kind"] == "MISSING_MATRIX")
    swapped = histogram["url"].split("?")[0] + "?" + other["url"].split("?")[1]
    assert client.get(swapped).status_code == 403
    from schema.common import raw_id
    from services.files import sign_download

    path = histogram["url"].split("?")[0]
    expired = sign_download(
        secret=settings.resolved_secret_key,
        owner_id="x",
        kind="plot",
        object_id=raw_id(dataset["id"], "Dataset"),
        fmt=path.rsplit("/", 1)[1],
        minutes=-1,
    )
    assert client.get(f"{path}?token={expired}").status_code == 403
    assert client.get(path.rsplit("/", 1)[0] + "/..%2Fprofile.json?token=x").status_code in (403, 404)


def test_profile_is_private_and_refuses_bad_input(profiled, client, token):
    _, _, dataset = profiled
    other = register(client)["accessToken"]
    assert gql(client, READ, {"id": dataset["id"]}, other)["data"]["dataset"] is None
    refused = gql(client, PROFILE, {"id": dataset["id"], "plots": False}, other)["data"]["profileDataset"]
    assert refused["errors"][0]["code"] == "NOT_FOUND" and refused["job"] is None
    bins = gql(
        client,
        "mutation($id: ID!) { profileDataset(input: {datasetId: $id, bins: 0}) { errors { code field } } }",
        {"id": dataset["id"]},
        token,
    )["data"]["profileDataset"]
    assert bins["errors"] == [{"code": "INVALID_INPUT", "field": ["bins"]}]


def test_no_profile_until_profiled(client, token):
    dataset = ingest(client, token, b"a,b\n1,2\n3,4\n")
    result = gql(client, READ, {"id": dataset["id"]}, token)["data"]["dataset"]
    assert result["profile"] is None and result["plots"] == []


def test_plots_are_drawn_on_first_request_and_replaced_by_the_next_profile(client, token, settings):
    """The job only lists the plots (it is SUCCEEDED once the statistics are stored); each PNG is drawn from the
    stored profile when first asked for, kept, and dropped when a new profile replaces the old one."""
    from schema.common import raw_id
    from services.files import plots_dir

    frame = real_looking_frame(300)
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "lazy.csv")
    folder = plots_dir(settings.resolved_data_dir, raw_id(dataset["id"], "Dataset"))
    plots = run_profile(client, token, dataset["id"], plots=True)["plots"]
    assert {"HISTOGRAM", "BOX", "CORRELATION_HEATMAP", "MISSING_MATRIX"} <= {p["kind"] for p in plots}
    assert not folder.exists()  # nothing drawn by the job
    box = next(p for p in plots if p["kind"] == "BOX" and p["column"] == "income")
    matrix = next(p for p in plots if p["kind"] == "MISSING_MATRIX")
    for plot in (box, matrix):
        response = client.get(plot["url"])
        assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    drawn = sorted(path.name for path in folder.iterdir())
    assert drawn == sorted(p["url"].split("?")[0].rsplit("/", 1)[1] for p in (box, matrix))
    run_profile(client, token, dataset["id"], plots=True)
    assert not folder.exists()  # the new profile's plots are drawn from the new statistics
    assert run_profile(client, token, dataset["id"], plots=False)["plots"] == []
