"""A profile of a table larger than the job's memory budget: the engine spills, the profile approximates what
it cannot hold, and says so per figure — checked through /graphql against the exact figures of the same data."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.graphql import gql, ingest, wait_for_job
from tests.support.settings import make_settings

pytestmark = [
    pytest.mark.slow,  # a 1,000,000-row table profiled twice (CI runs it)
    pytest.mark.one_database(reason="profiling within a memory budget"),
]

BUDGET_MB = 64
ROWS = 1_000_000  # (Parquet uploads are capped at 1,048,576 rows)

PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: true}) { job { id } errors { code } } }"
READ = """query($id: ID!) { dataset(id: $id) { profile {
  rowCount duplicateRows sampling
  approximations { figure column method rows sampleRows errorBound detail }
  columns { name count nullCount distinctCount isUnique topValues(limit: 3) { value count }
    numeric { min max mean std skewness kurtosis sum median q1 q3 p5 p95 } histogram { counts } } }
  plots { kind column url } } }"""


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, job_memory_mb=BUDGET_MB)


def larger_than_budget() -> tuple[pa.Table, bytes]:
    rng = np.random.default_rng(11)
    table = pa.table(
        {
            "reading": pa.array(rng.normal(50, 10, ROWS), mask=rng.random(ROWS) < 0.05),
            "amount": rng.lognormal(3, 1, ROWS),
            "customer": pa.array([f"customer-{i:012d}" for i in rng.permutation(ROWS)]),
            "tier": rng.choice(["gold", "silver", "bronze"], ROWS, p=[0.2, 0.3, 0.5]),
            "visits": rng.integers(0, 1000, ROWS),
            "note": pa.array(np.char.add("note about ", rng.choice([f"topic {i}" for i in range(2000)], ROWS))),
        }
    )
    assert table.nbytes > BUDGET_MB * 1024 * 1024  # the table alone would not fit the job's budget
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=128 * 1024)
    return table, buffer.getvalue()


def close(a, b, tolerance=1e-9):
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def test_a_table_larger_than_the_budget_is_profiled_with_its_approximations_stated(client, token, settings):
    table, content = larger_than_budget()
    dataset = ingest(client, token, content, "readings.parquet")
    assert dataset["status"] == "READY", (dataset["error"], dataset["job"]["error"])
    started = gql(client, PROFILE, {"id": dataset["id"]}, token)["data"]["profileDataset"]
    job = wait_for_job(client, token, started["job"]["id"], timeout=600)
    assert job["status"] == "SUCCEEDED", job
    result = gql(client, READ, {"id": dataset["id"]}, token)["data"]["dataset"]
    profile = result["profile"]
    columns = {c["name"]: c for c in profile["columns"]}
    frame = table.to_pandas()

    # Exact at any size: counts, nulls, min/max, sum, mean, std, skewness, kurtosis; duplicates (a spilled aggregation)
    assert profile["rowCount"] == ROWS and profile["duplicateRows"] == 0
    for name in ("reading", "amount", "visits"):
        series, got = frame[name].dropna(), columns[name]["numeric"]
        assert columns[name]["count"] == len(series) and columns[name]["nullCount"] == ROWS - len(series)
        for field, expected in (
            ("min", series.min()),
            ("max", series.max()),
            ("mean", series.mean()),
            ("std", series.std()),
            ("skewness", series.skew()),
            ("kurtosis", series.kurt()),
            ("sum", series.sum()),
        ):
            assert close(got[field], float(expected), 1e-7), (name, field, got[field], expected)
        assert sum(columns[name]["histogram"]["counts"]) == len(series)
        # Quantiles are T-Digest estimates, within the stated rank error
        ordered = np.sort(series.to_numpy())
        for field, q in (("p5", 0.05), ("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("p95", 0.95)):
            rank = np.searchsorted(ordered, got[field]) / len(ordered)
            assert abs(rank - q) <= 0.01, (name, field, rank)
    # A hash aggregation of three levels fits: exact; a million customers do not: HyperLogLog within its bound
    assert columns["tier"]["distinctCount"] == 3
    assert columns["tier"]["topValues"][0] == {"value": "bronze", "count": int((frame.tier == "bronze").sum())}
    assert columns["visits"]["distinctCount"] == frame.visits.nunique()
    assert abs(columns["customer"]["distinctCount"] / ROWS - 1) <= 0.08 and columns["customer"]["isUnique"]

    stated = {(a["figure"], a["column"]): a for a in profile["approximations"]}
    assert (
        stated[("QUANTILES", "reading")]["method"] == "T_DIGEST"
        and stated[("QUANTILES", "reading")]["errorBound"] == 0.01
    )
    assert stated[("DISTINCT_COUNT", "customer")]["method"] == "HYPERLOGLOG"
    assert stated[("TOP_VALUES", "customer")]["sampleRows"] == 100_000
    assert stated[("CORRELATIONS", None)]["sampleRows"] == 100_000 and stated[("KENDALL", None)]["sampleRows"] == 5_000
    assert ("DISTINCT_COUNT", "tier") not in stated and ("DISTINCT_COUNT", "visits") not in stated
    assert all(a["rows"] == ROWS and a["detail"] for a in profile["approximations"])
    sampling = profile["sampling"]
    assert sampling["memory_mb"] == BUDGET_MB
    assert not {"reading", "amount", "customer", "visits"} & set(sampling["in_memory_columns"])
    # reported; 0 here since duplicate rows are grouped by an 8-byte row hash, which fits the engine's 64 MB for
    # 1M rows (spilling is proven by tests/profiling/test_profile_spill.py, whose duplicated rows must be compared)
    assert isinstance(sampling["spilled_bytes"], int) and sampling["spilled_bytes"] >= 0

    # Spill files never outlive the job
    scratch = settings.scratch_dir
    assert not scratch.exists() or not [path for path in scratch.rglob("*") if path.is_file()]

    # Plots are drawn on request from the stored profile, not from the table
    histogram = next(p for p in result["plots"] if p["kind"] == "HISTOGRAM" and p["column"] == "amount")
    response = client.get(histogram["url"])
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")


def test_a_table_that_fits_has_no_approximations(client, token):
    frame = pd.DataFrame({"x": np.arange(500, dtype=float), "y": np.arange(500) % 7, "label": ["a", "b"] * 250})
    dataset = ingest(client, token, frame.to_csv(index=False).encode(), "small.csv")
    started = gql(client, PROFILE, {"id": dataset["id"]}, token)["data"]["profileDataset"]
    assert wait_for_job(client, token, started["job"]["id"])["status"] == "SUCCEEDED"
    profile = gql(client, READ, {"id": dataset["id"]}, token)["data"]["dataset"]["profile"]
    assert profile["approximations"] == []
    assert profile["sampling"]["in_memory_columns"] == ["x", "y", "label"]
